"""Recording audit events; every write service of the product calls ``audit_record``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import models

from taskhub.audit.models import AuditEvent
from taskhub.core.actor import Actor


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Return ``{field: [old, new]}`` for each field whose value changed."""
    return {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}


def _label(actor: Actor) -> str:
    if actor.label or actor.user_id is None:
        return actor.label
    username = get_user_model().objects.filter(pk=actor.user_id).values_list("username", flat=True).first()
    return username or ""


def audit_record(
    *,
    organization_id: UUID | str,
    actor: Actor,
    action: str,
    target: models.Model,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that ``actor`` did ``action`` to ``target``; callers pass no secret in ``changes``."""
    return AuditEvent.objects.create(
        organization_id=organization_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        actor_label=_label(actor),
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:200],
        changes=changes or {},
        ip_address=actor.ip,
        request_id=actor.request_id,
    )


def audit_record_deletion(
    *, organization_id: UUID | str, actor: Actor, action: str, target: models.Model, fields: dict[str, Any]
) -> AuditEvent:
    """Record that ``target`` is about to be deleted: every field's last value, and None after.

    Call it before deleting: a deleted instance has no primary key left to name.
    """
    return audit_record(
        organization_id=organization_id,
        actor=actor,
        action=action,
        target=target,
        changes=changes_between(fields, dict.fromkeys(fields)),
    )


def audit_record_creation(
    *, organization_id: UUID | str, actor: Actor, action: str, target: models.Model, fields: dict[str, Any]
) -> AuditEvent:
    """Record that ``target`` was just created: None before, every field's first value after."""
    return audit_record(
        organization_id=organization_id, actor=actor, action=action, target=target, changes=changes_between({}, fields)
    )


def audited_delete(
    *, organization_id: UUID | str, actor: Actor, action: str, target: models.Model, fields: dict[str, Any]
) -> None:
    """Record the deletion of ``target`` (its fields' last values), then delete it."""
    audit_record_deletion(organization_id=organization_id, actor=actor, action=action, target=target, fields=fields)
    target.delete()
