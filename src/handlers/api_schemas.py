"""The management API's bodies at the edge, in camelCase: what requests carry, what answers hold, and their docs.

Request bodies are parsed by hand (strict JSON, our error codes), so their OpenAPI entries are built here from the
same pydantic models; answers are built from the models the OpenAPI schema names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Self

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field, ValidationError, field_validator

from domain.deliveries import Delivery, Outcome
from domain.errors import VariableProblem
from domain.management import WebhookState
from domain.models import AuditEntry, Grant, Model, Pipeline, Role, User, UserStatus
from domain.ports import StoredPipeline
from domain.variables import SECRET_MASK
from domain.webhook_trigger import MAX_SECRET_LENGTH, MIN_SECRET_LENGTH

from .http import DEFAULT_LIMIT, MAX_LIMIT

MAX_BODY_BYTES = 256 * 1024
MAX_PRINCIPALS = 20
PRINCIPAL_ARN = r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]{1,1900}$"

PipelineId = Annotated[str, Path(alias="pipelineId", description="The pipeline's id, e.g. demo.")]
UserId = Annotated[str, Path(alias="userId", description="A hookrun user's id, e.g. alice.")]
RunId = Annotated[str, Path(alias="runId", description="A run's id, e.g. run-001...; the webhook's answer names it.")]
PageLimit = Annotated[
    str | None, Query(description=f"How many per page, 1 to {MAX_LIMIT}; {DEFAULT_LIMIT} if left out.")
]
PageCursor = Annotated[str | None, Query(description="The next page: the previous page's nextCursor.")]
NextCursor = Annotated[str | None, Field(description="The next page's cursor; null on the last page.")]

# Requests


class UserChange(Model):
    """PUT /api/users/{userId}: a field left out keeps what the user has (a new user starts active)."""

    status: UserStatus | None = None
    principals: (
        Annotated[tuple[Annotated[str, Field(pattern=PRINCIPAL_ARN)], ...], Field(max_length=MAX_PRINCIPALS)] | None
    ) = Field(default=None, description="IAM principal ARNs that act as this user; [] removes them all.")

    @field_validator("principals")
    @classmethod
    def _each_principal_once(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each principal may be listed once")
        return value


class MemberChange(Model):
    """PUT /api/pipelines/{pipelineId}/members/{userId}."""

    role: Role


class SecretChange(Model):
    """PUT /api/pipelines/{pipelineId}/webhook/secret: its length and characters are checked by the use case."""

    secret: str = Field(
        description=(
            f"The signing secret, {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters without control characters; "
            "the same as in the Git provider's webhook settings. It is never shown again."
        ),
        json_schema_extra={"minLength": MIN_SECRET_LENGTH, "maxLength": MAX_SECRET_LENGTH},
    )


class CredentialsChange(Model):
    """PUT /api/pipelines/{pipelineId}/credentials/{name}: checked by the use case."""

    token: str = Field(
        description="An https token that reads the pipeline's source.repository (a GitHub or GitLab token). "
        "It is never shown again.",
        json_schema_extra={"minLength": 1, "maxLength": 4096},
    )


SampleProvider = Literal["webhook", "github", "gitea", "forgejo", "gitlab", "codeup", "gitee"]
MAX_SAMPLE_HEADERS = 50


class WebhookTest(Model):
    """POST /api/pipelines/{pipelineId}/webhook/test: a sample delivery, answered as a dry run of the webhook."""

    provider: SampleProvider = Field(
        default="webhook",
        description="Who sends it: webhook (a general or variable call) or a Git provider, whose event header "
        "(push, or Push Hook) the sample gets unless `headers` names the event.",
    )
    headers: dict[Annotated[str, Field(min_length=1, max_length=100)], Annotated[str, Field(max_length=8192)]] = Field(
        default_factory=dict, max_length=MAX_SAMPLE_HEADERS, description="Headers as the sender sends them."
    )
    body: Any = Field(
        default=None,
        description="The delivery's body: a JSON value (sent as JSON), or a string sent as it is; none is empty.",
    )

    def raw_body(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode("utf-8", "surrogatepass")
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def problems_of(error: ValidationError, root: str) -> list[VariableProblem]:
    """Each problem pydantic found, named by its field path (`stages.0.jobs.0.name`); never the input itself."""
    return [
        VariableProblem(
            name=".".join(str(part) for part in problem["loc"]) or root,
            reason=problem["msg"].removeprefix("Value error, "),
        )
        for problem in error.errors(include_input=False, include_url=False)
    ]


# Answers


class WebhookSummary(Model):
    enabled: bool
    run_as: str | None
    problem: str | None = Field(description="RUN_AS_LOST_PERMISSION when the run-as user can no longer run it.")


class PipelineListItem(Model):
    id: str
    name: str
    webhook: WebhookSummary


class PipelineList(Model):
    pipelines: list[PipelineListItem]


class WebhookStateBody(Model):
    enabled: bool
    run_as: str | None = Field(description="The user the webhook runs as: who last enabled it.")
    enabled_at: str | None
    token_hint: str | None = Field(description="The token's last characters, to tell URLs apart.")
    problem: str | None = Field(description="RUN_AS_LOST_PERMISSION when the run-as user can no longer run it.")
    signed: bool = Field(description="True when source events must be signed with the webhook's signing secret.")

    @classmethod
    def of(cls, state: WebhookState, **more: Any) -> Self:
        """The state's fields by their own names (never its token), with what `cls` adds in `more`."""
        return cls(**{name: getattr(state, name) for name in WebhookStateBody.model_fields}, **more)


class WebhookWithUrl(WebhookStateBody):
    url: str = Field(description="The webhook URL with its token. It is shown this once: keep it.")


class WebhookWithAudit(WebhookStateBody):
    audit: list[AuditEntry]


class Member(Model):
    user_id: str
    role: Role


class MemberList(Model):
    members: list[Member]

    @classmethod
    def of(cls, grants: Iterable[Grant]) -> Self:
        return cls(members=[Member(user_id=g.user_id, role=g.role) for g in grants])


class MemberBody(Model):
    pipeline_id: str
    user_id: str
    role: Role


class PipelineBody(Model):
    pipeline: Pipeline = Field(description="As applied, with secret variables' defaults masked as ***.")
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, stored: StoredPipeline, **more: Any) -> Self:
        return cls(pipeline=masked(stored.pipeline), created_at=stored.created_at, updated_at=stored.updated_at, **more)


class PipelineDetailsBody(PipelineBody):
    webhook: WebhookStateBody
    members: list[Member]
    audit: list[AuditEntry] = Field(description="The pipeline's newest 50 audit entries, newest first.")


class UserBody(Model):
    id: str
    status: UserStatus
    principals: tuple[str, ...]

    @classmethod
    def of(cls, user: User, **more: Any) -> Self:
        return cls(id=user.id, status=user.status, principals=user.principals, **more)


class UserDetailsBody(UserBody):
    audit: list[AuditEntry] = Field(description="The user's newest 50 audit entries, newest first.")


class DeliveryBody(Model):
    """One request to the webhook and what became of it; never its body, token or signature."""

    received_at: str
    source: str = Field(description="webhook, github, gitlab, codeup or gitee.")
    event: str | None = Field(description="The provider's event header, e.g. push or Tag Push Hook.")
    delivery_id: str | None = Field(
        description="The provider's delivery id, the caller's Idempotency-Key, or the key derived from a push "
        "without either (derived-...)."
    )
    outcome: Outcome
    reason: str | None = Field(
        description="The error code of a rejection, why an event started no run, or a dry run's decision."
    )
    run_id: str | None = Field(description="The run it started or replayed.")
    run_as: str | None

    @classmethod
    def of(cls, delivery: Delivery) -> Self:
        return cls(**delivery.model_dump(exclude={"pipeline_id", "incarnation"}))


class DeliveryList(Model):
    deliveries: list[DeliveryBody] = Field(description="Newest first; each is kept 30 days.")
    next_cursor: NextCursor


class Problem(Model):
    name: str
    reason: str


class ErrorBody(Model):
    code: str = Field(description="A stable SCREAMING_SNAKE code to switch on.")
    message: str = Field(description="What went wrong and what to do about it.")
    errors: list[Problem] | None = Field(default=None, description="422 only: every field that is wrong.")


def masked(pipeline: Pipeline) -> Pipeline:
    """The pipeline with the defaults and choices of its secret variables replaced by the mask."""
    variables = {
        name: declaration.model_copy(
            update={
                "default": None if declaration.default is None else SECRET_MASK,
                "choices": (SECRET_MASK,) if declaration.choices else (),
            }
        )
        if declaration.secret
        else declaration
        for name, declaration in pipeline.variables.items()
    }
    return pipeline.model_copy(update={"variables": variables})


# OpenAPI

ERROR_DESCRIPTIONS = {
    400: (
        "INVALID_JSON: the body is not a JSON object; "
        "INVALID_PARAMETER or INVALID_CURSOR: a `limit` or `cursor` this list does not take."
    ),
    401: "UNAUTHENTICATED: the request names no hookrun user.",
    403: "FORBIDDEN: the caller's role does not allow this.",
    404: "Not found (PIPELINE_NOT_FOUND, USER_NOT_FOUND, MEMBER_NOT_FOUND or WEBHOOK_NOT_FOUND).",
    409: "Conflict (PIPELINE_EXISTS, LAST_OWNER, PRINCIPAL_TAKEN, CONFLICT, RUN_FINISHED or SECRETS_EXPIRED).",
    413: "PAYLOAD_TOO_LARGE: the body is over 256 KiB.",
    415: "UNSUPPORTED_MEDIA_TYPE: send the body with Content-Type: application/json.",
    422: "INVALID_PIPELINE (also a body `id` other than the path's) or INVALID_REQUEST: `errors` lists every field.",
    429: "RUN_LIMIT_REACHED: the pipeline's maxRunningRuns runs have not ended; retry after Retry-After seconds.",
    503: "UNAVAILABLE: a backing service is busy; retry after Retry-After seconds.",
}
ALWAYS = (401, 503)
BODY_ERRORS = (400, 413, 415, 422)


Answer = type[BaseModel] | dict[str, Any] | None
"""What a success answers: a model, a JSON schema, or None for no body."""


def _content(answer: Answer) -> dict[str, Any]:
    if answer is None:
        return {}
    if isinstance(answer, dict):
        return {"application/json": {"schema": answer}}
    return {"application/json": {"model": answer}}


def responses(success: Mapping[int, tuple[str, Answer]], *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses: each success with what it answers, then each error, 401 and 503 included."""
    documented: dict[int, OpenAPIResponse] = {
        status: {"description": description, "content": _content(answer)}
        for status, (description, answer) in success.items()
    }
    for status in sorted({*errors, *ALWAYS}):
        documented[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ErrorBody}},
        }
    return documented


def request_body(model: type[BaseModel], description: str, optional: Iterable[str] = ()) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a body that `model` validates; `optional` fields may be left out of it."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        # the schema stands alone inside the operation, so its references are replaced by what they name
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    body = inline(schema)
    if optional:
        body["required"] = [name for name in body.get("required", []) if name not in set(optional)]
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": body}},
        }
    }
