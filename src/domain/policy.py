"""Who may do what with a pipeline."""

from __future__ import annotations

from .models import Grant, Role, User, UserStatus

RUN_ROLES = frozenset({Role.OWNER, Role.RUNNER})


def can_run(user: User | None, grant: Grant | None) -> bool:
    """A user may run a pipeline while they exist, are active, and hold the runner or owner role on it."""
    return (
        user is not None
        and user.status is UserStatus.ACTIVE
        and grant is not None
        and grant.user_id == user.id
        and grant.role in RUN_ROLES
    )


def can_view(user: User | None, grant: Grant | None) -> bool:
    """Any role on a pipeline lets an active user see it, its runs and its webhook's state."""
    return user is not None and user.status is UserStatus.ACTIVE and grant is not None and grant.user_id == user.id


def can_own(user: User | None, grant: Grant | None) -> bool:
    """Owners manage a pipeline: its definition, members and webhook URL."""
    return can_view(user, grant) and grant is not None and grant.role is Role.OWNER
