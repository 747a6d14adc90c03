"""The product's writes emit their webhook events: through the API, in the write's transaction.

Each event's ``data`` is the resource as its GET shows it (``object``), and for an update the
fields that changed (``changes``: before and after); taskhub.webhooks.payloads says the shape.
The organization here has one webhook subscribed to every event, its URL a receiver on
loopback (``receiver``, conftest.py); the suite runs jobs inline, so each event is delivered
during the request.
"""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError
from taskhub.labels.models import Label
from taskhub.organizations.models import Membership
from taskhub.projects import services as project_services
from taskhub.projects.services import project_create
from taskhub.tenancy.roles import Role
from taskhub.webhooks.catalog import PING
from taskhub.webhooks.models import Event
from taskhub.webhooks.tests.receiver import Receiver
from tests.support.queue import queued_job_arguments

pytestmark = pytest.mark.django_db

API = "/api/v1/"
NEW_PASSWORD = "plum-tractor-lantern-58"


@pytest.fixture
def secret(clients_a: dict[Role, APIClient], receiver: Receiver) -> str:
    """A webhook of organization A, subscribed to every event, pointing at ``receiver``; its secret."""
    created = ok(clients_a[Role.ADMIN].post(f"{API}webhooks/", {"url": receiver.url}, format="json"), 201)
    if settings.JOBS_INLINE:
        receiver.wait_for(1)  # the ping every new webhook gets
    secret: str = created["secret"]
    return secret


def recorded() -> list[tuple[str, dict[str, Any]]]:
    """The events recorded but pings (only organization A has a webhook), oldest first: (type, data)."""
    return [(event.type, event.data) for event in Event.objects.exclude(type=PING).order_by("created_at")]


def last() -> tuple[str, dict[str, Any]]:
    return recorded()[-1]


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json() if status != 204 else {}
    return body


# Projects


def test_emit_project_created_updated_deleted_carry_its_representation(clients_a, tenant_a, secret):
    client = clients_a[Role.ADMIN]

    created = ok(client.post(f"{API}projects/", {"key": "WEB", "name": "Website"}, format="json"), 201)
    assert recorded() == [("project.created", {"object": created})]
    assert created == ok(client.get(f"{API}projects/{created['id']}/"))

    updated = ok(client.patch(f"{API}projects/{created['id']}/", {"name": "Site", "status": "archived"}, format="json"))
    assert last() == (
        "project.updated",
        {
            "object": updated,
            "changes": {
                "name": {"before": "Website", "after": "Site"},
                "status": {"before": "active", "after": "archived"},
            },
        },
    )

    shown = ok(client.get(f"{API}projects/{created['id']}/"))
    ok(client.delete(f"{API}projects/{created['id']}/"), 204)
    assert last() == ("project.deleted", {"object": shown})
    assert [kind for kind, _ in recorded()] == ["project.created", "project.updated", "project.deleted"]


def test_emit_nothing_for_an_update_that_changes_nothing(clients_a, tenant_a, secret):
    client = clients_a[Role.ADMIN]
    project = ok(client.post(f"{API}projects/", {"key": "WEB", "name": "Website"}, format="json"), 201)
    task = ok(client.post(f"{API}tasks/", {"project": project["id"], "title": "Ship"}, format="json"), 201)
    member = tenant_a.memberships[Role.VIEWER]
    before = recorded()

    same = {"key": "WEB", "name": "Website", "description": "", "status": "active"}
    ok(client.put(f"{API}projects/{project['id']}/", same, format="json"))
    ok(client.patch(f"{API}tasks/{task['id']}/", {"title": "Ship", "labels": []}, format="json"))
    ok(client.patch(f"{API}members/{member.pk}/", {"role": "viewer"}, format="json"))

    assert recorded() == before


# Tasks


def test_emit_task_created_updated_deleted_carry_its_representation(clients_a, tenant_a, secret):
    client = clients_a[Role.MEMBER]
    project = ok(clients_a[Role.ADMIN].post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
    bug = Label.objects.create(organization=tenant_a.organization, name="bug")
    assignee = str(tenant_a.users[Role.ADMIN].pk)

    created = ok(
        client.post(
            f"{API}tasks/",
            {"project": project["id"], "title": "Ship", "due_date": "2030-01-02", "labels": [str(bug.pk)]},
            format="json",
        ),
        201,
    )
    assert last() == ("task.created", {"object": created})
    assert created == ok(client.get(f"{API}tasks/{created['id']}/"))
    assert created["labels"] == [str(bug.pk)]

    updated = ok(
        client.patch(
            f"{API}tasks/{created['id']}/",
            {"status": "in_progress", "assignee": assignee, "labels": [], "due_date": None},
            format="json",
        )
    )
    assert last() == (
        "task.updated",
        {
            "object": updated,
            "changes": {
                "status": {"before": "todo", "after": "in_progress"},
                "assignee": {"before": None, "after": assignee},
                "due_date": {"before": "2030-01-02", "after": None},
                "labels": {"before": [str(bug.pk)], "after": []},
            },
        },
    )

    shown = ok(client.get(f"{API}tasks/{created['id']}/"))
    ok(client.delete(f"{API}tasks/{created['id']}/"), 204)
    assert last() == ("task.deleted", {"object": shown})


def test_emit_a_task_relabelled_alone_is_an_update(clients_a, tenant_a, secret):
    client = clients_a[Role.MEMBER]
    project = ok(clients_a[Role.ADMIN].post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
    task = ok(client.post(f"{API}tasks/", {"project": project["id"], "title": "Ship"}, format="json"), 201)
    bug = Label.objects.create(organization=tenant_a.organization, name="bug")

    updated = ok(client.patch(f"{API}tasks/{task['id']}/", {"labels": [str(bug.pk)]}, format="json"))

    assert last() == (
        "task.updated",
        {"object": updated, "changes": {"labels": {"before": [], "after": [str(bug.pk)]}}},
    )


def test_emit_deleting_a_project_sends_one_event_not_one_per_task(clients_a, tenant_a, secret):
    client = clients_a[Role.ADMIN]
    project = ok(client.post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
    for title in ("One", "Two"):
        ok(client.post(f"{API}tasks/", {"project": project["id"], "title": title}, format="json"), 201)
    before = len(recorded())

    ok(client.delete(f"{API}projects/{project['id']}/"), 204)

    assert [kind for kind, _ in recorded()[before:]] == ["project.deleted"]


# Members and invitations


def test_emit_member_role_changed_and_removed(clients_a, tenant_a, secret):
    client = clients_a[Role.ADMIN]
    membership = tenant_a.memberships[Role.VIEWER]
    shown = ok(client.get(f"{API}members/{membership.pk}/"))
    user = tenant_a.users[Role.VIEWER]
    assert shown["user"]["id"] == str(user.pk)
    assert shown["user"]["username"] == user.username

    changed = ok(client.patch(f"{API}members/{membership.pk}/", {"role": "member"}, format="json"))
    assert last() == (
        "member.role_changed",
        {"object": changed, "changes": {"role": {"before": "viewer", "after": "member"}}},
    )
    assert changed["user"] == shown["user"]

    ok(client.delete(f"{API}members/{membership.pk}/"), 204)
    assert last() == ("member.removed", {"object": changed})


def test_emit_member_removed_when_a_member_leaves(clients_a, tenant_a, secret):
    membership = tenant_a.memberships[Role.MEMBER]
    shown = ok(clients_a[Role.MEMBER].get(f"{API}members/{membership.pk}/"))

    ok(clients_a[Role.MEMBER].delete(f"{API}members/{membership.pk}/"), 204)

    assert last() == ("member.removed", {"object": shown})


def _invitation_token(client: APIClient, email: str) -> tuple[dict[str, Any], str]:
    invitation = ok(client.post(f"{API}invitations/", {"email": email, "role": "member"}, format="json"), 201)
    body = str(mail.outbox[-1].body)
    token = body.split("accept-invitation/?token=", 1)[1].split(maxsplit=1)[0]
    return invitation, token


@pytest.mark.parametrize("signed_in", [False, True], ids=["new user", "member of another organization"])
def test_emit_invitation_accepted_and_member_added(tenant_a, tenant_b, client_for, secret, signed_in):
    admin = client_for(tenant_a.memberships[Role.ADMIN])
    if signed_in:
        email, client, extra = tenant_b.users[Role.MEMBER].email, client_for(tenant_b.memberships[Role.MEMBER]), {}
    else:
        email, client, extra = "joiner@example.com", APIClient(), {"username": "joiner", "password": NEW_PASSWORD}
    invitation, token = _invitation_token(admin, email)
    before = len(recorded())

    ok(client.post(f"{API}invitations/accept/", {"token": token, **extra}, format="json"), 201)

    events = dict(recorded()[before:])
    assert sorted(events) == ["invitation.accepted", "member.added"]
    (accepted,) = [row for row in ok(admin.get(f"{API}invitations/"))["results"] if row["id"] == invitation["id"]]
    assert accepted["status"] == "accepted"
    assert events["invitation.accepted"] == {"object": accepted}
    membership = Membership.objects.get(organization=tenant_a.organization, user__email=email)
    member = ok(admin.get(f"{API}members/{membership.pk}/"))
    assert events["member.added"] == {"object": member}
    assert member["user"]["id"] == str(membership.user_id)
    assert member["role"] == "member"


# The transaction


def test_emit_nothing_stays_of_a_write_rolled_back(tenant_a, secret):
    actor = Actor(user_id=tenant_a.owner.pk)
    organization_id = tenant_a.organization.pk

    written: list[tuple[str, dict[str, Any]]] = []

    @transaction.atomic
    def create_twice() -> None:
        project_create(organization_id=organization_id, actor=actor, key="WEB", name="Website")
        written.extend(recorded())  # there, not yet committed
        project_create(organization_id=organization_id, actor=actor, key="WEB", name="Again")  # key_taken

    with pytest.raises(DomainError):
        create_twice()

    assert [kind for kind, _ in written] == ["project.created"]
    assert recorded() == []
    project_create(organization_id=organization_id, actor=actor, key="WEB", name="Website")
    assert [kind for kind, _ in recorded()] == ["project.created"]


def test_emit_nothing_for_a_request_refused_after_its_checks_began(clients_a, secret):
    client = clients_a[Role.MEMBER]
    project = ok(clients_a[Role.ADMIN].post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
    task = ok(client.post(f"{API}tasks/", {"project": project["id"], "title": "Ship"}, format="json"), 201)
    before = recorded()
    unknown = "00000000-0000-0000-0000-000000000000"

    refused = client.patch(f"{API}tasks/{task['id']}/", {"status": "done", "labels": [unknown]}, format="json")

    assert refused.status_code == 400, refused.content
    assert recorded() == before
    assert ok(client.get(f"{API}tasks/{task['id']}/"))["status"] == "todo"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_emit_a_request_failing_after_its_event_leaves_no_event_and_no_delivery(
    job_queue, clients_a, receiver, secret, monkeypatch
):
    client = clients_a[Role.ADMIN]
    emit = project_services.emit

    def emit_then_fail(**kwargs: Any) -> None:
        emit(**kwargs)
        assert len(recorded()) == 2  # the earlier project's event and this one's, uncommitted
        raise DomainError("Something after the event went wrong.", code="late_failure")

    ok(client.post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
    monkeypatch.setattr(project_services, "emit", emit_then_fail)

    refused = client.post(f"{API}projects/", {"key": "OPS", "name": "O"}, format="json")

    assert refused.status_code == 400, refused.content
    assert refused.json()["code"] == "late_failure"
    assert [kind for kind, _ in recorded()] == ["project.created"]
    (event,) = Event.objects.filter(type="project.created")
    # The ping and the committed project's delivery wait; the failed request's left no job.
    assert [(name, args.get("event_id")) for name, args in queued_job_arguments()] == [
        ("webhooks.deliver", str(Event.objects.get(type=PING).pk)),
        ("webhooks.deliver", str(event.pk)),
    ]
    call_command("worker", "--once", "--concurrency=1", stdout=StringIO())
    delivered = [json.loads(hit.body) for hit in receiver.wait_for(2)]
    assert [(body["type"], body["data"].get("object", {}).get("key")) for body in delivered] == [
        (PING, None),
        ("project.created", "WEB"),
    ]


# Delivered


def test_emit_a_task_created_through_the_api_is_delivered_once_signed(clients_a, tenant_a, receiver, secret):
    client = clients_a[Role.MEMBER]
    project = ok(clients_a[Role.ADMIN].post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
    before = len(receiver.hits)

    task = ok(client.post(f"{API}tasks/", {"project": project["id"], "title": "Ship"}, format="json"), 201)

    hits = receiver.hits[before:]
    assert len(hits) == 1
    payload = StandardWebhook(secret).verify(hits[0].body, hits[0].headers)
    event = Event.objects.get(type="task.created")
    assert payload == json.loads(hits[0].body)
    assert payload["id"] == hits[0].headers["webhook-id"] == str(event.pk)
    assert payload["type"] == "task.created"
    assert payload["organization"] == str(tenant_a.organization.pk)
    assert payload["data"] == {"object": task}


# What an organization without webhooks pays


def test_emit_costs_an_organization_without_webhooks_one_query_then_none(clients_a):
    client = clients_a[Role.ADMIN]

    with CaptureQueriesContext(connection) as queries:
        project = ok(client.post(f"{API}projects/", {"key": "WEB", "name": "W"}, format="json"), 201)
        ok(client.patch(f"{API}projects/{project['id']}/", {"name": "Web"}, format="json"))
        ok(client.delete(f"{API}projects/{project['id']}/"), 204)

    lookups = [query["sql"] for query in queries.captured_queries if "webhooks_" in query["sql"]]
    assert len(lookups) == 1, lookups
    assert not Event.objects.exists()
