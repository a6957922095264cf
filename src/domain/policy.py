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
