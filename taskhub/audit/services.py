"""Recording audit events; every write service of the product calls ``audit_record``.

Each event is appended to its organization's hash chain (taskhub.audit.chain) with every
secret redacted (taskhub.audit.redaction), whatever the caller passed. Platform access (staff
in the admin, export and import commands, support tooling) is recorded in the chain of the
organization it touched (``platform_access_record``); the retention purge is the only way
events go, and records itself (``audit_purge``). docs/audit.md.
"""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router

from taskhub.audit import chain
from taskhub.audit.database import PURGE_SETTING
from taskhub.audit.models import AuditEvent, ChainHead
from taskhub.audit.redaction import redact, redact_text
from taskhub.core import rls
from taskhub.core.actor import Actor

logger = logging.getLogger(__name__)


def changes_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Return ``{field: [old, new]}`` for each field whose value changed."""
    return {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}


def _stored(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` as the database gives them back (JSON types only), so the hash is taken over that."""
    return dict(json.loads(json.dumps(changes, cls=DjangoJSONEncoder)))


def audit_record(
    *,
    organization_id: UUID | str,
    actor: Actor,
    action: str,
    target: models.Model,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that ``actor`` did ``action`` to ``target``, at the head of the organization's chain.

    Secrets are redacted here, by field name and by look, whatever ``changes`` holds
    (taskhub.audit.redaction). Costs the write one extra indexed read (the chain's head, locked
    until the caller's transaction ends: appends of one organization take turns).
    """
    ip_field = AuditEvent._meta.get_field("ip_address")
    event = AuditEvent(
        organization_id=organization_id,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        # A user without a label of their own is labelled by username, read with the chain's head.
        actor_label=redact_text(actor.label)[:200],
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=redact_text(str(target))[:200],
        changes=_stored(redact(changes or {})),
        ip_address=ip_field.get_prep_value(actor.ip),
        request_id=redact_text(actor.request_id),
    )
    return chain.append(event, label_of=None if actor.label else actor.user_id)


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


# -- platform access ----------------------------------------------------------------------------


def os_actor() -> Actor:
    """The person running a management command, as the operating system knows them."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container without /etc/passwd entry)
        name = "unknown"
    return Actor(user_id=None, label=f"os:{name}")


def staff_actor(user: Any, *, ip: str | None = None, request_id: str = "") -> Actor:
    """A platform staff member (the Django admin), labelled apart from the organization's members."""
    return Actor(user_id=user.pk, label=f"staff:{user.get_username()}", ip=ip, request_id=request_id)


def platform_access_record(
    *,
    organization_id: UUID | str,
    person: Actor,
    action: str,
    reason: str,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record in the organization's own chain that the platform read or changed its data for ``person``.

    ``action`` is ``platform.viewed``, ``platform.changed``, ``organization.exported``, ...;
    ``reason`` says why (the admin page, the command's ``--reason``). The organization's admins
    see it in ``audit-events/``.
    """
    return audit_record(
        organization_id=organization_id,
        actor=person,
        action=action,
        target=target if target is not None else ChainHead(organization_id=organization_id),
        changes={"reason": reason, **(details or {})},
    )


# -- retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purged:
    organization_id: str
    events: int
    through_seq: int
    chain_removed: bool


def audit_purge(
    *,
    person: Actor,
    reason: str,
    retention_days: int | None = None,
    now: datetime | None = None,
    organization_id: UUID | str | None = None,
) -> list[Purged]:
    """Remove the events older than the retention (``AUDIT_RETENTION_DAYS``, 400), as the platform.

    Per organization, in one transaction with its chain's head locked: the oldest events go (a
    prefix of the chain: time and place agree), and ``audit.purged`` is appended with the
    ``seq`` and ``hash`` of the last one removed, the anchor verification starts from. A
    deleted organization whose every event is past the retention loses its chain entirely
    (nobody is left to show it to; the process log says so).
    """
    days = settings.AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    if days < 1:
        raise ValueError("The audit retention is at least one day.")
    cutoff = (now or chain.now()) - timedelta(days=days)
    with rls.bypass("purge_audit_events: list the chains to trim"):
        candidates = AuditEvent.objects.filter(created_at__lt=cutoff)
        if organization_id is not None:
            candidates = candidates.filter(organization_id=organization_id)
        organizations = sorted({str(o) for o in candidates.values_list("organization_id", flat=True).distinct()})
    done = []
    for organization in organizations:
        with rls.bypass(f"purge_audit_events: organization {organization}"):
            result = _purge_one(organization, cutoff=cutoff, days=days, person=person, reason=reason)
        if result is not None:
            done.append(result)
    return done


def _purge_one(organization_id: str, *, cutoff: datetime, days: int, person: Actor, reason: str) -> Purged | None:
    from taskhub.organizations.models import Organization  # noqa: PLC0415 - organizations imports this module

    using = router.db_for_write(AuditEvent)
    events = AuditEvent.objects.using(using).filter(organization_id=organization_id)
    chain.lock_head(using, organization_id)
    last = events.filter(created_at__lt=cutoff).order_by("-seq").values_list("seq", "hash").first()
    if last is None:
        return None
    through, anchor = last
    _allow_purge(using)
    exists = Organization.objects.using(using).filter(pk=organization_id).exists()
    if not exists and not events.filter(seq__gt=through).exists():
        count, _ = events.delete()
        ChainHead.objects.using(using).filter(organization_id=organization_id).delete()
        logger.warning(
            "audit chain of deleted organization %s removed: all %d events past %d days", organization_id, count, days
        )
        return Purged(organization_id, count, through, chain_removed=True)
    count, _ = events.filter(seq__lte=through).delete()
    platform_access_record(
        organization_id=organization_id,
        person=person,
        action=chain.PURGED,
        reason=reason,
        details={
            "anchor": {"seq": through, "hash": anchor},
            "events": count,
            "before": chain.timestamp(cutoff),
            "retention_days": days,
        },
    )
    logger.info("audit events purged: organization %s, %d events through seq %d", organization_id, count, through)
    return Purged(organization_id, count, through, chain_removed=False)


def _allow_purge(using: str) -> None:
    """Let this transaction's DELETEs of audit events through the append-only trigger (platform role only)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    assert connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
