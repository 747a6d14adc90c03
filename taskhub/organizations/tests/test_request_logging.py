"""The access line and metrics of tenant requests: who acted, where, and no ids in labels."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from taskhub.accounts.tokens import token_pair
from taskhub.tenancy.roles import Role
from tests.support.logcapture import capture_access_log

TOKEN = "metrics-token-for-tests"
MEMBER_ROUTE = "api/v1/members/<uuid:id>/"


@pytest.fixture
def metrics_client(settings) -> APIClient:
    settings.METRICS_TOKEN = TOKEN
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return client


def test_user_request_logs_its_organization_user_and_route_pattern(clients_a, tenant_a):
    membership = tenant_a.memberships[Role.ADMIN]
    client = clients_a[Role.OWNER]

    with capture_access_log() as log:
        response = client.get(f"/api/v1/members/{membership.pk}/?expand=secret-query-value")

    assert response.status_code == 200
    (line,) = log.parsed()
    assert line["organization_id"] == str(tenant_a.organization.pk)
    assert line["user_id"] == str(tenant_a.owner.pk)
    assert line["api_key_id"] is None
    assert line["route"] == MEMBER_ROUTE
    assert line["path"] == f"/api/v1/members/{membership.pk}/"
    assert line["status"] == 200
    assert line["request_id"] == response["X-Request-ID"]


def test_access_line_never_carries_the_bearer_token_or_query(tenant_a):
    access_token = token_pair(tenant_a.memberships[Role.OWNER])["access"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")

    with capture_access_log() as log:
        client.get("/api/v1/members/?search=secret-query-value")

    (raw,) = log.raw()
    assert access_token not in raw
    assert "secret-query-value" not in raw


def test_api_key_request_logs_the_key_and_no_user(clients_a, tenant_a):
    created = clients_a[Role.ADMIN].post("/api/v1/api-keys/", {"name": "ci", "role": "member"}, format="json")
    assert created.status_code == 201, created.content
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created.json()['key']}")

    with capture_access_log() as log:
        response = key_client.get("/api/v1/members/")

    assert response.status_code == 200
    (raw,) = log.raw()
    assert created.json()["key"] not in raw
    (line,) = log.parsed()
    assert line["api_key_id"] == created.json()["id"]
    assert line["user_id"] is None
    assert line["organization_id"] == str(tenant_a.organization.pk)
    assert line["route"] == "api/v1/members/"


def test_rejected_token_logs_no_identity(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-valid-jwt")

    with capture_access_log() as log:
        response = client.get("/api/v1/members/")

    assert response.status_code == 401
    (line,) = log.parsed()
    assert (line["organization_id"], line["user_id"], line["api_key_id"]) == (None, None, None)
    assert "not-a-valid-jwt" not in log.raw()[0]


def test_sql_count_is_every_statement_the_request_ran(clients_a, tenant_a):
    client = clients_a[Role.OWNER]
    url = f"/api/v1/members/{tenant_a.memberships[Role.MEMBER].pk}/"

    with capture_access_log() as log, CaptureQueriesContext(connection) as queries:
        client.get(url)

    (line,) = log.parsed()
    assert line["sql_count"] == len(queries.captured_queries)
    assert line["sql_count"] > 0


def test_metrics_label_tenant_requests_by_route_never_by_id(clients_a, tenant_a, metrics_client):
    membership = tenant_a.memberships[Role.VIEWER]
    assert clients_a[Role.OWNER].get(f"/api/v1/members/{membership.pk}/").status_code == 200

    body = metrics_client.get("/metrics").content.decode()

    assert f'http_requests_total{{method="GET",route="{MEMBER_ROUTE}",status="200"}}' in body
    for identifier in (membership.pk, tenant_a.organization.pk, tenant_a.owner.pk):
        assert str(identifier) not in body
