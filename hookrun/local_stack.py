"""The local stack: hookrun for real on one machine, without AWS or Docker.

In one process: moto's server (DynamoDB, Step Functions with its interpreter, Lambda, IAM, STS, Secrets Manager,
CodeBuild, CloudWatch Logs); the table, functions, build project and state machine created from template.yaml; a
local API Gateway for the template's `Api` routes, the API's Swagger UI and the run viewer; the state restored from
the data folder (hookrun.local_data), or else the examples loaded and the demo webhook enabled. Lambda invocations
(moto's Lambda API, through hookrun.lambda_bridge, and the API Gateway's) run the real handlers in sandboxes:
worker processes of each function's own, with its own environment (hookrun.sandbox) and its own role's
credentials, with moto enforcing IAM (hookrun.local_iam). Builds run for real (hookrun.local_codebuild, in Docker
only when the job names an image and an engine answers); threads deliver ended executions to the reconciler
(hookrun.local_events), kill the jobs of ended runs (hookrun.local_jobs) and write the data folder every second.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import threading
import zipfile
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import requests
import yaml
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from domain.management import ManagementPorts, apply_pipeline, put_user, set_member
from domain.models import Pipeline, Role, UserStatus
from domain.policy import Caller
from domain.run_control import has_ended
from domain.tokens import hash_token
from domain.webhook_trigger import enable_webhook
from handlers.composition import Container, Settings
from hookrun.local_api import ApiGateway, FunctionFailed, LocalApiServer
from hookrun.local_data import DataFolder, MotoState, Snapshots, State, fail_runs_in_flight
from hookrun.local_events import ExecutionEvents, status_change_event
from hookrun.local_iam import (
    LOCAL_ACCOUNT,
    LocalIam,
    LocalRoles,
    create_local_iam,
    enforce,
    principal_of,
    sign_state_machine_calls_as,
)
from hookrun.local_jobs import EndedRunJobs
from hookrun.sandbox import (
    DEFAULT_CONCURRENCY,
    INVOKE_PATIENCE_SECONDS,
    FunctionPool,
    FunctionSpec,
    Invocation,
    PoolClosed,
    Sandboxes,
)
from hookrun.template import (
    ROOT,
    TEMPLATE_PATH,
    ApiRoute,
    TemplateResolver,
    api_routes,
    create_table,
    execution_rules,
    function_properties,
    load_template,
    local_resources,
    resources_of_type,
    state_machine_definition,
)

REGION = "us-east-1"
ACCOUNT_ID = LOCAL_ACCOUNT  # moto's default account
STACK_NAME = "hookrun-local"
EXAMPLES = ROOT / "examples"
EXAMPLE_PIPELINE = "demo"
EXAMPLE_RUN_AS = "alice"
ADMIN_USER = "admin"
WEBHOOK_FUNCTION = "WebhookFunction"
API_FUNCTION = "ApiFunction"
JOB_RUNNER = "JobRunnerFunction"  # its invocations are tagged with their run: a run that ends kills its jobs
# sandboxes started with the stack, so the first requests do not wait for a cold Python process. The webhook's four:
# with one, a burst of webhooks queued behind it while the others started one at a time (a second of CPU each), and
# the runs already started took the CPU meanwhile and kept it; make bench's load (8 clients) measured p50 ~190 ms and
# p99 330-380 ms that way, and 123-126 ms and 218-234 ms with four warm (as provisioned concurrency does in AWS)
PREWARMED_SANDBOXES = {WEBHOOK_FUNCTION: 4, API_FUNCTION: 1}
# the functions no API route calls (the workflow's) run niced, so runs never take the CPU from webhooks, and wait
# longer before a cold start: a queue of runs is served sooner by the warm sandboxes than by new ones
BACKGROUND: dict[str, Any] = {"nice": 5, "grow_after": 1.0}
# handlers.api.SWAGGER_PATH (a test keeps them equal): importing the handlers here would create their Logger before
# the functions' environment is set
SWAGGER_PATH = "/swagger"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# the function properties that Lambda's CreateFunction takes under the same names
_FUNCTION_SETTINGS = ("Description", "Handler", "Runtime", "Architectures", "Timeout", "MemorySize", "EphemeralStorage")
log = logging.getLogger("local.stack")


class PortUnavailable(Exception):
    """The local API Gateway cannot listen on the requested host and port."""


def aws_client(service: str, endpoint: str, read_timeout: float = 60) -> Any:
    """A boto3 client for the local stack's moto server: fake credentials, no retries (an invoke runs once)."""
    return boto3.client(  # type: ignore[call-overload]  # the stubs type clients per literal service name
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        config=Config(read_timeout=read_timeout, retries={"total_max_attempts": 1}),
    )


def invoke_function(lambda_client: Any, function_name: str, event: Any) -> Any:
    """Invoke a function through moto's Lambda API, so the bridge runs its handler; return the decoded result.

    Raises FunctionFailed with Lambda's `errorType: errorMessage` when the function fails.
    """
    try:
        response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload = response["Payload"].read()
    except (BotoCoreError, ClientError) as exc:
        raise FunctionFailed(f"the invocation failed: {exc}") from exc
    return function_result(payload, response.get("FunctionError"))


def function_result(payload: bytes, function_error: str | None) -> Any:
    """The decoded result of an invocation; FunctionFailed with Lambda's `errorType: errorMessage` if it failed."""
    result = json.loads(payload) if payload else None
    if function_error:
        error = result if isinstance(result, dict) else {}
        raise FunctionFailed(f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}")
    return result


def run_of_job(payload: bytes) -> str | None:
    """The run a job runner's invocation runs a job of (its HOOKRUN_RUN_ID), None for other payloads."""
    try:
        event = json.loads(payload)
        run_id = event["environment"]["HOOKRUN_RUN_ID"]
    except (ValueError, TypeError, KeyError):
        return None
    return run_id if isinstance(run_id, str) else None


def local_only_routes() -> list[ApiRoute]:
    """Routes the local API Gateway serves beyond template.yaml's: the Swagger UI, which is not deployed."""
    return [ApiRoute(API_FUNCTION, SWAGGER_PATH, "GET")]


def seed_examples(ports: ManagementPorts, examples: Path = EXAMPLES) -> None:
    """Load `examples/` through the management use cases, as admin: the users, the pipelines, the roles."""
    admin = Caller(ADMIN_USER, is_admin=True)
    users = yaml.safe_load((examples / "users.yaml").read_text(encoding="utf-8"))["users"]
    for user in users:
        put_user(ports, admin, user["id"], UserStatus(user.get("status", "active")), None)
    for path in sorted(examples.glob("*.pipeline.yaml")):
        apply_pipeline(ports, admin, Pipeline.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))))
    for user in users:
        for pipeline_id, role in user.get("roles", {}).items():
            set_member(ports, admin, pipeline_id, user["id"], Role(role))


def enable_example_webhook(ports: ManagementPorts) -> str:
    """Enable the demo webhook as alice, as she would herself; the token is shown once and kept only as a hash."""
    token = enable_webhook(ports, Caller(EXAMPLE_RUN_AS), EXAMPLE_PIPELINE).token
    if token is None:
        raise RuntimeError(f"the {EXAMPLE_PIPELINE} webhook was enabled before; the local stack starts empty")
    return token


def serialize_execution_starts() -> None:
    """Make moto's StartExecution atomic, as AWS's is: one execution per name, however many callers race.

    moto checks for an existing name and then creates the execution without a lock, so concurrent starts
    with one name could make two runs; AWS never does.
    """
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution
    if getattr(original, "_hookrun_serialized", False):
        return
    lock = threading.Lock()

    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    start_execution._hookrun_serialized = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def stop_executions_at_once() -> None:
    """Make moto's StopExecution end the execution ABORTED at once, as AWS's does.

    moto marks it only when its running tasks have returned (a job may sleep for minutes), and its Map states then
    fail on the abort, so the execution would end FAILED. What the interpreter does after a stop is discarded.
    """
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_stop = Execution.stop
    if getattr(original_stop, "_hookrun_at_once", False):
        return
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status, self.stop_date = ExecutionStatus.ABORTED, stop_date

    def reflect(self: Any) -> None:
        if self.execution.exec_status != ExecutionStatus.ABORTED:
            original_reflect(self)  # type: ignore[no-untyped-call]

    stop._hookrun_at_once = True  # type: ignore[attr-defined]
    Execution.stop = stop  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect  # type: ignore[method-assign]


def serialize_table_writes() -> None:
    """Make moto's DynamoDB writes atomic, as AWS's are: a condition is checked and its write made as one step.

    moto checks a write's condition (a transaction's: every item's) and then writes without a lock, so two
    conditional writes racing on one item could both pass, and a cancelled transaction restores a copy of the
    whole table taken before it, undoing writes made meanwhile.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_hookrun_serialized", False):
            continue

        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        serialized._hookrun_serialized = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialized)


def with_functions_of(template: dict[str, Any], path: Path) -> dict[str, Any]:
    """template.yaml with the functions of another SAM template beside its own (their CodeUri is relative to it).

    Only the local stack takes them: tests add functions that read what a sandbox sees (`hookrun dev --functions`).
    """
    extra = copy.deepcopy(resources_of_type(load_template(path), "AWS::Serverless::Function"))
    for resource in extra.values():
        properties = resource.setdefault("Properties", {})
        properties["CodeUri"] = str(path.resolve().parent / properties.get("CodeUri", "."))
    return {**template, "Resources": {**template["Resources"], **extra}}


def _dummy_code() -> bytes:
    """A zip for create_function: the bridge imports handlers from src/, so the code is never read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "hookrun local stack: handlers are imported from src/\n")
    return buffer.getvalue()


class LocalStack:
    """hookrun on one machine: moto, the resources of template.yaml, the real handlers, a local API Gateway."""

    def __init__(
        self,
        port: int = 3000,
        host: str = "127.0.0.1",
        moto_port: int | None = None,
        data: DataFolder | None = None,
        *,
        template: Path = TEMPLATE_PATH,
        more_functions: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.endpoint = ""
        self.moto_endpoint = ""
        self.webhook_token = ""
        self.restored = False  # the state came from the data folder (the webhook URL is the one shown before)
        self.runs_stopped = 0  # runs in flight when the stack last stopped, recorded FAILED at this start
        self._data = data
        self._snapshots: Snapshots | None = None
        self._moto_reader: MotoState | None = None
        self._moto_port = moto_port or 0
        self._template_path = template
        base = load_template(template)
        self._template = with_functions_of(base, more_functions) if more_functions else base
        self._resources = local_resources(self._template, STACK_NAME, REGION, ACCOUNT_ID)
        admins = {"AdminPrincipals": [principal_of(ADMIN_USER)]}  # the local `admin` is an admin as on AWS
        self._resolver = TemplateResolver(
            self._template, self._resources, REGION, ACCOUNT_ID, STACK_NAME, parameters=admins
        )
        self._functions = function_properties(self._template)
        self._api_functions = {route.function for route in api_routes(self._template)}
        self.function_names = {logical_id: self._resources[logical_id].ref for logical_id in self._functions}
        (table_id,) = resources_of_type(self._template, "AWS::DynamoDB::Table")
        (state_machine_id,) = resources_of_type(self._template, "AWS::Serverless::StateMachine")
        self.table_name = self._resources[table_id].ref
        self._state_machine_id = state_machine_id
        self.state_machine_arn = self._resources[state_machine_id].ref
        self._moto: Any = None
        self._api: LocalApiServer | None = None
        self._events: ExecutionEvents | None = None
        self._jobs: EndedRunJobs | None = None
        self._sandboxes: Sandboxes | None = None
        self._roles = LocalRoles(role_arns={}, credentials={})

    @property
    def swagger_url(self) -> str:
        """The API's Swagger UI, which the API function serves on the local stack only."""
        return self.endpoint + SWAGGER_PATH

    @property
    def webhook_url(self) -> str:
        """The demo pipeline's webhook URL on the local API Gateway."""
        (webhook,) = (r for r in api_routes(self._template) if r.function == WEBHOOK_FUNCTION and "{token}" in r.path)
        return self.endpoint + webhook.path.replace("{token}", self.webhook_token)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything; on any failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        # imported here: moto is heavy, and `hookrun invoke` uses this module's clients without it
        from moto.server import ThreadedMotoServer

        from hookrun import lambda_bridge, local_codebuild, moto_memory, moto_speed
        from hookrun.job_gate import refusing_jobs

        # the data folder first: it is the user's, and a corrupt one must fail before anything starts
        state = self._data.open() if self._data else None
        # bind the API port next: a port in use is the likeliest failure and should be the cheapest
        iam = LocalIam(lambda: aws_client("dynamodb", self.moto_endpoint), self.table_name)
        routes = [*api_routes(self._template), *local_only_routes()]
        gateway = ApiGateway(routes, self._invoke, self.local_info, signer=iam.user_arn)
        try:
            self._api = LocalApiServer(gateway, self.host, self.port)
        except OSError as exc:
            raise PortUnavailable(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self.port = self._api.port
        self.endpoint = f"http://{self.host}:{self.port}"

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log would drown the API's
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self._moto_port, verbose=False)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        self._moto._server.verify_request = refusing_jobs(moto_port)
        self.moto_endpoint = f"http://{moto_host}:{moto_port}"
        self._point_aws_at_moto(moto_port)
        self._configure_moto()
        local_codebuild.install()
        serialize_execution_starts()
        stop_executions_at_once()
        serialize_table_writes()
        moto_speed.install()
        moto_memory.install()

        self._create_resources()
        enforce(self.moto_endpoint)  # from here on, every call to moto signs as a principal with a policy
        self._sandboxes = Sandboxes(self._function_specs(), REGION, self.moto_endpoint, self._role_credentials)
        lambda_bridge.install(self._serve_invocation)
        self._sandboxes.prewarm({self.function_names[logical_id]: n for logical_id, n in PREWARMED_SANDBOXES.items()})
        if state is not None:
            self._moto_state().restore(state)  # before the examples: a restored stack is not seeded again
        self._seed(state)
        self._events = ExecutionEvents(
            lambda: self._moto_state().executions(),
            execution_rules(self._template),
            self._invoke,
            lambda execution: status_change_event(execution, self.state_machine_arn, REGION, ACCOUNT_ID),
        )
        self._events.start()
        self._jobs = self._ended_run_jobs(self._sandboxes.pools[self.function_names[JOB_RUNNER]])
        self._jobs.start()
        if self._data is not None:
            self._snapshots = Snapshots(self._data, lambda: self._moto_state().snapshot(self.webhook_token))
            self._snapshots.start()
        moto_memory.settle_heap()
        self._api.serve_in_background()
        log.info("local stack up: API %s, moto %s", self.endpoint, self.moto_endpoint)

    def stop(self) -> None:
        """Stop the local API Gateway, write the state to the data folder a last time, stop the moto server."""
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._events is not None:
            self._events.stop()
            self._events = None
        if self._jobs is not None:
            self._jobs.stop()
            self._jobs = None
        if self._snapshots is not None:
            self._snapshots.stop()
            self._snapshots = None
        if self._sandboxes is not None:
            self._sandboxes.close()  # after the last snapshot: the runs it ends are in flight, not failed
            self._sandboxes = None
        if self._moto_reader is not None:
            self._moto_reader.close()
            self._moto_reader = None
        if self._data is not None:
            self._data.close()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def local_info(self) -> dict[str, Any]:
        """What `GET /_hookrun/local` answers: where moto is and what the resources are called there."""
        return {
            "endpoint": self.endpoint,
            "motoEndpoint": self.moto_endpoint,
            "region": REGION,
            "tableName": self.table_name,
            "stateMachineArn": self.state_machine_arn,
            "functions": self.function_names,
        }

    def _point_aws_at_moto(self, moto_port: int) -> None:
        """Every boto3 client of this process (the handlers' included) talks to moto, never to AWS."""
        for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")]:
            del os.environ[name]
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        # a proxy from the environment must not carry calls to moto (and to http://localhost:$MOTO_PORT)
        no_proxy = ",".join(
            filter(None, [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "127.0.0.1,localhost"])
        )
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = no_proxy
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.moto_endpoint,
                # moto's Step Functions interpreter calls Lambda at http://localhost:$MOTO_PORT
                "MOTO_PORT": str(moto_port),
            }
        )

    def _configure_moto(self) -> None:
        """Run state machines for real and Lambda without Docker, through moto's own configuration API."""
        from moto.core.config import default_user_config

        response = requests.post(f"{self.moto_endpoint}/moto-api/config", json=MOTO_CONFIG, timeout=10)
        response.raise_for_status()
        applied = {service: default_user_config.get(service) for service in MOTO_CONFIG}
        if applied != MOTO_CONFIG:
            raise RuntimeError(f"moto did not take its configuration: {applied}")

    def _create_resources(self) -> None:
        create_table(aws_client("dynamodb", self.moto_endpoint), self.table_name, self._template)
        self._roles = roles = create_local_iam(
            aws_client("iam", self.moto_endpoint),
            aws_client("sts", self.moto_endpoint),
            stack_name=STACK_NAME,
            region=REGION,
            account_id=ACCOUNT_ID,
            template=self._template,
        )
        sign_state_machine_calls_as(roles.credentials[self._state_machine_id])
        lambda_client = aws_client("lambda", self.moto_endpoint)
        code = _dummy_code()
        for logical_id, properties in self._functions.items():
            settings = {key: self._resolver.resolve(properties[key]) for key in _FUNCTION_SETTINGS if key in properties}
            lambda_client.create_function(
                FunctionName=self.function_names[logical_id],
                Role=roles.role_arns[logical_id],
                Code={"ZipFile": code},
                Environment={"Variables": self._variables(logical_id)},
                **settings,
            )
        self._create_build_projects(roles.role_arns)
        state_machine = self._template["Resources"][self._state_machine_id]["Properties"]
        substitutions = self._resolver.resolve(state_machine.get("DefinitionSubstitutions", {}))
        aws_client("stepfunctions", self.moto_endpoint).create_state_machine(
            name=self._resources[self._state_machine_id].attributes["Name"],
            definition=state_machine_definition(substitutions, self._template, self._template_path.parent),
            roleArn=roles.role_arns[self._state_machine_id],
            type=state_machine.get("Type", "STANDARD"),
        )

    def _create_build_projects(self, role_arns: dict[str, str]) -> None:
        """The CodeBuild projects of template.yaml in moto's CodeBuild, with their log groups, for local builds."""
        codebuild = aws_client("codebuild", self.moto_endpoint)
        for logical_id, resource in resources_of_type(self._template, "AWS::CodeBuild::Project").items():
            properties = self._resolver.resolve(resource["Properties"])
            logs = properties.get("LogsConfig", {}).get("CloudWatchLogs", {})
            codebuild.create_project(
                name=self._resources[logical_id].ref,
                source={
                    "type": properties["Source"]["Type"],
                    "buildspec": properties["Source"].get("BuildSpec", ""),
                    "location": "-",  # moto asks a location even of NO_SOURCE, AWS does not
                },
                artifacts={"type": properties["Artifacts"]["Type"]},
                environment={
                    "type": properties["Environment"]["Type"],
                    "image": properties["Environment"]["Image"],
                    "computeType": properties["Environment"]["ComputeType"],
                    "privilegedMode": properties["Environment"].get("PrivilegedMode", False),
                },
                serviceRole=role_arns[logical_id],
                timeoutInMinutes=properties.get("TimeoutInMinutes", 60),
                logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": logs["GroupName"]}} if logs else {},
            )

    def _variables(self, logical_id: str) -> dict[str, str]:
        variables = self._functions[logical_id].get("Environment", {}).get("Variables", {})
        return {name: str(value) for name, value in self._resolver.resolve(variables).items()}

    def _function_specs(self) -> list[FunctionSpec]:
        """What each function's sandboxes run, from template.yaml (CodeUri, Handler, Timeout, MemorySize, ...)."""
        specs = []
        for logical_id, properties in self._functions.items():
            settings = self._resolver.resolve(properties)
            specs.append(
                FunctionSpec(
                    name=self.function_names[logical_id],
                    handler=settings["Handler"],
                    code_root=self._template_path.parent / settings.get("CodeUri", "."),
                    arn=self._resources[logical_id].attributes["Arn"],
                    timeout=float(settings.get("Timeout", 3)),
                    memory_size=int(settings.get("MemorySize", 128)),
                    concurrency=int(settings.get("ReservedConcurrentExecutions", DEFAULT_CONCURRENCY)),
                    variables=self._variables(logical_id),
                    **({} if logical_id in self._api_functions else BACKGROUND),
                )
            )
        return specs

    def _role_credentials(self, spec: FunctionSpec) -> dict[str, str]:
        """A sandbox's credentials, as Lambda gives them: those of its function's role."""
        (logical_id,) = (logical_id for logical_id, name in self.function_names.items() if name == spec.name)
        return self._roles.credentials[logical_id].environment()

    def _serve_invocation(self, function: Any, body: Any, response_headers: dict[str, str]) -> bytes:
        """moto's Lambda Invoke, answered by the function's sandboxes (hookrun.lambda_bridge calls it)."""
        payload = body.encode() if isinstance(body, str) else body or b""
        answer = self._run(function.function_name, payload, run_of_job(payload), INVOKE_PATIENCE_SECONDS)
        if answer.function_error:
            response_headers["x-amz-function-error"] = answer.function_error
        return answer.payload

    def _run(
        self, function_name: str, payload: bytes, tag: str | None = None, patience: float | None = None
    ) -> Invocation:
        sandboxes = self._sandboxes
        if sandboxes is None or function_name not in sandboxes.pools:
            return Invocation.failed("Runtime.Unavailable", f"the local stack does not run {function_name} now")
        try:
            return sandboxes.invoke(function_name, payload, tag, patience)  # Throttled past `patience`: a 429
        except PoolClosed:
            return Invocation.failed("Runtime.Unavailable", "the local stack is stopping")

    def _seed(self, restored: State | None) -> None:
        # wired as the API function wires itself (AWS points at moto by now)
        wiring = Container(Settings.from_environment(self._variables(API_FUNCTION)))
        if restored is None:
            seed_examples(wiring.management_ports)
            self.webhook_token = enable_example_webhook(wiring.management_ports)
            return
        self.restored = True
        # the demo URL of the last start, unless it was rotated or its pipeline deleted since
        trigger = wiring.trigger_ports.triggers.get_trigger(hash_token(restored.webhookToken))
        self.webhook_token = restored.webhookToken if trigger and trigger.pipeline_id == EXAMPLE_PIPELINE else ""
        self.runs_stopped = fail_runs_in_flight(wiring.workflow_ports, restored, self.table_name)

    def _ended_run_jobs(self, job_runner: FunctionPool) -> EndedRunJobs:
        """Kills the job runner's sandboxes serving runs that ended, as the job status function stops waiting."""
        runs = Container(Settings.from_environment(self._variables(API_FUNCTION))).runs  # wired as the seeding is
        return EndedRunJobs(job_runner.tags, partial(has_ended, runs), job_runner.kill)

    def _moto_state(self) -> MotoState:
        """The one reader of moto's state: it remembers the items it read, so each snapshot reads only the new."""
        if self._moto_reader is None:
            self._moto_reader = MotoState(ACCOUNT_ID, REGION, [self.table_name], self.state_machine_arn)
        return self._moto_reader

    def _invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """The API Gateway's invocation: straight to the function's sandboxes, as API Gateway calls Lambda."""
        answer = self._run(self.function_names[logical_id], json.dumps(event).encode())
        return function_result(answer.payload, answer.function_error)
