"""Moving an organization between instances: export_organization, then import_organization.

The round trip deletes the organization after exporting it and imports it back; what its
members see through the API (projects, tasks, members, audit events, the organization) must be
the same, ids and timestamps included. A copy under another slug with new ids has the same rows
per table and the same content checksums. A crafted file cannot write into another organization.
Runs on SQLite and PostgreSQL (under row-level security).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from taskhub.accounts.models import ApiKey, User
from taskhub.audit.models import AuditEvent
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.organizations.export import organization_digests
from taskhub.organizations.models import Invitation, Membership, Organization
from taskhub.organizations.services.organizations import organization_delete
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

VIEWS = ["organization/", "projects/", "tasks/", "members/", "audit-events/"]


def _view(client: APIClient) -> dict[str, Any]:
    seen = {}
    for path in VIEWS:
        response = client.get(f"/api/v1/{path}", {"page_size": 100} if path != "organization/" else {})
        assert response.status_code == 200, (path, response.content)
        seen[path] = response.json()
    return seen


def _owner(slug: str) -> Membership:
    return Membership.objects.get(organization__slug=slug, role=Role.OWNER)


@pytest.fixture
def seeded(tmp_path) -> dict[str, Any]:
    call_command("seed_tenants", organizations=2, projects=2, tasks=4, prefix="move")
    organization = Organization.objects.get(slug="move-1")
    path = tmp_path / "move-1.ndjson.gz"
    call_command("export_organization", "move-1", output=str(path))
    return {"organization": organization, "path": path}


def _delete(organization: Organization) -> None:
    with rls.bypass("test: delete the exported organization"):
        organization_delete(organization_id=organization.pk, actor=Actor(user_id=None))


def test_round_trip_gives_members_the_same_api_view(seeded, client_for):
    organization = seeded["organization"]
    before = _view(client_for(_owner("move-1")))
    assert len(before["tasks/"]["results"]) == 8
    counters = dict(Project.objects.filter(organization=organization).values_list("id", "task_counter"))
    invitations = {i.pk: i for i in Invitation.objects.filter(organization=organization)}
    other = Task.objects.exclude(organization=organization).count()

    _delete(organization)
    assert not Project.objects.filter(organization_id=organization.pk).exists()
    call_command("import_organization", str(seeded["path"]))

    after = _view(client_for(_owner("move-1")))
    # The audit log is the one chain it was, with the deletion and the import at its head.
    events = after.pop("audit-events/")["results"]
    assert [event["action"] for event in events[:2]] == ["organization.imported", "organization.deleted"]
    assert events[2:] == before.pop("audit-events/")["results"]
    assert events[0]["prev_hash"] == events[1]["hash"]
    assert after == before
    assert dict(Project.objects.filter(organization=organization).values_list("id", "task_counter")) == counters
    # Numbering goes on from the restored counter.
    project_id = next(iter(counters))
    created = client_for(_owner("move-1")).post("/api/v1/tasks/", {"project": str(project_id), "title": "After"})
    assert created.status_code == 201, created.content
    assert created.json()["number"] == counters[project_id] + 1
    # Pending invitations come back revoked (their tokens are gone); API keys do not come back.
    imported = Invitation.objects.filter(organization=organization)
    assert {i.pk for i in imported} == set(invitations)
    assert all(i.revoked_at is not None for i in imported)
    assert all(i.token_hash != invitations[i.pk].token_hash for i in imported)
    assert not ApiKey.objects.filter(organization=organization).exists()
    # The other organization was never touched.
    assert Task.objects.exclude(organization=organization).count() == other


def test_export_carries_no_secret(seeded):
    text = gzip.decompress(seeded["path"].read_bytes()).decode()
    tables = {json.loads(line).get("table") for line in text.splitlines()}
    assert tables >= {"projects.project", "tasks.task", "organizations.membership"}
    assert "key_hash" not in text
    assert "token_hash" not in text
    assert "password" not in text
    for hashed in ApiKey.objects.values_list("key_hash", flat=True):
        assert hashed not in text


def test_import_refuses_existing_ids_unless_new_ids(seeded, client_for):
    path: Path = seeded["path"]
    with pytest.raises(CommandError, match="slug"):
        call_command("import_organization", str(path))
    with pytest.raises(CommandError, match="--new-ids"):
        call_command("import_organization", str(path), slug="move-copy")
    assert not Organization.objects.filter(slug="move-copy").exists()

    call_command("import_organization", str(path), slug="move-copy", new_ids=True)
    copy = Organization.objects.get(slug="move-copy")
    original = seeded["organization"]
    assert copy.pk != original.pk
    original_tasks = set(Task.objects.filter(organization=original).values_list("id", flat=True))
    copied = Task.objects.filter(organization=copy)
    assert copied.count() == len(original_tasks)
    assert not original_tasks & set(copied.values_list("id", flat=True))
    assert all(task.project.organization_id == copy.pk for task in copied.select_related("project"))
    # Same people (matched by username), same numbers, same audit trail length.
    assert set(Membership.objects.filter(organization=copy).values_list("user_id", "role")) == set(
        Membership.objects.filter(organization=original).values_list("user_id", "role")
    )
    assert sorted(copied.values_list("number", flat=True)) == sorted(
        Task.objects.filter(organization=original).values_list("number", flat=True)
    )
    # The same audit chain, hash for hash, and the import recorded at its head.
    chains = [
        list(AuditEvent.objects.filter(organization=organization).order_by("seq").values_list("hash", "action"))
        for organization in (copy, original)
    ]
    copied_chain, original_chain = chains
    assert copied_chain[:-1] == original_chain
    assert copied_chain[-1][1] == "organization.imported"
    response = client_for(_owner("move-copy")).get("/api/v1/projects/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2


def test_missing_users_are_created_without_a_usable_password(seeded):
    organization = seeded["organization"]
    _delete(organization)
    User.objects.filter(username__startswith="move-1-").delete()

    call_command("import_organization", str(seeded["path"]))

    users = User.objects.filter(username__startswith="move-1-")
    assert users.count() == 4
    assert not any(user.has_usable_password() for user in users)
    assert Membership.objects.filter(organization=organization).count() == 4


def test_import_rejects_a_file_that_is_not_an_export(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(CommandError, match="not an organization export"):
        call_command("import_organization", str(path))
    with pytest.raises(CommandError, match="No organization"):
        call_command("export_organization", "nope", output=str(tmp_path / "y.json"))


def _digests(organization: Organization) -> dict[str, tuple[int, str]]:
    with rls.bypass("test: digest an organization"):
        return organization_digests(organization_id=organization.pk)


# Tables an import changes on purpose: invitations arrive revoked, API keys stay behind, and the
# audit chain records the import (test_import_refuses_existing_ids_unless_new_ids checks the rest of it).
CHANGED_BY_IMPORT = {"organizations.invitation", "accounts.apikey", "audit.auditevent"}


def test_a_copy_with_new_ids_has_the_same_rows_and_checksums(seeded):
    call_command("import_organization", str(seeded["path"]), slug="move-copy", new_ids=True)

    original = _digests(seeded["organization"])
    copy = _digests(Organization.objects.get(slug="move-copy"))
    assert original["tasks.task"][0] == 8
    assert {k: v for k, v in copy.items() if k not in CHANGED_BY_IMPORT} == {
        k: v for k, v in original.items() if k not in CHANGED_BY_IMPORT
    }
    assert copy["organizations.invitation"][0] == original["organizations.invitation"][0]
    assert copy["accounts.apikey"][0] == 0


def _rewrite(path: Path, target: Path, change: Any) -> None:
    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    lines = change(lines)
    target.write_bytes(gzip.compress(b"".join(json.dumps(line).encode() + b"\n" for line in lines)))


def _row_counts() -> dict[str, int]:
    from taskhub.tenancy.registry import tenant_models  # noqa: PLC0415

    with rls.bypass("test: count rows"):
        counts = {m._meta.label_lower: m._default_manager.count() for m in tenant_models()}
        counts["organizations.organization"] = Organization.objects.count()
        counts["accounts.user"] = User.objects.count()
    return counts


def test_a_row_of_another_organization_is_refused_and_nothing_is_written(seeded, tmp_path):
    other = Organization.objects.get(slug="move-2")

    def smuggle(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The last task of the file claims to be the other organization's.
        task = next(line for line in reversed(lines) if line.get("table") == "tasks.task")
        task["row"]["organization_id"] = str(other.pk)
        return lines

    crafted = tmp_path / "crafted.ndjson.gz"
    _rewrite(seeded["path"], crafted, smuggle)
    refusal = f"belongs to organization {other.pk}"
    before = _row_counts()

    with pytest.raises(CommandError, match=refusal):
        call_command("import_organization", str(crafted), slug="move-copy", new_ids=True)
    assert _row_counts() == before
    assert not Organization.objects.filter(slug="move-copy").exists()

    # With the exported ids free (the organization moved away), as they are: refused as well.
    _delete(seeded["organization"])
    before = _row_counts()
    with pytest.raises(CommandError, match=refusal):
        call_command("import_organization", str(crafted))
    assert _row_counts() == before


def test_a_file_cut_short_is_refused(seeded, tmp_path):
    cut = tmp_path / "cut.ndjson.gz"
    _rewrite(seeded["path"], cut, lambda lines: lines[: len(lines) // 2])
    before = _row_counts()

    with pytest.raises(CommandError, match="cut short"):
        call_command("import_organization", str(cut), slug="move-copy", new_ids=True)

    assert _row_counts() == before


def test_the_earlier_json_document_still_imports(seeded, tmp_path):
    lines = [json.loads(line) for line in gzip.decompress(seeded["path"].read_bytes()).splitlines()]
    tables: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if "table" in line:
            tables.setdefault(line["table"], []).append(line["row"])
    document = {
        "exported_at": lines[0]["exported_at"],
        "organization": lines[0]["organization"],
        "users": [line["user"] for line in lines if "user" in line],
        "tables": tables,
    }
    path = tmp_path / "move-1.json"
    path.write_text(json.dumps(document, indent=1))

    call_command("import_organization", str(path), slug="move-old", new_ids=True)

    copy = _digests(Organization.objects.get(slug="move-old"))
    original = _digests(seeded["organization"])
    assert {k: v for k, v in copy.items() if k not in CHANGED_BY_IMPORT} == {
        k: v for k, v in original.items() if k not in CHANGED_BY_IMPORT
    }
