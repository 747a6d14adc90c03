"""Platform access is an event in the chain of the organization it touched, visible to its admins.

Staff in the Django admin (reads and writes of tenant rows), ``export_organization`` and
``import_organization`` (with ``--reason``): each leaves an event naming the person and the
reason in ``audit-events/``. SQLite and PostgreSQL (where the admin reads as the platform role).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from taskhub.accounts.models import User
from taskhub.audit import chain
from taskhub.audit.middleware import MAX_IDS, _listening
from taskhub.audit.models import AuditEvent
from taskhub.audit.services import os_actor
from taskhub.organizations.models import Organization
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


@pytest.fixture
def staff(client) -> Any:
    User.objects.create_superuser(username="root", email="root@example.com", password="a-strong-pass-42")
    client.force_login(User.objects.get(username="root"))
    return client


def task_of(client: APIClient, title: str) -> dict[str, Any]:
    project = client.post("/api/v1/projects/", {"key": "ADM", "name": "Admin"}).json()
    response = client.post("/api/v1/tasks/", {"project": project["id"], "title": title})
    assert response.status_code == 201, response.content
    return response.json()


def platform_events(client: APIClient) -> list[dict[str, Any]]:
    response = client.get(URL, {"action": "platform.viewed"})
    assert response.status_code == 200, response.content
    changed = client.get(URL, {"action": "platform.changed"}).json()["results"]
    return response.json()["results"] + changed


def test_an_admin_site_read_of_a_task_appears_in_its_organizations_audit_log(staff, clients_a, clients_b, tenant_a):
    task = task_of(clients_a[Role.ADMIN], "Secret plans")
    page = f"/admin/tasks/task/{task['id']}/change/"

    response = staff.get(page, HTTP_X_REQUEST_ID="staff-read-0001", REMOTE_ADDR="198.51.100.9")

    assert response.status_code == 200
    assert b"Secret plans" in response.content
    [event] = platform_events(clients_a[Role.ADMIN])
    assert event["action"] == "platform.viewed"
    organization = tenant_a.organization
    assert (event["target_type"], event["target_id"], event["target_label"]) == (
        "organizations.organization",
        str(organization.pk),
        organization.name,
    )
    root = User.objects.get(username="root")
    assert event["actor"] == {"type": "user", "id": str(root.pk), "label": "staff:root"}
    assert event["changes"]["reason"] == f"django admin: GET {page}"
    assert event["changes"]["viewed"]["tasks.task"] == {"count": 1, "ids": [task["id"]]}
    assert (event["request_id"], event["ip_address"]) == ("staff-read-0001", "198.51.100.9")
    # The other organization's log says nothing of it, and the chain holds.
    assert platform_events(clients_b[Role.ADMIN]) == []
    assert chain.verify(tenant_a.organization.pk).ok
    # The signal receivers are gone once the request is over: API requests pay nothing for them.
    assert _listening == 0


def test_a_list_across_organizations_is_one_event_in_each(staff, clients_a, clients_b, tenant_a, tenant_b):
    mine, theirs = task_of(clients_a[Role.ADMIN], "A's"), task_of(clients_b[Role.ADMIN], "B's")

    assert staff.get("/admin/tasks/task/").status_code == 200

    for client, task, tenant in ((clients_a[Role.ADMIN], mine, tenant_a), (clients_b[Role.ADMIN], theirs, tenant_b)):
        [event] = platform_events(client)
        assert event["target_id"] == str(tenant.organization.pk)
        assert event["changes"]["viewed"]["tasks.task"] == {"count": 1, "ids": [task["id"]]}


def test_a_change_in_the_admin_is_a_platform_changed_event(staff, clients_a, tenant_a):
    organization = tenant_a.organization
    response = staff.post(
        f"/admin/organizations/organization/{organization.pk}/change/",
        {
            "name": "Renamed by staff",
            "slug": organization.slug,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content[:2000]

    [event] = clients_a[Role.ADMIN].get(URL, {"action": "platform.changed"}).json()["results"]
    assert event["changes"]["changed"]["organizations.organization"]["ids"] == [str(organization.pk)]
    assert event["actor"]["label"] == "staff:root"


def test_pages_without_tenant_rows_record_nothing(staff, clients_a, tenant_a):
    assert staff.get("/admin/").status_code == 200
    assert staff.get("/admin/accounts/user/").status_code == 200

    assert not AuditEvent.objects.filter(action__startswith="platform.").exists()


def test_an_event_lists_at_most_max_ids_and_counts_them_all(staff, tenant_a):
    from taskhub.audit.services import audit_record  # noqa: PLC0415
    from taskhub.core.actor import Actor  # noqa: PLC0415

    for i in range(MAX_IDS + 5):
        audit_record(
            organization_id=tenant_a.organization.pk,
            actor=Actor(user_id=None, label="seed"),
            action=f"x.{i}",
            target=tenant_a.organization,
        )

    assert staff.get("/admin/audit/auditevent/", {"all": ""}).status_code == 200

    event = AuditEvent.objects.get(action="platform.viewed")
    viewed = event.changes["viewed"]["audit.auditevent"]
    assert viewed["count"] == MAX_IDS + 5
    assert len(viewed["ids"]) == MAX_IDS


# -- commands ------------------------------------------------------------------------------------


@pytest.fixture
def seeded(tmp_path) -> dict[str, Any]:
    call_command("seed_tenants", organizations=1, projects=1, tasks=2, prefix="plat")
    return {"organization": Organization.objects.get(slug="plat-1"), "path": tmp_path / "plat-1.ndjson.gz"}


def test_export_and_import_record_who_and_why(seeded, client_for):
    organization: Organization = seeded["organization"]
    path: Path = seeded["path"]

    call_command("export_organization", "plat-1", output=str(path), reason="ticket 4711", stderr=io.StringIO())
    call_command("import_organization", str(path), slug="plat-copy", new_ids=True, stdout=io.StringIO())

    exported = AuditEvent.objects.get(organization=organization, action="organization.exported")
    assert exported.actor_label == os_actor().label
    assert exported.changes == {"reason": "ticket 4711"}
    copy = Organization.objects.get(slug="plat-copy")
    imported = AuditEvent.objects.filter(organization=copy).order_by("-seq").first()
    assert imported is not None
    assert imported.action == "organization.imported"
    assert imported.changes["reason"] == f"import_organization run by {os_actor().label}"
    assert imported.changes["source_organization_id"] == str(organization.pk)
    # The export recorded itself before writing: the file, and so the copy, holds that event too.
    assert AuditEvent.objects.filter(organization=copy, action="organization.exported").count() == 1
    owner = client_for(copy.memberships.get(role=Role.OWNER))
    assert [e["action"] for e in owner.get(URL, {"page_size": 2}).json()["results"]] == [
        "organization.imported",
        "organization.exported",
    ]
    assert owner.get(f"{URL}verify/").json()["count"] == AuditEvent.objects.filter(organization=copy).count()
