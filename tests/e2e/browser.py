"""A real headless browser for the run viewer's tests: Debian's chromium, driven by Playwright (never its downloads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[BrowserContext]:
    """A browser context of /usr/bin/chromium with its own, new profile directory."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (apt-get install chromium)."
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        try:
            yield context
        finally:
            context.close()


def act_as(page: Page, user: str) -> None:
    """Every page load of `page` starts as `user`, as if picked on the page before."""
    page.add_init_script(f"localStorage.setItem('hookrun.user', {json.dumps(user)})")


def screenshot(page: Page, directory: Path, name: str) -> Path:
    """Save what the page shows now as `<directory>/<name>.png`."""
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
