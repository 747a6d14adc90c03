"""Roles and what each may do; every permission check reads from here, every app registers into it."""

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: str) -> bool:
        return self.rank >= _RANK[Role(other)]


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

# Roles an API key may carry: keys act for machines, never as administrators.
API_KEY_ROLES = (Role.MEMBER, Role.VIEWER)
API_KEY_ROLE_CHOICES = [(role.value, role.label) for role in API_KEY_ROLES]

# The lowest role that holds each permission; higher roles inherit it. Empty here: each app
# registers its own permissions from its AppConfig.ready() (``register_permissions``).
MINIMUM_ROLE: dict[str, Role] = {}


def register_permissions(minimum_roles: dict[str, Role]) -> None:
    """Add an app's permissions to the role map; a name registered twice must agree."""
    for permission, role in minimum_roles.items():
        known = MINIMUM_ROLE.get(permission)
        if known is not None and known != role:
            raise ValueError(f"Permission {permission!r} is already held from {known.value}, not {Role(role).value}.")
        MINIMUM_ROLE[permission] = Role(role)


def role_allows(role: str, permission: str) -> bool:
    """Return whether ``role`` holds ``permission``; an unknown permission is held by no one."""
    minimum = MINIMUM_ROLE.get(permission)
    return minimum is not None and Role(role).at_least(minimum)
