"""The owner's export through the API: POST queues it (inline here: it runs at once), GET, download.

Runs on SQLite and PostgreSQL (requests as the app role, under row-level security). The real
worker's run is in test_exports_worker.py.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from taskhub.accounts.api_keys import generate_key
from taskhub.accounts.models import ApiKey
from taskhub.core import rls
from taskhub.organizations import export
from taskhub.organizations.models import ExportStatus, Invitation, OrganizationExport
from taskhub.organizations.services.exports import export_storage, exports_purge
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

EXPORTS = "/api/v1/organization/exports/"


@pytest.fixture(autouse=True)
def _empty_storage() -> None:
    """The test settings' exports storage is in memory, shared by the whole run: start each test empty."""
    storage = export_storage()
    for folder in storage.listdir("")[0]:
        for name in storage.listdir(folder)[1]:
            storage.delete(f"{folder}/{name}")


def _lines(response: Any) -> list[dict[str, Any]]:
    body = b"".join(response.streaming_content)
    return [json.loads(line) for line in gzip.decompress(body).splitlines()]


def _ready_export(client: Any) -> dict[str, Any]:
    queued = client.post(EXPORTS)
    assert queued.status_code == 202, queued.content
    detail = client.get(queued["Location"])
    assert detail.status_code == 200, detail.content
    return detail.json()


@pytest.fixture
def secrets_a(tenant_a) -> dict[str, str]:
    generated = generate_key()
    ApiKey.objects.create(
        organization=tenant_a.organization,
        name="ci",
        role=Role.VIEWER,
        prefix=generated.prefix,
        key_hash=generated.key_hash,
    )
    Invitation.objects.create(
        organization=tenant_a.organization,
        email="new@example.com",
        token_hash="f" * 64,
        expires_at="2099-01-01T00:00:00Z",
    )
    return {"key_hash": generated.key_hash, "token_hash": "f" * 64}


def test_owner_exports_downloads_and_gets_every_row_of_the_organization(clients_a, tenant_a, tenant_b, secrets_a):
    for tenant in (tenant_a, tenant_b):
        project = Project.objects.create(organization=tenant.organization, key="EXP", name="Exported")
        Task.objects.create(organization=tenant.organization, project=project, number=1, title="In the file")
    owner = clients_a[Role.OWNER]

    queued = owner.post(EXPORTS)

    assert queued.status_code == 202, queued.content
    assert set(queued.json()) == {"id", "status"}
    assert queued["Location"].endswith(f"{EXPORTS}{queued.json()['id']}/")
    detail = owner.get(queued["Location"])
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "ready"
    assert body["size"] > 0
    assert body["download_url"].endswith(f"{EXPORTS}{body['id']}/download/")

    download = owner.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/gzip"
    assert download["Content-Disposition"].startswith("attachment;")
    lines = _lines(download)
    header, users, rows, trailer = lines[0], lines[1:5], lines[5:-1], lines[-1]
    assert header["format"] == export.FORMAT
    assert header["organization"]["id"] == str(tenant_a.organization.pk)
    assert {u["user"]["username"] for u in users} == {"owner-a", "admin-a", "member-a", "viewer-a"}
    # The file's rows are the organization's rows, table by table, and nothing else.
    digests: dict[str, export.TableDigest] = {}
    for model in export.exported_models():
        digests[model._meta.label_lower] = export.TableDigest(_skip=export._identity_fields(model))
    for line in rows:
        assert line["row"]["organization_id"] == str(tenant_a.organization.pk)
        digests[line["table"]].add(line["row"])
    with rls.bypass("test: the organization's rows"):
        expected = export.organization_digests(organization_id=tenant_a.organization.pk)
    assert {label: (d.count, d.checksum) for label, d in digests.items()} == expected
    assert expected["tasks.task"][0] == 1
    assert expected["accounts.apikey"][0] == 1
    assert trailer == {"end": {"counts": {label: count for label, (count, _) in expected.items()}}}
    # Referenced tables come first, and the exports themselves are not exported.
    tables = list(dict.fromkeys(line["table"] for line in rows))
    assert tables.index("projects.project") < tables.index("tasks.task")
    assert "organizations.organizationexport" not in tables
    text = gzip.decompress(b"".join(owner.get(body["download_url"]).streaming_content)).decode()
    assert secrets_a["key_hash"] not in text
    assert secrets_a["token_hash"] not in text
    assert "password" not in text
    assert str(tenant_b.organization.pk) not in text


def test_another_organizations_export_is_not_found(clients_a, clients_b):
    theirs = _ready_export(clients_b[Role.OWNER])

    for path in (f"{EXPORTS}{theirs['id']}/", f"{EXPORTS}{theirs['id']}/download/"):
        response = clients_a[Role.OWNER].get(path)
        assert response.status_code == 404, path
        assert theirs["id"] not in response.content.decode()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
def test_only_an_owner_exports(clients_a, role):
    made = _ready_export(clients_a[Role.OWNER])

    assert clients_a[role].post(EXPORTS).status_code == 403
    assert clients_a[role].get(f"{EXPORTS}{made['id']}/").status_code == 403
    assert clients_a[role].get(f"{EXPORTS}{made['id']}/download/").status_code == 403
    assert OrganizationExport.objects.count() == 1


def test_an_expired_export_reads_expired_and_is_not_downloaded(clients_a, tenant_a):
    owner = clients_a[Role.OWNER]
    made = _ready_export(owner)
    stored = OrganizationExport.objects.get(pk=made["id"])
    assert export_storage().exists(stored.file_name)
    OrganizationExport.objects.filter(pk=stored.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    detail = owner.get(f"{EXPORTS}{made['id']}/").json()
    assert detail["status"] == "expired"
    assert "download_url" not in detail
    refused = owner.get(f"{EXPORTS}{made['id']}/download/")
    assert refused.status_code == 410
    assert refused.json()["code"] == "export_expired"

    # purge_exports deletes the file and records the expiry, in every organization.
    output = io.StringIO()
    call_command("purge_exports", stdout=output)
    assert output.getvalue().startswith("Expired 1 export(s) older than 24 hours; deleted 0 leftover file(s).")
    assert not export_storage().exists(stored.file_name)
    assert OrganizationExport.objects.get(pk=stored.pk).status == ExportStatus.EXPIRED
    assert owner.get(f"{EXPORTS}{made['id']}/download/").status_code == 410


def test_purge_deletes_files_no_export_names(tenant_a):
    storage = export_storage()
    storage.save(f"{tenant_a.organization.pk}/orphan.ndjson.gz", ContentFile(b"left by a job that rolled back"))
    assert exports_purge(now=timezone.now() + timedelta(hours=2)) == (0, 1)
    assert not storage.exists(f"{tenant_a.organization.pk}/orphan.ndjson.gz")


def test_one_export_at_a_time(clients_a, tenant_a):
    pending = OrganizationExport.objects.create(organization=tenant_a.organization, status=ExportStatus.QUEUED)

    refused = clients_a[Role.OWNER].post(EXPORTS)

    assert refused.status_code == 409
    assert refused.json()["code"] == "export_pending"
    assert str(pending.pk) in refused.json()["detail"]
    not_ready = clients_a[Role.OWNER].get(f"{EXPORTS}{pending.pk}/download/")
    assert not_ready.status_code == 409
    assert not_ready.json()["code"] == "export_not_ready"


def test_a_failing_export_reads_failed(clients_a, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("taskhub.organizations.services.exports.write_export", broken)

    made = _ready_export(clients_a[Role.OWNER])

    assert made["status"] == "failed"
    assert made["error"] == "OSError: disk full"
    assert clients_a[Role.OWNER].get(f"{EXPORTS}{made['id']}/download/").status_code == 409
    # A failed export does not block the next one.
    monkeypatch.undo()
    assert _ready_export(clients_a[Role.OWNER])["status"] == "ready"
