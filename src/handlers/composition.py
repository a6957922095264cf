"""The composition root: which adapter serves which port. Built lazily on first use; tests override it."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # each function imports only the use cases it runs: the webhook's cold start pays for no other
    from adapters.deliveries import DynamoDeliveryLog
    from adapters.dynamodb import DynamoAccessReader
    from adapters.management import DynamoManagement
    from adapters.run_slots import DynamoRunSlots
    from adapters.runs import DynamoRuns
    from adapters.secrets import SecretsManagerSigningSecretStore
    from domain.management import ManagementPorts
    from domain.run_control import RunControlPorts
    from domain.run_reads import RunReadPorts
    from domain.trigger_pipeline import TriggerPorts
    from domain.workflow import WorkflowPorts


# every client the Container makes
AWS_SERVICES = ("dynamodb", "secretsmanager", "stepfunctions", "codebuild", "logs", "lambda")
JOB_RUNNER_READ_TIMEOUT_SECONDS = 910  # the job runner answers within its 900 s function timeout


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """Time-ordered and unguessable: 13 hex digits of milliseconds, then 16 random hex digits."""
    return f"run-{int(time.time() * 1000):013x}{secrets.token_hex(8)}"


class MissingSetting(RuntimeError):
    """A variable template.yaml gives the function is missing or empty: the function cannot serve at all."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not set in this function's environment; template.yaml gives it.")


@dataclass(frozen=True)
class Settings:
    """What template.yaml tells a function through its environment, read once, at its first invocation."""

    table_name: str
    state_machine_arn: str | None = None  # the webhook and API functions: the run workflow
    secret_prefix: str = ""  # where the API function keeps webhook signing secrets: hookrun/<stack>/
    admin_principals: frozenset[str] = frozenset()  # the stack's AdminPrincipals
    job_runner_function: str = ""  # the function that runs lambda jobs' scripts (job status function only)
    max_running_runs: int = 1000  # the stack's MaxRunningRunsPerPipeline: no pipeline runs more at once

    def __post_init__(self) -> None:
        if not self.table_name:
            raise MissingSetting("TABLE_NAME")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            table_name=environ.get("TABLE_NAME", ""),
            state_machine_arn=environ.get("STATE_MACHINE_ARN") or None,
            secret_prefix=environ.get("SECRET_PREFIX", ""),
            admin_principals=frozenset(
                filter(None, (a.strip() for a in environ.get("ADMIN_PRINCIPALS", "").split(",")))
            ),
            job_runner_function=environ.get("JOB_RUNNER_FUNCTION", ""),
            max_running_runs=int(environ.get("MAX_RUNNING_RUNS") or 1000),
        )

    def workflow_arn(self) -> str:
        """The run workflow's ARN, for the functions that start or read its executions."""
        if not self.state_machine_arn:
            raise MissingSetting("STATE_MACHINE_ARN")
        return self.state_machine_arn


class Container:
    """Everything the handlers need, wired to AWS."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def admin_principals(self) -> frozenset[str]:
        """The principals that administer hookrun (the stack's AdminPrincipals)."""
        return self.settings.admin_principals

    @cached_property
    def _session(self) -> Any:
        # botocore rather than boto3: boto3's own imports (s3transfer, resources) add ~80 ms to every cold start
        import botocore.session

        session = botocore.session.get_session()
        session.register_component("data_loader", _data_loader(session.get_config_variable("data_path")))
        return session

    def _client(self, service: str) -> Any:
        from botocore.config import Config

        return self._session.create_client(service, config=Config(retries={"mode": "standard", "max_attempts": 2}))

    @cached_property
    def _dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def _stepfunctions(self) -> Any:
        return self._client("stepfunctions")

    @cached_property
    def _secretsmanager(self) -> Any:
        return self._client("secretsmanager")

    @cached_property
    def _codebuild(self) -> Any:
        return self._client("codebuild")

    @cached_property
    def _logs(self) -> Any:
        return self._client("logs")

    @cached_property
    def _job_runner_client(self) -> Any:
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1}, read_timeout=JOB_RUNNER_READ_TIMEOUT_SECONDS)
        return self._session.create_client("lambda", config=config)

    @cached_property
    def runs(self) -> DynamoRuns:
        from adapters.runs import DynamoRuns

        return DynamoRuns(self._dynamodb, self.settings.table_name)

    @cached_property
    def run_slots(self) -> DynamoRunSlots:
        from adapters.run_slots import DynamoRunSlots

        return DynamoRunSlots(self._dynamodb, self.settings.table_name)

    @cached_property
    def access(self) -> DynamoAccessReader:
        from adapters.dynamodb import DynamoAccessReader

        return DynamoAccessReader(self._dynamodb, self.settings.table_name)

    @cached_property
    def run_read_ports(self) -> RunReadPorts:
        from adapters.stepfunctions import StepFunctionsAcceptedRuns
        from domain.run_reads import RunReadPorts

        accepted = StepFunctionsAcceptedRuns(
            _Deferred(lambda: self._stepfunctions),  # type: ignore[arg-type]  # an SFNClient on first use
            self.settings.workflow_arn(),
        )
        return RunReadPorts(runs=self.runs, access=self.access, users=self.management, accepted=accepted)

    @cached_property
    def management(self) -> DynamoManagement:
        from adapters.management import DynamoManagement

        return DynamoManagement(self._dynamodb, self.settings.table_name)

    @cached_property
    def signing_secret_store(self) -> SecretsManagerSigningSecretStore:
        from adapters.secrets import SecretsManagerSigningSecretStore

        return SecretsManagerSigningSecretStore(_Deferred(lambda: self._secretsmanager), self.settings.secret_prefix)

    @cached_property
    def management_ports(self) -> ManagementPorts:
        from adapters.builds import SecretsManagerSourceCredentials
        from domain.management import ManagementPorts

        return ManagementPorts(
            store=self.management,
            signing_secrets=self.signing_secret_store,
            deliveries=self.deliveries,
            now=utc_now,
            random_bytes=secrets.token_bytes,
            source_credentials=SecretsManagerSourceCredentials(
                _Deferred(lambda: self._secretsmanager), self.settings.secret_prefix
            ),
        )

    @cached_property
    def deliveries(self) -> DynamoDeliveryLog:
        from adapters.deliveries import DynamoDeliveryLog

        return DynamoDeliveryLog(self._dynamodb, self.settings.table_name, time.time)

    @cached_property
    def workflow_ports(self) -> WorkflowPorts:
        from adapters.builds import CodeBuildReader, SecretsManagerBuildSecrets, SecretsManagerSourceCredentials
        from adapters.dynamodb import DynamoRunSecrets
        from adapters.groups import DynamoGroups
        from adapters.job_runner import LambdaScriptExecutor
        from domain.workflow import BuildPorts, WorkflowPorts

        secrets = _Deferred(lambda: self._secretsmanager)
        kept = DynamoRunSecrets(self._dynamodb, self.settings.table_name, time.time)  # run requests, secrets
        return WorkflowPorts(
            runs=self.runs,
            secrets=kept,
            requests=kept,
            executor=LambdaScriptExecutor(
                # no retries: a second invocation would run the script twice
                _Deferred(lambda: self._job_runner_client),
                self.settings.job_runner_function,
            ),
            deliveries=self.deliveries,
            groups=DynamoGroups(self._dynamodb, self.settings.table_name),
            slots=self.run_slots,
            now=utc_now,
            builds=BuildPorts(
                secrets=SecretsManagerBuildSecrets(secrets, self.settings.secret_prefix),
                builds=CodeBuildReader(_Deferred(lambda: self._codebuild), _Deferred(lambda: self._logs)),
                source_credentials=SecretsManagerSourceCredentials(secrets, self.settings.secret_prefix),
            ),
        )

    @cached_property
    def run_control_ports(self) -> RunControlPorts:
        from adapters.dynamodb import DynamoRunSecrets
        from adapters.stepfunctions import StepFunctionsExecutions, StepFunctionsRunStarter
        from domain.run_control import RunControlPorts

        kept = DynamoRunSecrets(self._dynamodb, self.settings.table_name, time.time)  # run requests, secrets
        return RunControlPorts(
            runs=self.runs,
            access=self.access,
            executions=StepFunctionsExecutions(self._stepfunctions, self.settings.workflow_arn()),
            starter=StepFunctionsRunStarter(self._stepfunctions, self.settings.workflow_arn(), kept),
            secrets=kept,
            users=self.management,
            now=utc_now,
            new_run_id=new_run_id,
            slots=self.run_slots,
            stack_run_limit=self.settings.max_running_runs,
        )

    @cached_property
    def trigger_ports(self) -> TriggerPorts:
        from adapters.dynamodb import DynamoRunSecrets, DynamoTriggerReader
        from adapters.secrets import SecretsManagerSigningSecrets
        from adapters.stepfunctions import StepFunctionsRunStarter
        from domain.trigger_pipeline import TriggerPorts

        table, workflow = self.settings.table_name, self.settings.workflow_arn()
        kept = DynamoRunSecrets(self._dynamodb, table, time.time)  # run requests and secrets
        return TriggerPorts(
            triggers=DynamoTriggerReader(self._dynamodb, table),
            access=self.access,
            secrets=kept,
            # made at the first StartExecution: a rejected delivery never needs it
            runs=StepFunctionsRunStarter(
                _Deferred(lambda: self._stepfunctions),  # type: ignore[arg-type]  # an SFNClient on first use
                workflow,
                kept,
            ),
            deliveries=self.deliveries,
            signing_secrets=SecretsManagerSigningSecrets(),
            now=utc_now,
            epoch_ms=lambda: time.time_ns() // 1_000_000,
            new_run_id=new_run_id,
            slots=self.run_slots,
            run_statuses=self.runs,
            stack_run_limit=self.settings.max_running_runs,
        )


def _data_loader(data_path: str | None) -> Any:
    """botocore's loader of its data files, cheaper at a cold start and loading the same models.

    botocore checks that a service exists by listing every service folder it has (~400, each stat'ed), and parses
    its JSON into OrderedDicts (2.5x slower than into dicts, which keep order too): together about a third of the
    first client's cost. This loader knows the services the Container calls, and parses into dicts.
    """
    import json
    import os

    from botocore.loaders import JSONFileLoader, create_loader

    class PlainJsonFileLoader(JSONFileLoader):
        def _load_file(self, full_path: str, open_method: Any) -> Any:
            if not os.path.isfile(full_path):
                return None
            with open_method(full_path, "rb") as handle:
                return json.loads(handle.read().decode("utf-8"))

    loader = create_loader(data_path)
    loader.file_loader = PlainJsonFileLoader()
    loader.list_available_services = lambda type_name: list(AWS_SERVICES)  # type: ignore[method-assign]
    return loader


class _Deferred:
    """A client made on its first use: most API calls never touch Secrets Manager, so they never pay for its client."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def __getattr__(self, name: str) -> Any:
        return getattr(self._make(), name)


_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        _container = Container(Settings.from_environment())
    return _container


def use_container(replacement: Container | None) -> None:
    """Swap the wiring (tests, the local stack); None rebuilds it from the environment on next use."""
    global _container
    _container = replacement
