"""`make deploy`'s check between `sam build` and `sam deploy`: credentials, a region, guided or saved answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hookrun.deploy import SAMCONFIG, DeployBlocked, check_aws, deploy_options, main, saved_answers

GUIDED_ANSWERS = """
[default.deploy.parameters]
stack_name = "hookrun"
parameter_overrides = "LogLevel=\\"INFO\\" AdminPrincipals=\\"arn:aws:iam::123456789012:role/Admin\\""
"""


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in [name for name in os.environ if name.startswith("AWS_CONTAINER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_the_committed_samconfig_has_no_saved_answers_so_the_first_deploy_is_guided() -> None:
    assert deploy_options("default") == ["--guided", "--config-env", "default"]


def test_the_committed_samconfig_pins_no_region() -> None:
    assert "region =" not in SAMCONFIG.read_text(encoding="utf-8")


def test_once_guided_answers_are_saved_the_config_env_alone_deploys(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text(GUIDED_ANSWERS, encoding="utf-8")
    assert saved_answers("default", samconfig) and not saved_answers("prod", samconfig)
    assert deploy_options("default", samconfig) == ["--config-env", "default"]


@pytest.mark.usefixtures("no_credentials")
def test_without_credentials_it_says_how_to_configure_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DeployBlocked, match="No AWS credentials"):
        check_aws("default")
    assert main(["deploy", "dev"]) == 1
    assert "aws configure" in capsys.readouterr().err


def test_without_a_region_it_says_how_to_set_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DeployBlocked, match="No AWS region"):
        check_aws("default")


def test_with_credentials_and_a_region_it_prints_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy"]) == 0
    assert capsys.readouterr().out.strip() == "--guided --config-env default"
