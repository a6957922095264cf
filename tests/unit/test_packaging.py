"""Installing hookrun: the wheel holds the CLI only, and `hookrun dev` outside a checkout says what it needs."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookrun import template
from hookrun.cli import app
from hookrun.template import ROOT, checkout_problem


def uv() -> str:
    found = ROOT / ".tools" / "bin" / "uv"
    return str(found) if found.exists() else shutil.which("uv") or "uv"


def test_the_wheel_holds_only_the_hookrun_package(tmp_path: Path) -> None:
    subprocess.run([uv(), "build", "--wheel", "-o", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("hookrun-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/", 1)[0] for name in archive.namelist()}
    assert top_level == {"hookrun", wheel.name.removesuffix("-py3-none-any.whl") + ".dist-info"}


def test_a_checkout_has_what_the_local_stack_needs() -> None:
    assert checkout_problem() is None


def test_hookrun_dev_outside_a_checkout_says_what_it_needs_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(template, "checkout_problem", lambda: checkout_problem(tmp_path))
    result = CliRunner().invoke(app, ["dev", "--port", "0", "--data", str(tmp_path / "data")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit | None)
    assert "template.yaml" in result.stderr and "make run" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "data").exists()
