from collections.abc import Callable
from typing import Any

import pytest

from taskhub.core.actor import Actor
from taskhub.labels.models import Label
from taskhub.labels.services import label_create
from taskhub.tenancy.roles import Role


def create_label(tenant: Any, name: str = "bug", color: str = "#d73a4a", **fields: Any) -> Label:
    """Create a label in ``tenant``'s organization as its owner, through the service."""
    actor = Actor(user_id=tenant.users[Role.OWNER].pk, label="fixture")
    return label_create(organization_id=tenant.organization.pk, actor=actor, name=name, color=color, **fields)


@pytest.fixture
def make_label(db) -> Callable[..., Label]:
    """Return ``create_label(tenant, name="bug", color="#d73a4a", **fields)``."""
    return create_label
