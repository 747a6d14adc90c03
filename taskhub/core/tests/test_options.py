"""OPTIONS on every API route: a JSON description or a JSON refusal, never a server error.

The routes come from the URLconf (tests.support.isolation.api_routes), so a route added
tomorrow is asked too. Path parameters name a row of the asker's own organization where one
exists, else a random id.
"""

from __future__ import annotations

import uuid

import pytest

from taskhub.tenancy.roles import Role
from tests.support.isolation import api_routes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.OWNER, Role.VIEWER])
def test_options_answers_every_route_without_a_server_error(clients_a, role):
    client = clients_a[role]
    answers = {}
    for route in api_routes():
        response = client.options(route.url(str(uuid.uuid4())))
        answers[route.template] = response.status_code
        assert response["Content-Type"].startswith("application/json"), route.template
        assert response.status_code < 500, (route.template, response.content[:300])
    # The walk reached the bodiless POSTs that once answered OPTIONS with a 500.
    assert answers["api/v1/organization/exports/"] == 200
    assert "api/v1/invitations/<uuid:id>/resend/" in answers


def test_options_of_a_bodiless_post_has_no_form_and_a_post_with_a_body_has_one(clients_a):
    client = clients_a[Role.OWNER]
    exports = client.options("/api/v1/organization/exports/").json()
    assert "actions" not in exports
    projects = client.options("/api/v1/projects/").json()
    assert "name" in projects["actions"]["POST"]
