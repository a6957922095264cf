"""`make deploy` on a machine without AWS credentials: `sam build` succeeds, then it stops, saying what to do.

Opt-in (`pytest -m build tests/build`): `sam build` installs the layer with pip, minutes on a busy machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hookrun.template import ROOT

pytestmark = pytest.mark.build


def test_make_deploy_without_credentials_builds_then_stops_with_the_credentials_error(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in {"VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL"}
    }
    env |= {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "eu-west-1",
    }
    result = subprocess.run(["make", "deploy"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Build Succeeded" in output, output
    assert "No AWS credentials" in output and "aws configure" in output, output
    assert "--config-env" not in output  # it never got to `sam deploy --config-env ...`
