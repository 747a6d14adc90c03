"""Emitting events: the one call a service makes when something a webhook may want happened.

``emit`` runs inside the caller's transaction. It writes the event (the outbox row) and queues
one delivery job per active webhook subscribed to its type, both through the same database
connection, so a change that rolls back sends nothing and a committed one never loses its
deliveries (docs/jobs.md: a job belongs to the transaction that queued it).

An organization without webhooks pays nothing but a cache read, and on a tenant endpoint not
even its round trip: whether it has any webhook is cached (``webhooks:any:<organization>``), set
on every webhook write, read ahead with the request's throttles (taskhub.core.read_ahead), and
read from the database (one indexed query) only when the cache does not know.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder

from taskhub.core import jobs, read_ahead
from taskhub.webhooks.catalog import EVENT_TYPES, subscribed
from taskhub.webhooks.models import Event, Webhook

logger = logging.getLogger(__name__)

DELIVER_JOB = "webhooks.deliver"


def flag_key(organization_id: UUID | str) -> str:
    """Whether the organization has any webhook (1), has none (0), or is not known (not cached).

    Read ahead for every write (taskhub.core.read_ahead; registered in WebhooksConfig.ready).
    """
    return f"webhooks:any:{organization_id}"


def remember_webhooks_exist(*, organization_id: UUID | str) -> None:
    """Note that the organization has a webhook now; every webhook write calls it.

    A write, not a delete: a reader that found none before this write committed and caches
    "none" afterwards only ``add``s, which fails while this value is there.
    """
    key = flag_key(organization_id)
    # A value this request read ahead is older than this write.
    read_ahead.forget(key)
    try:
        cache.set(key, 1, timeout=settings.WEBHOOK_CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable: webhook flag not written", exc_info=True)


def _known_to_have_none(organization_id: UUID | str) -> bool:
    key = flag_key(organization_id)
    value = read_ahead.lookup(key)
    if value is not read_ahead.MISSING:
        return bool(value == 0)
    try:
        return cache.get(key) == 0
    except Exception:
        logger.warning("cache unavailable: webhooks looked up in the database", exc_info=True)
        return False


def _remember_none(organization_id: UUID | str) -> None:
    read_ahead.forget(flag_key(organization_id))
    try:
        cache.add(flag_key(organization_id), 0, timeout=settings.WEBHOOK_CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable: webhook flag not written", exc_info=True)


def encoded(value: Any) -> str:
    """JSON as deliveries send it: compact, keys in the order given, UUIDs and datetimes as strings."""
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def _bounded(data: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The data, or only its object's id when the whole would pass ``WEBHOOK_MAX_PAYLOAD_BYTES``.

    Product events carry ``{"object": {...}, "changes"?: {...}}``: the id is the object's, so a
    receiver can fetch it (a long description changed, sent before and after, can pass the limit).
    """
    if len(encoded(data).encode()) <= settings.WEBHOOK_MAX_PAYLOAD_BYTES:
        return data
    logger.warning("webhook event too large: only its object's id is sent", extra={"event_type": event_type})
    found = data.get("object")
    object_id = found.get("id") if isinstance(found, dict) else data.get("id")
    return {"object": {"id": object_id}, "truncated": True}


def event_record(*, organization_id: UUID | str, type: str, data: dict[str, Any]) -> Event:
    """Write the event row (the outbox) in the current transaction."""
    event = Event(organization_id=organization_id, type=type, data=json.loads(encoded(_bounded(data, type))))
    event.save(force_insert=True)
    return event


def delivery_queue(
    *,
    organization_id: UUID | str,
    webhook_id: UUID | str,
    event_id: UUID | str,
    attempt: int,
    retry: int | None,
    delay_seconds: float | None = None,
) -> None:
    """Queue one attempt to deliver an event to a webhook.

    ``retry``: the index into ``WEBHOOK_RETRY_SCHEDULE_SECONDS`` this attempt is at, or None for
    a single attempt that no automatic retry follows (a redelivery).
    """
    jobs.enqueue(
        DELIVER_JOB,
        organization_id=organization_id,
        schedule_in_seconds=delay_seconds,
        webhook_id=str(webhook_id),
        event_id=str(event_id),
        attempt=attempt,
        retry=retry,
    )


def emit(
    *,
    organization_id: UUID,
    type: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
) -> None:
    """Record an event of the organization and queue its delivery to every subscribed webhook.

    Call it inside the transaction of the change (a service's ``@transaction.atomic``). ``type``
    is one of ``catalog.EVENT_TYPES``; ``data`` is JSON (UUIDs, dates and decimals are turned
    into strings), or a function returning it, called only when some webhook receives the event
    (so an organization without webhooks never pays for building it). With no subscribed webhook
    nothing is written.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type!r}; add it to taskhub.webhooks.catalog")
    if _known_to_have_none(organization_id):
        return
    webhooks = list(Webhook.objects.filter(organization_id=organization_id).values_list("pk", "events", "active"))
    if not webhooks:
        _remember_none(organization_id)
        return
    targets = [pk for pk, events, active in webhooks if active and subscribed(events, type)]
    if not targets:
        return
    event = event_record(organization_id=organization_id, type=type, data=data() if callable(data) else data)
    for webhook_id in targets:
        delivery_queue(organization_id=organization_id, webhook_id=webhook_id, event_id=event.pk, attempt=1, retry=0)
