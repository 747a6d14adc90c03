"""Roles and what each may do, defined once; every permission check reads from here."""

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

# The lowest role that holds each permission; higher roles inherit it.
MINIMUM_ROLE: dict[str, Role] = {
    "organization.read": Role.VIEWER,
    "organization.update": Role.ADMIN,
    "organization.delete": Role.OWNER,
    "organization.export": Role.OWNER,
    "member.read": Role.VIEWER,
    "member.manage": Role.ADMIN,
    "owner.manage": Role.OWNER,
    "invitation.manage": Role.ADMIN,
    "api_key.manage": Role.ADMIN,
    "audit.read": Role.ADMIN,
    "project.read": Role.VIEWER,
    "project.write": Role.MEMBER,
    "project.delete": Role.ADMIN,
    "task.read": Role.VIEWER,
    "task.write": Role.MEMBER,
    "task.delete": Role.MEMBER,
}


def role_allows(role: str, permission: str) -> bool:
    """Return whether ``role`` holds ``permission``; an unknown permission is held by no one."""
    minimum = MINIMUM_ROLE.get(permission)
    return minimum is not None and Role(role).at_least(minimum)
