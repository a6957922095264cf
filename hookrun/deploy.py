"""What `make deploy` checks between `sam build` and `sam deploy`: AWS credentials and a region, and whether this
config env was deployed with its answers saved (then `--config-env` alone) or is deployed the first time (guided).

`python -m hookrun.deploy CONFIG_ENV` prints the `sam deploy` options to use, or says what is missing and exits 1.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from hookrun.template import ROOT

SAMCONFIG = ROOT / "samconfig.toml"
EXIT_MISSING = 1


class DeployBlocked(Exception):
    """Something `sam deploy` needs is missing; the message says how to get it."""


def saved_answers(config_env: str, samconfig: Path = SAMCONFIG) -> bool:
    """True once `sam deploy --guided` saved this env's answers (its parameter overrides name AdminPrincipals)."""
    try:
        config = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    overrides = config.get(config_env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    text = " ".join(overrides) if isinstance(overrides, list) else str(overrides)
    return "AdminPrincipals=" in text


def check_aws(config_env: str) -> None:
    """Raise DeployBlocked unless botocore finds credentials and a region, as `sam deploy` will look for them."""
    from botocore.exceptions import BotoCoreError
    from botocore.session import get_session

    session = get_session()
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise DeployBlocked(f"AWS credentials cannot be read: {exc}") from exc
    if credentials is None:
        raise DeployBlocked(
            "No AWS credentials: `sam deploy` has none to deploy with. Configure them (`aws configure`, "
            "`aws sso login --profile NAME` with AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
            f"then run `make deploy CONFIG_ENV={config_env}` again; the build in .aws-sam/ is kept."
        )
    if not session.get_config_variable("region"):
        raise DeployBlocked(
            "No AWS region: hookrun deploys to your default region. Set one (`aws configure set region eu-west-1`, "
            f"or AWS_REGION), then run `make deploy CONFIG_ENV={config_env}` again."
        )


def deploy_options(config_env: str, samconfig: Path = SAMCONFIG) -> list[str]:
    """The options of `sam deploy`: guided the first time (its answers are saved), then the config env alone."""
    guided = [] if saved_answers(config_env, samconfig) else ["--guided"]
    return [*guided, "--config-env", config_env]


def main(argv: list[str]) -> int:
    config_env = argv[1] if len(argv) > 1 else "default"
    try:
        check_aws(config_env)
    except DeployBlocked as exc:
        print(f"make deploy: {exc}", file=sys.stderr)
        return EXIT_MISSING
    print(" ".join(deploy_options(config_env)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
