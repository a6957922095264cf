"""The management API: pipelines, users, members, the webhook trigger with its signing secret, and deliveries.

Each route is a door: identify the caller, parse the request, call one management use case, map its result.
The use cases decide who may do what.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ValidationError

from domain import management
from domain.errors import ErrorCode, VariableProblem
from domain.management import ManagementPorts
from domain.models import PIPELINE_ID, USER_ID, Pipeline
from domain.policy import Caller

from .api_schemas import (
    BODY_ERRORS,
    MAX_BODY_BYTES,
    DeliveryBody,
    DeliveryList,
    MemberBody,
    MemberChange,
    MemberList,
    PageCursor,
    PageLimit,
    PipelineBody,
    PipelineDetailsBody,
    PipelineId,
    PipelineList,
    PipelineListItem,
    UserBody,
    UserChange,
    UserDetailsBody,
    UserId,
    WebhookStateBody,
    WebhookSummary,
    problems_of,
    request_body,
    responses,
)
from .composition import container
from .http import (
    MAX_LIMIT,
    RequestRejected,
    json_object_body,
    json_response,
    no_such_pipeline,
    page_limit,
)
from .identity import identify

router = APIGatewayRouter()  # type: ignore[no-untyped-call]

Body = TypeVar("Body", bound=BaseModel)

PIPELINES, USERS, MEMBERS, WEBHOOK, DELIVERIES = ["pipelines"], ["users"], ["members"], ["webhook"], ["deliveries"]


def _caller() -> Caller:
    wiring = container()
    return identify(router.current_event, wiring.management, wiring.admin_principals)


def _ports() -> ManagementPorts:
    return container().management_ports


def _answer(status: int, body: BaseModel) -> Response[str]:
    return json_response(status, body.model_dump(by_alias=True, mode="json"))


def _no_content() -> Response[str]:
    return Response(status_code=204, body="")


def _pipeline_id(pipeline_id: str) -> str:
    """The id, if it could name a pipeline; a malformed one names none, so it is answered before any read."""
    if not PIPELINE_ID.fullmatch(pipeline_id):
        raise no_such_pipeline()
    return pipeline_id


def _pipeline_args(pipeline_id: str) -> tuple[ManagementPorts, Caller, str]:
    """What a use case on the path's pipeline takes first: the ports, the caller (identified before the path or the
    body is looked at) and the pipeline id."""
    caller = _caller()
    return _ports(), caller, _pipeline_id(pipeline_id)


def _user_id(user_id: str) -> str:
    """The id, if it could name a user; a malformed one names none."""
    if not USER_ID.fullmatch(user_id):
        raise RequestRejected(ErrorCode.USER_NOT_FOUND)
    return user_id


def _body() -> dict[str, Any]:
    return json_object_body(router.current_event, MAX_BODY_BYTES, expected="a JSON object")


def _parsed(
    model: type[Body], data: dict[str, Any], code: ErrorCode = ErrorCode.INVALID_REQUEST, what: str = "body"
) -> Body:
    """`data` as `model`; raises `code` naming every field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc, root=what)
        message = f"The {what} has {len(problems)} problem(s); see 'errors'."
        raise RequestRejected(code, message, problems=problems) from None


def _pipeline_from_body(pipeline_id: str) -> Pipeline:
    data = _body()
    if data.setdefault("id", pipeline_id) != pipeline_id:
        problem = VariableProblem("id", "must equal the pipeline id in the path, or be left out")
        raise RequestRejected(
            ErrorCode.INVALID_PIPELINE, "The pipeline has 1 problem(s); see 'errors'.", problems=[problem]
        )
    return _parsed(Pipeline, data, ErrorCode.INVALID_PIPELINE, "pipeline")


# Pipelines


@router.put(
    "/api/pipelines/<pipelineId>",
    summary="Create or update a pipeline",
    description="Active users create pipelines and own them; owners and admins update them.",
    tags=PIPELINES,
    responses=responses(
        {201: ("Created; the caller is its owner.", PipelineBody), 200: ("Updated.", PipelineBody)},
        403,
        409,
        *BODY_ERRORS,
    ),
    openapi_extensions=request_body(Pipeline, "The pipeline file as JSON; `id` may be left out.", optional=["id"]),
)
def put_pipeline(pipeline_id: PipelineId) -> Response[str]:
    """Apply the pipeline in the body under the path's id: 201 with it when created, 200 when updated."""
    caller = _caller()
    stored, created = management.apply_pipeline(_ports(), caller, _pipeline_from_body(pipeline_id))
    return _answer(201 if created else 200, PipelineBody.of(stored))


@router.get(
    "/api/pipelines",
    summary="List pipelines",
    description="Every pipeline for admins; for others, the pipelines they hold a role on.",
    tags=PIPELINES,
    responses=responses({200: ("The pipelines with their webhook's state.", PipelineList)}),
)
def list_pipelines() -> Response[str]:
    """The pipelines the caller may see, each with its webhook's state."""
    summaries = management.list_pipeline_summaries(_ports(), _caller())
    items = [
        PipelineListItem(
            id=s.stored.pipeline.id,
            name=s.stored.pipeline.name,
            webhook=WebhookSummary.model_validate(s.webhook, from_attributes=True),
        )
        for s in summaries
    ]
    return _answer(200, PipelineList(pipelines=items))


@router.get(
    "/api/pipelines/<pipelineId>",
    summary="Show a pipeline",
    description="The pipeline, its webhook's state, its members and its newest 50 audit entries; any role.",
    tags=PIPELINES,
    responses=responses({200: ("The pipeline.", PipelineDetailsBody)}, 404),
)
def get_pipeline(pipeline_id: PipelineId) -> Response[str]:
    """The pipeline with its webhook's state, members and audit."""
    details = management.describe_pipeline(*_pipeline_args(pipeline_id))
    body = PipelineDetailsBody.of(
        details.stored,
        webhook=WebhookStateBody.of(details.webhook),
        members=MemberList.of(details.members).members,
        audit=details.audit,
    )
    return _answer(200, body)


@router.delete(
    "/api/pipelines/<pipelineId>",
    summary="Delete a pipeline",
    description="Owners and admins. Its members go with it, and its webhook URL stops working at once.",
    tags=PIPELINES,
    responses=responses({204: ("Deleted.", None)}, 403, 404),
)
def delete_pipeline(pipeline_id: PipelineId) -> Response[str]:
    """Delete the pipeline: 204."""
    management.delete_pipeline(*_pipeline_args(pipeline_id))
    return _no_content()


# Users


@router.put(
    "/api/users/<userId>",
    summary="Add or change a user",
    description="Admins only. Set the status (active or suspended) and the IAM principals that act as the user.",
    tags=USERS,
    responses=responses({201: ("Created.", UserBody), 200: ("Updated.", UserBody)}, 403, 409, *BODY_ERRORS),
    openapi_extensions=request_body(UserChange, "What to set; a field left out keeps its value."),
)
def put_user(user_id: UserId) -> Response[str]:
    """Add the user (201) or change them (200)."""
    caller = _caller()
    if not USER_ID.fullmatch(user_id):
        problems = [VariableProblem("userId", f"must match {USER_ID.pattern}")]
        raise RequestRejected(
            ErrorCode.INVALID_REQUEST, "The user id in the path is not a valid user id.", problems=problems
        )
    change = _parsed(UserChange, _body())
    user, created = management.put_user(_ports(), caller, user_id, change.status, change.principals)
    return _answer(201 if created else 200, UserBody.of(user))


@router.get(
    "/api/users/<userId>",
    summary="Show a user",
    description="Admins, or the user themself: status, principals and the newest 50 audit entries.",
    tags=USERS,
    responses=responses({200: ("The user.", UserDetailsBody)}, 403, 404),
)
def get_user(user_id: UserId) -> Response[str]:
    """The user with their audit."""
    details = management.describe_user(_ports(), _caller(), _user_id(user_id))
    return _answer(200, UserDetailsBody.of(details.user, audit=details.audit))


# Members


@router.get(
    "/api/pipelines/<pipelineId>/members",
    summary="List a pipeline's members",
    description="Every user with a role on the pipeline; any role may look.",
    tags=MEMBERS,
    responses=responses({200: ("The members, by user id.", MemberList)}, 404),
)
def list_members(pipeline_id: PipelineId) -> Response[str]:
    """The pipeline's members and their roles."""
    return _answer(200, MemberList.of(management.list_members(*_pipeline_args(pipeline_id))))


@router.put(
    "/api/pipelines/<pipelineId>/members/<userId>",
    summary="Give a user a role",
    description="Owners and admins. The user must exist; the last owner cannot be demoted (409 LAST_OWNER).",
    tags=MEMBERS,
    responses=responses({200: ("The user's role now.", MemberBody)}, 403, 404, 409, *BODY_ERRORS),
    openapi_extensions=request_body(MemberChange, "The role: owner, runner or viewer."),
)
def put_member(pipeline_id: PipelineId, user_id: UserId) -> Response[str]:
    """Give the user the role in the body: 200 with the grant."""
    grant = management.set_member(*_pipeline_args(pipeline_id), _user_id(user_id), _parsed(MemberChange, _body()).role)
    return _answer(200, MemberBody(pipeline_id=grant.pipeline_id, user_id=grant.user_id, role=grant.role))


@router.delete(
    "/api/pipelines/<pipelineId>/members/<userId>",
    summary="Take a user's role away",
    description="Owners and admins; the last owner cannot leave (409 LAST_OWNER).",
    tags=MEMBERS,
    responses=responses({204: ("Removed.", None)}, 403, 404, 409),
)
def delete_member(pipeline_id: PipelineId, user_id: UserId) -> Response[str]:
    """Take the user's role away: 204."""
    management.remove_member(*_pipeline_args(pipeline_id), user_id)
    return _no_content()


# Deliveries


@router.get(
    "/api/pipelines/<pipelineId>/deliveries",
    summary="List the webhook's deliveries",
    description=(
        "Every request to the pipeline's webhook URL in the last 30 days and what became of it (RUN_STARTED, "
        "REPLAYED, FILTERED, IGNORED_EVENT, REJECTED or DRY_RUN), newest first; "
        f"`limit` 1 to {MAX_LIMIT}, `cursor` from the previous page. Any role, admins."
    ),
    tags=DELIVERIES,
    responses=responses({200: ("A page of deliveries and the next page's cursor.", DeliveryList)}, 400, 404),
)
def list_deliveries(
    pipeline_id: PipelineId,
    limit: PageLimit = None,
    cursor: PageCursor = None,
) -> Response[str]:
    """A page of the pipeline's deliveries, newest first."""
    pipeline_id = _pipeline_id(pipeline_id)
    caller = _caller()
    page = management.list_deliveries(_ports(), caller, pipeline_id, page_limit(limit), cursor)
    deliveries = [DeliveryBody.of(delivery) for delivery in page.deliveries]
    return _answer(200, DeliveryList(deliveries=deliveries, next_cursor=page.next_cursor))
