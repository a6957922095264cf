"""The run viewer in a real headless browser (Debian's chromium), on the local stack and through `hookrun ui`.

Every test saves a screenshot under its temporary directory. With HOOKRUN_DOCS_SCREENSHOT=1 (`make screenshot`)
the failing run's page is also saved as docs/run-page.png, the README's picture.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, expect

from hookrun.template import ROOT
from tests.e2e.browser import act_as, chromium, screenshot
from tests.e2e.conftest import HOOKRUN, RunningStack, wait_for_run
from tests.e2e.test_sources import send

JSON = {"Content-Type": "application/json"}
ADMIN = {"X-Hookrun-User": "admin"}
SHOW_SECONDS = 60_000  # ms: generous, the machine is shared
UI_READY_SECONDS = 30
RED = "rgb(224, 49, 49)"  # --failed in style.css
DOCS_SCREENSHOT = ROOT / "docs" / "run-page.png"

# a loaded 2-core machine renders slower than Playwright's 5 s default
expect.set_options(timeout=SHOW_SECONDS)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext, tmp_path: Path) -> Iterator[Page]:
    """A new tab; what it shows at the end of the test is saved as final.png."""
    tab = browser.new_page()
    tab.set_default_timeout(SHOW_SECONDS)
    yield tab
    screenshot(tab, tmp_path, "final")
    tab.close()


def trigger(url: str, body: dict[str, Any] | None = None, **headers: str) -> str:
    response = requests.post(url, data=json.dumps(body or {}), headers={**JSON, **headers}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["runId"])


def new_pipeline(
    stack: RunningStack,
    stages: list[dict[str, Any]],
    members: dict[str, str] | None = None,
    enabled_by: str = "admin",
    **more: Any,
) -> tuple[str, str]:
    """A pipeline created by admin (its owner) with `members`, its webhook enabled: its id and webhook URL."""
    pipeline_id = f"ui-{uuid.uuid4().hex[:8]}"
    api = f"{stack.endpoint}/api/pipelines/{pipeline_id}"
    definition = {"name": "UI test", "stages": stages, **more}
    created = requests.put(api, json=definition, headers=ADMIN, timeout=30)
    assert created.status_code == 201, created.text
    for user, role in (members or {}).items():
        granted = requests.put(f"{api}/members/{user}", json={"role": role}, headers=ADMIN, timeout=30)
        assert granted.status_code == 200, granted.text
    enabled = requests.post(f"{api}/webhook/enable", headers={"X-Hookrun-User": enabled_by}, timeout=30)
    assert enabled.status_code == 201, enabled.text
    return pipeline_id, str(enabled.json()["url"])


def test_a_new_run_appears_and_succeeds_without_a_reload(local_stack: RunningStack, page: Page, tmp_path: Path) -> None:
    # Given the demo pipeline's runs page, open as the default user
    page.goto(f"{local_stack.endpoint}/ui/pipelines/demo")
    expect(page.locator("#user")).to_have_value("admin")
    expect(page.locator("table.list tbody tr").first).to_be_visible()
    page.evaluate("window.__notReloaded = true")

    # When the webhook is called with abc=456
    run_id = trigger(local_stack.webhook_url, {"abc": "456"})

    # Then the run appears and turns SUCCEEDED on the same page
    row = page.locator(f"tr[data-run='{run_id}']")
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    expect(row.locator("td[data-label='Trigger']")).to_have_text("webhook")
    expect(row.locator("td[data-label='Run as']")).to_have_text("alice")
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, tmp_path, "runs")

    # And its page shows the job's output
    row.locator("a").click()
    expect(page).to_have_url(re.compile(f"/ui/runs/{run_id}$"))
    expect(page.locator("pre.output")).to_contain_text("abc is 456")
    expect(page.locator(".facts")).to_contain_text("webhook")
    expect(page.locator("table.variables")).to_contain_text("456")
    screenshot(page, tmp_path, "run")


def test_a_failing_job_shows_red_with_its_output_and_exit_code(
    local_stack: RunningStack, page: Page, tmp_path: Path
) -> None:
    # Given a pipeline whose test job prints coloured output and exits 3, next to a job with too much output
    pipeline_id, url = new_pipeline(
        local_stack,
        [
            {
                "name": "build",
                "jobs": [
                    {"name": "compile", "script": [r"printf '\033[1;34m==>\033[0m compiling app\n'", "echo built"]},
                    {"name": "noisy", "script": ["seq 1 20000"]},
                ],
            },
            {
                "name": "test",
                "jobs": [
                    {
                        "name": "unit",
                        "script": [
                            r"printf '\033[32mPASS\033[0m test_defaults\n'",
                            r"printf '\033[31mFAIL\033[0m test_override: expected 456, got 123\n'",
                            "exit 3",
                        ],
                    }
                ],
            },
            {"name": "deploy", "jobs": [{"name": "ship", "script": ["echo shipped"]}]},
        ],
        name="Web app",
        variables={"abc": "123", "API_KEY": {"type": "string", "secret": True, "required": False}},
    )
    run_id = trigger(url, {"abc": "456", "API_KEY": "k-not-shown"}, **{"Idempotency-Key": "deploy-2026-12-03-1"})
    assert wait_for_run(local_stack.endpoint, run_id, user="admin", timeout=120)["status"] == "FAILED"

    # When its page is opened
    act_as(page, "admin")
    page.goto(f"{local_stack.endpoint}/ui/runs/{run_id}")

    # Then the failed job is red, selected, with its output (ANSI colours rendered) and exit code
    expect(page.locator(".run-head .badge")).to_have_text("FAILED")
    unit = page.locator("button.job[data-job='unit']")
    expect(unit).to_have_attribute("data-status", "FAILED")
    assert unit.evaluate("e => getComputedStyle(e).borderLeftColor") == RED
    expect(unit).to_have_attribute("aria-pressed", "true")
    output = page.locator("pre.output")
    expect(output).to_contain_text("test_override: expected 456, got 123")
    assert "\x1b" not in output.inner_text()
    fail_word = output.locator("span", has_text="FAIL")
    assert fail_word.evaluate("e => getComputedStyle(e).color") != output.evaluate("e => getComputedStyle(e).color")
    expect(page.locator(".output-head .exit-code")).to_have_text("exit code 3")
    expect(page.locator(".stage[data-stage='deploy'] .badge")).to_have_text("SKIPPED")
    expect(page.locator("[data-delivery]")).to_have_text("deploy-2026-12-03-1")
    expect(page.locator("table.variables")).to_contain_text("***")
    assert "k-not-shown" not in page.content()
    screenshot(page, tmp_path, "failed-run")
    if os.environ.get("HOOKRUN_DOCS_SCREENSHOT") == "1":
        page.screenshot(path=str(DOCS_SCREENSHOT))

    # And a job whose output was cut shows the marker, its output scrolling
    page.locator("button.job[data-job='noisy']").click()
    expect(page.locator(".cut-marker")).to_contain_text("[hookrun: output cut, the first")
    expect(output).to_contain_text("20000")
    assert output.evaluate("e => e.scrollHeight > e.clientHeight")
    screenshot(page, tmp_path, "cut-output")
    expect(page.locator(".summary a")).to_have_attribute("href", f"/ui/pipelines/{pipeline_id}")


def test_a_viewer_sees_no_cancel_button(local_stack: RunningStack, page: Page, tmp_path: Path) -> None:
    # Given a running run of a pipeline where alice runs and bob views
    _, url = new_pipeline(
        local_stack,
        [{"name": "wait", "jobs": [{"name": "sleep", "script": ["echo waiting", "sleep 20"]}]}],
        members={"alice": "runner", "bob": "viewer"},
    )
    run_id = trigger(url)
    act_as(page, "alice")
    page.goto(f"{local_stack.endpoint}/ui/runs/{run_id}")
    expect(page.locator("button.job[data-job='sleep']")).to_have_attribute("data-status", "RUNNING")
    cancel = page.locator("[data-action='cancel']")
    expect(cancel).to_be_visible()  # a runner sees it

    # When bob is picked as the acting user
    page.fill("#user", "bob")
    page.press("#user", "Enter")

    # Then the run still shows, running, without a cancel (or re-run) button
    expect(page.locator("button.job[data-job='sleep']")).to_have_attribute("data-status", "RUNNING")
    expect(page.locator(".run-head .badge")).to_have_text("RUNNING")
    expect(page.locator(".actions button")).to_have_count(0)
    screenshot(page, tmp_path, "viewer")

    # And alice's cancel either stops the run or says the stack lacks the route
    page.fill("#user", "alice")
    page.press("#user", "Enter")
    page.locator("[data-action='cancel']").click()
    expect(page.locator(".notice, .run-head .badge[data-status='CANCELLED']").first).to_be_visible()
    notice = page.locator(".notice")
    if notice.is_visible():
        expect(notice).to_contain_text(re.compile("Cancel requested|no cancel and re-run routes"))
    wait_for_run(local_stack.endpoint, run_id, timeout=90)  # the session's stack stops only once its jobs end


def test_a_page_the_user_may_not_see_names_the_role_it_needs(local_stack: RunningStack, page: Page) -> None:
    pipeline_id, _ = new_pipeline(local_stack, [{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}])
    act_as(page, "dave")  # no role on it
    page.goto(f"{local_stack.endpoint}/ui/pipelines/{pipeline_id}")
    panel = page.locator(".error-panel")
    expect(panel).to_contain_text("404 PIPELINE_NOT_FOUND")
    expect(panel).to_contain_text("no role on it: seeing it needs a role on the pipeline (viewer, runner or owner)")


def test_a_source_run_shows_its_branch_and_commit_and_its_delivery(
    local_stack: RunningStack, page: Page, tmp_path: Path
) -> None:
    # Given a GitHub push to the demo webhook
    delivery_id = str(uuid.uuid4())
    response = send(local_stack.webhook_url, "source-github-push.json", **{"X-GitHub-Delivery": delivery_id})
    assert response.status_code == 202, response.text
    run = wait_for_run(local_stack.endpoint, response.json()["runId"])
    sha = run["variables"]["HOOKRUN_COMMIT_SHA"][:7]
    act_as(page, "bob")

    # Then its row names the provider, the event, the branch and the short SHA
    page.goto(f"{local_stack.endpoint}/ui/pipelines/demo")
    row = page.locator(f"tr[data-run='{run['runId']}']")
    expect(row.locator("td[data-label='Trigger']")).to_have_text(f"github push master @ {sha}")

    # And the deliveries page has the delivery, its outcome and a link to the run
    page.locator("nav.tabs a", has_text="Deliveries").click()
    delivery = page.locator("tr.delivery-row", has_text=delivery_id)
    expect(delivery).to_have_attribute("data-outcome", "RUN_STARTED")
    screenshot(page, tmp_path, "deliveries")
    delivery.locator("a").click()
    expect(page).to_have_url(re.compile(f"/ui/runs/{run['runId']}$"))
    expect(page.locator("[data-delivery]")).to_have_text(delivery_id)


def test_a_webhook_whose_run_as_user_lost_permission_shows_the_warning_and_remedy(
    local_stack: RunningStack, page: Page, tmp_path: Path
) -> None:
    # Given a webhook enabled by alice, who then loses her role
    pipeline_id, _ = new_pipeline(
        local_stack,
        [{"name": "s", "jobs": [{"name": "j", "script": ["true"]}]}],
        members={"alice": "runner"},
        enabled_by="alice",
    )
    removed = requests.delete(
        f"{local_stack.endpoint}/api/pipelines/{pipeline_id}/members/alice", headers=ADMIN, timeout=30
    )
    assert removed.status_code == 204, removed.text

    # Then the pipelines page warns, naming the user and the remedy
    act_as(page, "admin")
    page.goto(f"{local_stack.endpoint}/ui/")
    card = page.locator(f"article[data-pipeline='{pipeline_id}']")
    warning = card.locator(".warning[data-problem='RUN_AS_LOST_PERMISSION']")
    expect(warning).to_contain_text("runs as alice, who can no longer run this pipeline")
    expect(warning).to_contain_text(f"hookrun webhook disable {pipeline_id}")
    expect(warning).to_contain_text("(runner or owner) enable it again")
    expect(card).to_contain_text("branches *")
    screenshot(page, tmp_path, "lost-permission")


def test_a_deep_link_survives_a_reload_and_shows_no_secret(
    local_stack: RunningStack, page: Page, tmp_path: Path
) -> None:
    # Given a finished run that was given a secret
    secret = f"s3cret-{uuid.uuid4().hex}"
    run_id = trigger(local_stack.webhook_url, {"abc": "deep", "API_KEY": secret})
    wait_for_run(local_stack.endpoint, run_id)
    act_as(page, "bob")

    # When its URL is opened directly, then reloaded
    page.goto(f"{local_stack.endpoint}/ui/runs/{run_id}")
    expect(page.locator("pre.output")).to_contain_text("abc is deep")
    page.reload()

    # Then the same run shows again, its secret masked, and neither secret nor token appears anywhere
    expect(page).to_have_url(re.compile(f"/ui/runs/{run_id}$"))
    expect(page.locator(".run-id")).to_have_text(run_id)
    expect(page.locator("pre.output")).to_contain_text("abc is deep")
    expect(page.locator("table.variables")).to_contain_text("***")
    screenshot(page, tmp_path, "deep-link")

    # And it reads on a phone-width screen: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("pre.output").evaluate("e => e.getBoundingClientRect().right") <= 390
    screenshot(page, tmp_path, "deep-link-phone")
    for path in (f"/ui/runs/{run_id}", "/ui/pipelines/demo/deliveries", "/ui/"):
        page.goto(f"{local_stack.endpoint}{path}")
        expect(page.locator("main")).not_to_contain_text("Loading")
        page.wait_for_load_state("networkidle")
        html = page.content()
        assert secret not in html
        assert local_stack.token not in html


# `hookrun ui`: the same page on its own port, forwarding /api


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hookrun_ui(tmp_path: Path) -> Iterator[Any]:
    """Start `hookrun ui --endpoint URL --port 0`; yields a function that starts one and returns its page URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(endpoint: str) -> str:
        out = tmp_path / f"ui-{len(processes)}.out"
        with out.open("wb") as stdout:
            process = subprocess.Popen(
                [str(HOOKRUN), "ui", "--endpoint", endpoint, "--port", "0"],
                cwd=ROOT,
                stdout=stdout,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        deadline = time.monotonic() + UI_READY_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            for line in out.read_text(errors="replace").splitlines():
                if line.startswith("HOOKRUN_UI_URL="):
                    return line.split("=", 1)[1]
            time.sleep(0.1)
        pytest.fail(f"hookrun ui did not start:\n{out.read_text(errors='replace')}")

    yield start
    for process in processes:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_hookrun_ui_against_the_local_stack_shows_a_run(
    local_stack: RunningStack, hookrun_ui: Any, page: Page, tmp_path: Path
) -> None:
    run_id = trigger(local_stack.webhook_url, {"abc": "via-ui"})
    url = hookrun_ui(local_stack.endpoint)
    assert url.startswith("http://127.0.0.1:")
    act_as(page, "alice")
    page.goto(f"{url}runs/{run_id}")
    expect(page.locator(".run-head .badge")).to_have_text("SUCCEEDED")
    expect(page.locator("pre.output")).to_contain_text("abc is via-ui")
    page.goto(url)
    expect(page.locator("article[data-pipeline='demo']")).to_contain_text("runs as alice")
    screenshot(page, tmp_path, "hookrun-ui")


def test_an_unreachable_api_is_said_and_retried(hookrun_ui: Any, page: Page, tmp_path: Path) -> None:
    url = hookrun_ui(f"http://127.0.0.1:{_free_port()}")
    page.goto(url)
    banner = page.locator("#banner")
    expect(banner).to_contain_text("Cannot reach the hookrun API at http://127.0.0.1:")
    expect(banner).to_contain_text("Retrying")
    expect(banner).to_contain_text("attempt 2")
    screenshot(page, tmp_path, "unreachable")
