from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.utils import timezone

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.accounts.models import ApiKey
from taskhub.audit import chain
from taskhub.audit.models import AuditEvent
from taskhub.audit.services import audit_record
from taskhub.core.actor import Actor
from taskhub.tenancy.roles import Role

URL = "/api/v1/audit-events/"
FIELDS = {
    "id",
    "action",
    "actor",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "ip_address",
    "request_id",
    "created_at",
    "seq",
    "prev_hash",
    "hash",
}


def create_key(client: Any, name: str = "ci", role: str = "member", **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/api-keys/", {"name": name, "role": role}, format="json", **extra)
    assert response.status_code == 201, response.content
    return response.json()


def events(client: Any, **params: str) -> list[dict[str, Any]]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admin_and_owner_see_only_their_organizations_events(clients_a, clients_b, tenant_a, role):
    mine = create_key(clients_a[Role.ADMIN], name="mine")
    create_key(clients_b[Role.ADMIN], name="theirs")

    results = events(clients_a[role])

    assert [event["target_id"] for event in results] == [mine["id"]]
    event = results[0]
    assert set(event) == FIELDS
    assert event["action"] == "api_key.created"
    assert event["target_type"] == "accounts.apikey"
    assert event["target_label"] == f"mine ({mine['prefix']})"
    assert event["actor"] == {"type": "user", "id": str(tenant_a.users[Role.ADMIN].pk), "label": "admin-a"}


def test_another_organizations_event_is_not_found(clients_a, clients_b):
    create_key(clients_b[Role.ADMIN])
    theirs = AuditEvent.objects.get()

    assert clients_b[Role.ADMIN].get(f"{URL}{theirs.pk}/").status_code == 200
    assert clients_a[Role.ADMIN].get(f"{URL}{theirs.pk}/").status_code == 404


def test_admin_can_retrieve_an_event(clients_a):
    create_key(clients_a[Role.ADMIN], name="ci", role="viewer")
    event = AuditEvent.objects.get()

    response = clients_a[Role.ADMIN].get(f"{URL}{event.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(event.pk)
    assert body["changes"]["role"] == [None, "viewer"]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_read_the_audit_log(clients_a, role):
    create_key(clients_a[Role.ADMIN])
    event = AuditEvent.objects.get()

    assert clients_a[role].get(URL).status_code == 403
    assert clients_a[role].get(f"{URL}{event.pk}/").status_code == 403


def test_api_key_cannot_read_the_audit_log(clients_a, api_client):
    created = create_key(clients_a[Role.ADMIN], role="member")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {created['key']}")

    assert api_client.get(URL).status_code == 403


def test_anonymous_cannot_read_the_audit_log(api_client, db):
    assert api_client.get(URL).status_code == 401


def test_request_id_and_ip_address_of_a_write_are_recorded(clients_a):
    create_key(clients_a[Role.ADMIN], HTTP_X_REQUEST_ID="test-request-0001", REMOTE_ADDR="203.0.113.7")

    [event] = events(clients_a[Role.ADMIN])

    assert event["request_id"] == "test-request-0001"
    assert event["ip_address"] == "203.0.113.7"


def test_api_key_actor_is_shown_as_api_key(clients_a, tenant_a):
    created = create_key(clients_a[Role.ADMIN], name="ci")
    api_key = ApiKey.objects.get(pk=created["id"])
    # Keys carry member or viewer, and no such write exists yet: record one as a key would.
    audit_record(
        organization_id=tenant_a.organization.pk,
        actor=Actor(user_id=None, api_key_id=api_key.pk, label="api-key:ci"),
        action="project.created",
        target=tenant_a.organization,
    )

    [event] = events(clients_a[Role.ADMIN], action="project.created")

    assert event["actor"] == {"type": "api_key", "id": created["id"], "label": "api-key:ci"}


def test_actor_that_no_longer_exists_keeps_its_id_and_label(clients_a, tenant_a):
    admin = tenant_a.users[Role.ADMIN]
    admin_id = str(admin.pk)
    create_key(clients_a[Role.ADMIN])
    admin.delete()

    [shown] = events(clients_a[Role.OWNER])

    # The event is evidence: who acted is part of its hash, so deleting the user changes nothing in it.
    assert shown["actor"] == {"type": "user", "id": admin_id, "label": admin.username}


def test_events_are_listed_newest_first_and_cursor_paginated(clients_a):
    ids = [create_key(clients_a[Role.ADMIN], name=f"key {i}")["id"] for i in range(3)]

    first = clients_a[Role.ADMIN].get(URL, {"page_size": 2}).json()
    second = clients_a[Role.ADMIN].get(first["next"]).json()

    assert set(first) == {"next", "previous", "results"}
    assert [event["target_id"] for event in first["results"] + second["results"]] == ids[::-1]
    oldest_first = events(clients_a[Role.ADMIN], ordering="created_at")
    assert [event["target_id"] for event in oldest_first] == ids


@pytest.fixture
def history(clients_a, tenant_a) -> dict[str, Any]:
    """Events in organization A: a key created by the admin, revoked by the owner, and a key's own write."""
    created = create_key(clients_a[Role.ADMIN], name="ci")
    assert clients_a[Role.OWNER].delete(f"/api/v1/api-keys/{created['id']}/").status_code == 204
    other = create_key(clients_a[Role.OWNER], name="other")
    key_event = audit_record(
        organization_id=tenant_a.organization.pk,
        actor=Actor(user_id=None, api_key_id=UUID(other["id"]), label="api-key:other"),
        action="organization.updated",
        target=tenant_a.organization,
    )
    return {"revoked": created, "other": other, "key_event": key_event}


def test_audit_events_filter_by_action(clients_a, history):
    results = events(clients_a[Role.ADMIN], action="api_key.revoked")

    assert [(e["action"], e["target_id"]) for e in results] == [("api_key.revoked", history["revoked"]["id"])]


def test_audit_events_filter_by_target(clients_a, history, tenant_a):
    by_type = events(clients_a[Role.ADMIN], target_type="organizations.organization")
    by_id = events(clients_a[Role.ADMIN], target_id=history["revoked"]["id"])

    assert [e["id"] for e in by_type] == [str(history["key_event"].pk)]
    assert [e["action"] for e in by_id] == ["api_key.revoked", "api_key.created"]


def test_audit_events_filter_by_actor(clients_a, history, tenant_a):
    by_admin = events(clients_a[Role.ADMIN], actor_user=str(tenant_a.users[Role.ADMIN].pk))
    by_owner = events(clients_a[Role.ADMIN], actor_user=str(tenant_a.users[Role.OWNER].pk))
    by_key = events(clients_a[Role.ADMIN], actor_api_key=history["other"]["id"])

    assert [e["action"] for e in by_admin] == ["api_key.created"]
    assert [e["action"] for e in by_owner] == ["api_key.created", "api_key.revoked"]
    assert [e["id"] for e in by_key] == [str(history["key_event"].pk)]


START = timezone.now() - timedelta(hours=10)


@pytest.fixture
def hourly(monkeypatch):
    """The chain's clock: each event it appends an hour after the one before, from START."""
    moments = (START + timedelta(hours=hours) for hours in range(1000))
    monkeypatch.setattr(chain, "now", lambda: next(moments))


def test_audit_events_filter_by_time_window(hourly, clients_a, history):
    all_events = AuditEvent.objects.order_by("created_at")
    assert all_events.count() == 4
    # The events are an hour apart, oldest first (the clock above); events are never updated.
    start = START
    ordered = [str(event.pk) for event in AuditEvent.objects.order_by("created_at")]

    after = events(clients_a[Role.ADMIN], created_after=(start + timedelta(hours=1)).isoformat())
    before = events(clients_a[Role.ADMIN], created_before=(start + timedelta(hours=1)).isoformat())
    window = events(
        clients_a[Role.ADMIN],
        created_after=(start + timedelta(minutes=30)).isoformat(),
        created_before=(start + timedelta(hours=2, minutes=30)).isoformat(),
    )

    assert [e["id"] for e in after] == ordered[1:][::-1]
    assert [e["id"] for e in before] == ordered[:1]
    assert [e["id"] for e in window] == ordered[1:3][::-1]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("actor_user", "not-a-uuid"),
        ("actor_api_key", "12345"),
        ("created_after", "yesterday"),
        ("created_before", "2024-13-45T00:00:00Z"),
        ("seq", "0"),
        ("seq", "1.5"),
        ("seq", "two"),
        ("seq", str(2**63)),
    ],
)
def test_invalid_audit_filter_value_answers_400(clients_a, param, value):
    response = clients_a[Role.ADMIN].get(URL, {param: value})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert param in body["errors"]


@pytest.mark.parametrize("value", ["1606-08-19T04:56:11+16:29", "2026-01-01T00:00:00-23:59"])
def test_an_offset_postgresql_cannot_hold_is_read_in_utc(clients_a, value):
    # Found by schemathesis: +16:29 is a valid ISO 8601 offset but beyond PostgreSQL's ±15:59 (a 500).
    response = clients_a[Role.ADMIN].get(URL, {"created_before": value, "created_after": value})

    assert response.status_code == 200, response.content


def test_an_offset_that_leaves_the_calendar_answers_400(clients_a):
    response = clients_a[Role.ADMIN].get(URL, {"created_before": "0001-01-01T00:00:00+01:00"})

    assert response.status_code == 400
    assert "created_before" in response.json()["errors"]


def test_listing_events_runs_one_page_query_for_any_page_size(clients_a, django_assert_max_num_queries):
    for i in range(5):
        create_key(clients_a[Role.ADMIN], name=f"key {i}")
    clients_a[Role.ADMIN].get(URL)  # warm the token cache

    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert len(events(clients_a[Role.ADMIN])) == 5
