"""Owners' exports of their organization: asked for in a request, written by a job (docs/exports.md)."""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta
from http import HTTPStatus
from uuid import UUID

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from taskhub.audit.services import audit_record
from taskhub.core import jobs, rls
from taskhub.core.actor import Actor
from taskhub.core.errors import Conflict, DomainError
from taskhub.organizations.export import write_export
from taskhub.organizations.models import ExportStatus, OrganizationExport

logger = logging.getLogger(__name__)

EXPORT_JOB = "organizations.export"
EXPIRE_JOB = "organizations.export_expire"
PENDING = (ExportStatus.QUEUED, ExportStatus.RUNNING)
# A file younger than this may belong to an export whose job has not committed yet: purge leaves it.
LEFTOVER_GRACE = timedelta(hours=1)


class ExportPending(Conflict):
    code = "export_pending"


class ExportNotReady(Conflict):
    code = "export_not_ready"


class ExportExpired(DomainError):
    status_code = HTTPStatus.GONE
    code = "export_expired"


def export_storage() -> Storage:
    return storages["exports"]


def _pending_refusal(export: OrganizationExport | None) -> ExportPending:
    which = f"Export {export.pk} is" if export is not None else "Another export is"
    return ExportPending(
        f"{which} still being written; one export runs at a time per organization. "
        "Follow it with GET organization/exports/{id}/, then ask again."
    )


def export_request(*, organization_id: UUID, actor: Actor) -> OrganizationExport:
    """Queue an export of the organization; refuse while another is queued or running."""
    pending = OrganizationExport.objects.filter(organization_id=organization_id, status__in=PENDING).first()
    if pending is not None:
        raise _pending_refusal(pending)
    try:
        with transaction.atomic():
            export = OrganizationExport.objects.create(organization_id=organization_id, requested_by_id=actor.user_id)
    except IntegrityError as exc:
        # A concurrent request won the one pending slot (the partial unique constraint).
        raise _pending_refusal(None) from exc
    audit_record(organization_id=organization_id, actor=actor, action="organization.export_requested", target=export)
    job_id = jobs.enqueue(EXPORT_JOB, organization_id=organization_id, export_id=str(export.pk))
    if job_id is not None:
        OrganizationExport.objects.filter(pk=export.pk).update(job_id=job_id)
    # Inline (no queue), the job has run already.
    export.refresh_from_db()
    return export


def export_run(*, organization_id: UUID, export_id: str) -> None:
    """The job: write the export file, store it, mark the export ready and schedule its deletion."""
    export = (
        OrganizationExport.objects.select_for_update().filter(pk=export_id, organization_id=organization_id).first()
    )
    if export is None or export.status not in PENDING:
        # Deleted with its organization, or done by an earlier run whose success was not recorded.
        logger.info("export job: nothing to do", extra={"export_id": export_id})
        return
    started = timezone.now()
    with tempfile.TemporaryFile(prefix="taskhub-export-") as scratch:
        written = write_export(scratch, organization_id=organization_id)
        scratch.seek(0)
        name = export_storage().save(f"{organization_id}/{export_id}.ndjson.gz", File(scratch))
    retention = settings.EXPORTS_RETENTION_HOURS * 3600
    finished = timezone.now()
    OrganizationExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.READY,
        file_name=name,
        size=written.size,
        checksum=written.sha256,
        counts=written.counts,
        started_at=started,
        finished_at=finished,
        expires_at=finished + timedelta(seconds=retention),
        job_id=None,
        error="",
        updated_at=finished,
    )
    logger.info(
        "export written",
        extra={"export_id": export_id, "bytes": written.size, "rows": sum(written.counts.values())},
    )
    jobs.enqueue(EXPIRE_JOB, organization_id=organization_id, export_id=export_id, schedule_in_seconds=retention)


def export_fail(*, organization_id: UUID, error: BaseException, export_id: str) -> None:
    """The job's last run failed: the export reads failed, with the error's type and message."""
    OrganizationExport.objects.filter(pk=export_id, organization_id=organization_id, status__in=PENDING).update(
        status=ExportStatus.FAILED,
        error=f"{type(error).__name__}: {error}"[:200],
        finished_at=timezone.now(),
        job_id=None,
        updated_at=timezone.now(),
    )


def _delete_file(export: OrganizationExport) -> None:
    if export.file_name:
        export_storage().delete(export.file_name)
    OrganizationExport.objects.filter(pk=export.pk).update(
        status=ExportStatus.EXPIRED, file_name="", updated_at=timezone.now()
    )


def export_expire(*, organization_id: UUID, export_id: str) -> None:
    """The delayed job: delete an export's file once its retention is over."""
    export = OrganizationExport.objects.filter(pk=export_id, organization_id=organization_id).first()
    if export is None or export.status != ExportStatus.READY:
        return
    if export.expires_at is not None and export.expires_at > timezone.now():
        left = (export.expires_at - timezone.now()).total_seconds()
        jobs.enqueue(EXPIRE_JOB, organization_id=organization_id, export_id=export_id, schedule_in_seconds=left)
        return
    _delete_file(export)


def exports_purge(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete the files of expired exports in every organization, and files no export names.

    Returns (exports expired, leftover files deleted). As the platform role: it spans tenants.
    """
    now = now or timezone.now()
    expired = 0
    storage = export_storage()
    with rls.bypass("purge_exports"):
        for export in OrganizationExport.objects.filter(status=ExportStatus.READY, expires_at__lte=now).iterator():
            _delete_file(export)
            expired += 1
        kept = set(
            OrganizationExport.objects.filter(status=ExportStatus.READY)
            .exclude(file_name="")
            .values_list("file_name", flat=True)
        )
    leftovers = 0
    try:
        folders, _files = storage.listdir("")
    except FileNotFoundError:
        folders = []
    for folder in folders:
        for name in storage.listdir(folder)[1]:
            path = f"{folder}/{name}"
            if path in kept:
                continue
            try:
                recent = storage.get_modified_time(path) > now - LEFTOVER_GRACE
            except NotImplementedError:
                recent = False
            if not recent:
                storage.delete(path)
                leftovers += 1
    return expired, leftovers


def seed_exports(*, organization_id: UUID, actor: Actor) -> None:
    """One past export, its file long deleted (``seed_tenants``, taskhub.tenancy.seeding).

    A record, not a file: seeding queues no job and writes nothing to the exports storage.
    """
    finished = timezone.now() - timedelta(days=2)
    OrganizationExport.objects.create(
        organization_id=organization_id,
        requested_by_id=actor.user_id,
        status=ExportStatus.EXPIRED,
        started_at=finished - timedelta(seconds=5),
        finished_at=finished,
        expires_at=finished + timedelta(hours=settings.EXPORTS_RETENTION_HOURS),
    )
