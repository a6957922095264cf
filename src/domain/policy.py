"""Who may do what with a pipeline: the one policy every route asks, so one caller gets one answer everywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import ErrorCode, Forbidden, HookrunError, NotFound
from .models import Grant, Role, User, UserStatus

RUN_ROLES = frozenset({Role.OWNER, Role.RUNNER})

Rule = Callable[[User | None, Grant | None], bool]
"""What a route needs of the caller's user and grant: can_view, can_run or can_own."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hookrun user id (the user may not exist yet) and whether they administer hookrun."""

    user_id: str
    is_admin: bool = False


def can_run(user: User | None, grant: Grant | None) -> bool:
    """A user may run a pipeline while they exist, are active, and hold the runner or owner role on it."""
    return can_view(user, grant) and grant is not None and grant.role in RUN_ROLES


def can_view(user: User | None, grant: Grant | None) -> bool:
    """Any role on a pipeline lets an active user see it, its runs and its webhook's state."""
    return user is not None and user.status is UserStatus.ACTIVE and grant is not None and grant.user_id == user.id


def can_own(user: User | None, grant: Grant | None) -> bool:
    """Owners manage a pipeline: its definition, members and webhook URL."""
    return can_view(user, grant) and grant is not None and grant.role is Role.OWNER


def must_run_as_caller(caller: Caller, user: User | None, grant: Grant | None, pipeline_id: str) -> None:
    """A run executes as the user who starts it: raise FORBIDDEN unless they may run it (admins too need a role)."""
    if not can_run(user, grant):
        raise Forbidden(
            f"User '{caller.user_id}' holds no runner or owner role on pipeline '{pipeline_id}', and a run executes"
            " as the user who starts it. Grant the user the runner role first, or start it as a user who holds it."
        )


def is_suspended(caller: Caller, user: User | None) -> bool:
    return not caller.is_admin and user is not None and user.status is UserStatus.SUSPENDED


def suspended(user_id: str) -> Forbidden:
    return Forbidden(f"User '{user_id}' is suspended. Ask a hookrun admin to reactivate the user.")


def authorize(
    caller: Caller,
    user: User | None,
    grant: Grant | None,
    *,
    exists: bool,
    needs: Rule,
    hidden: ErrorCode = ErrorCode.PIPELINE_NOT_FOUND,
) -> None:
    """Let the caller act on a pipeline (or one of its runs) that `needs` their role, or raise the one answer.

    A suspended user is told so (403) whatever they ask, so that answer says nothing of the pipeline. A caller
    who may not see the pipeline is told it does not exist (404 `hidden`): ids are no oracle. One who may see it
    but not do this gets 403. Admins may do anything to what exists.
    """
    if is_suspended(caller, user) or not exists or not (caller.is_admin or can_view(user, grant)):
        raise refusal(caller, user, hidden)
    if not (caller.is_admin or needs(user, grant)):
        needed = "owner" if needs is can_own else "runner or owner"
        held = f"is {grant.role.value}" if grant is not None else "holds no role"
        raise Forbidden(
            f"User '{caller.user_id}' may not do this: it takes the {needed} role, and the user {held}. "
            "Act as a user who holds it, or ask a pipeline owner for it."
        )


def refusal(caller: Caller, user: User | None, hidden: ErrorCode = ErrorCode.PIPELINE_NOT_FOUND) -> HookrunError:
    """The answer for what the caller may not see, or what does not exist: the same for both (no oracle)."""
    return suspended(caller.user_id) if is_suspended(caller, user) else NotFound(hidden)
