from collections.abc import Callable

import pytest

from taskhub.projects.models import Project
from tests.support.factories import create_project


@pytest.fixture
def make_project(db) -> Callable[..., Project]:
    """Return ``create_project(tenant, key="WEB", name=..., **fields)``."""
    return create_project
