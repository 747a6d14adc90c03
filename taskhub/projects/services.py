"""Writes to projects; each one is audited and sends its webhook event (taskhub.webhooks.payloads)."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack
from uuid import UUID

from django.db import transaction

from taskhub.audit.services import audit_record, audit_record_creation, audited_delete, changes_between
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, refused_by
from taskhub.core.representation import represent
from taskhub.projects.models import KEY_UNIQUE, Project, ProjectStatus
from taskhub.tenancy.services import locked
from taskhub.webhooks.events import emit
from taskhub.webhooks.payloads import change_payload, object_payload


class ProjectChanges(TypedDict, total=False):
    key: str
    name: str
    description: str
    status: str


def _snapshot(project: Project) -> dict[str, Any]:
    return {"key": project.key, "name": project.name, "description": project.description, "status": project.status}


def _key_taken() -> DomainError:
    return DomainError("Another project in this organization has this key.", code="key_taken", field="key")


@transaction.atomic
def project_create(
    *,
    organization_id: UUID,
    actor: Actor,
    key: str,
    name: str,
    description: str = "",
    status: str = ProjectStatus.ACTIVE,
) -> Project:
    """Create a project whose key no other project of the organization has.

    The unique index on (organization, upper(key)) is the check: no statement asks first. Asking
    first cost a scan of the organization's projects: under row-level security PostgreSQL does
    not use an index on ``upper(key)`` (``upper`` is not leakproof), it filters every row.
    """
    project = Project(
        organization_id=organization_id,
        key=key,
        name=name,
        description=description,
        status=ProjectStatus(status),
        created_by_id=actor.user_id,
    )
    with refused_by(KEY_UNIQUE, _key_taken):
        project.save(force_insert=True)
    audit_record_creation(
        organization_id=organization_id,
        actor=actor,
        action="project.created",
        target=project,
        fields=_snapshot(project),
    )
    emit(organization_id=organization_id, type="project.created", data=lambda: object_payload(project))
    return project


@transaction.atomic
def project_update(
    *, organization_id: UUID, project_id: UUID, actor: Actor, **fields: Unpack[ProjectChanges]
) -> Project:
    """Change a project's key, name, description or status (archive or restore)."""
    unknown = set(fields) - ProjectChanges.__optional_keys__
    if unknown:
        raise TypeError(f"project_update got unknown fields: {', '.join(sorted(unknown))}")
    project = locked(Project, organization_id=organization_id, pk=project_id)
    before = _snapshot(project)
    shown = represent(project)
    # A key another project has is the unique index's to refuse (below), as on create.
    for name, value in fields.items():
        setattr(project, name, value)
    changes = changes_between(before, _snapshot(project))
    if not changes:
        return project
    with refused_by(KEY_UNIQUE, _key_taken):
        project.save(update_fields=[*changes, "updated_at"])
    audit_record(
        organization_id=organization_id, actor=actor, action="project.updated", target=project, changes=changes
    )
    emit(organization_id=organization_id, type="project.updated", data=lambda: change_payload(shown, project))
    return project


@transaction.atomic
def project_delete(*, organization_id: UUID, project_id: UUID, actor: Actor) -> None:
    """Delete a project and, with it, every task in it."""
    project = locked(Project, organization_id=organization_id, pk=project_id)
    # Emitted first, so the payload is read while the project has an id; the delete follows in this
    # transaction. Its tasks go with it, without events of their own.
    emit(organization_id=organization_id, type="project.deleted", data=lambda: object_payload(project))
    audited_delete(
        organization_id=organization_id,
        actor=actor,
        action="project.deleted",
        target=project,
        fields=_snapshot(project),
    )
