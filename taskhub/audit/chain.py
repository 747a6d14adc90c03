"""Each organization's audit events as a hash chain: appended in one line, verified link by link.

An event stores its place in the organization's chain (``seq``: 1, 2, ...), the hash of the
event before it (``prev_hash``; ``GENESIS_HASH`` for the first) and its own ``hash``: SHA-256
over its canonical encoding (``canonical``), which covers every stored field but two: the
row's own ``id`` and its ``organization_id``. Those two are where the event is filed, not what
it says, and an import with ``--new-ids`` gives both new values, so the chain (and a head hash
a tenant pinned) verifies the same on the instance the organization moved to. An event moved
to another organization still breaks both chains: it leaves a gap in one and an extra link in
the other.

Appends are serialized per organization by its ``ChainHead`` row, locked until the appending
transaction ends: a second writer waits for the first to commit and then reads the head the
first left, so two concurrent writes cannot both follow the same event (the unique
``(organization, seq)`` constraint would refuse the second even if they could). An append is
two statements on either database: the head's locking read (an upsert on its primary key, so
the organization's first event needs nothing more), then the event's INSERT, whose trigger
moves the head to it (taskhub.audit.database). What it adds to a write is that one indexed
statement.

The retention purge (``purge``) removes a prefix of a chain and appends ``audit.purged``,
whose changes name the last removed event's ``seq`` and ``hash``: the anchor from which
verification accepts a chain that no longer starts at 1.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import Field
from django.utils import timezone

from taskhub.audit.models import GENESIS_HASH, AuditEvent, ChainHead
from taskhub.audit.redaction import redact_text

logger = logging.getLogger(__name__)

# The encoding's version, inside what is hashed: a later encoding can coexist with this one.
ENCODING_VERSION = 1
PURGED = "audit.purged"
# The fields an event's hash covers, as the database returns them.
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "created_at",
    "actor_user_id",
    "actor_api_key_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "changes",
    "ip_address",
    "request_id",
)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


# -- the canonical encoding -----------------------------------------------------------------


def timestamp(value: datetime) -> str:
    """One fixed text for a moment: UTC, microseconds, ``Z`` (``2026-12-03T17:09:00.000000Z``)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _plain(value: Any) -> Any:
    """JSON values as any database gives them back: a whole float is the integer it equals."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def canonical(values: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash is taken over: sorted-key compact JSON of ``HASHED_FIELDS``."""
    record: dict[str, Any] = {"v": ENCODING_VERSION}
    for name in HASHED_FIELDS:
        value = values[name]
        if name == "created_at":
            value = timestamp(value)
        elif name in ("actor_user_id", "actor_api_key_id"):
            value = str(value) if value is not None else None
        elif name == "changes":
            value = _plain(value)
        record[name] = value
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def _values(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


# -- appending ------------------------------------------------------------------------------


def now() -> datetime:
    """The clock appends read (tests replace it to write events in the past)."""
    return timezone.now()


def append(event: AuditEvent, *, label_of: UUID | str | None = None) -> AuditEvent:
    """Give ``event`` its place, time and hashes at the head of its organization's chain, and store it.

    ``label_of``: a user whose username becomes the event's ``actor_label`` (redacted, at most 200
    characters), read by the statement that locks the head rather than by one of its own.
    """
    using = router.db_for_write(AuditEvent)
    # In the caller's transaction without a savepoint (two statements saved); alone, in its own.
    with transaction.atomic(using=using, savepoint=False):
        seq, prev_hash, last_at, username = _lock_head(using, event.organization_id, username_of=label_of)
        if label_of is not None:
            event.actor_label = redact_text(username or "")[:200]
        moment = now()
        # Never before the event it follows (another host's clock may be ahead): order and time agree.
        event.created_at = max(moment, last_at) if last_at else moment
        event.seq = seq + 1
        event.prev_hash = prev_hash
        event.hash = event_hash(_values(event))
        # The INSERT's trigger moves the head to it (taskhub.audit.database).
        event.save(force_insert=True, using=using)
    return event


def lock_head(using: str, organization_id: UUID | str) -> tuple[int, str, datetime | None]:
    """Lock the organization's head row until the transaction ends and return it (seq, hash, time).

    One statement, whether or not the row exists yet: an upsert on its primary key, which
    creates it (seq 0, the genesis hash) for the organization's first event, or else locks it
    (``DO UPDATE`` of nothing) and returns it. A concurrent append waits for the lock and then
    reads the head the other one left.
    """
    seq, value, at, _ = _lock_head(using, organization_id, username_of=None)
    return seq, value, at


def _lock_head(
    using: str, organization_id: UUID | str, *, username_of: UUID | str | None
) -> tuple[int, str, datetime | None, str | None]:
    """``lock_head``, and in the same statement the username of the user ``username_of`` (or None)."""
    connection = connections[using]
    table = connection.ops.quote_name(ChainHead._meta.db_table)
    key = ChainHead._meta.get_field("organization_id").get_db_prep_value(organization_id, connection)
    parameters = [key, GENESIS_HASH]
    username = "NULL"
    if username_of is not None:
        user = get_user_model()
        quote = connection.ops.quote_name
        name_column = quote(str(cast("Field[Any, Any]", user._meta.get_field(user.USERNAME_FIELD)).column))
        table_name, pk_column = quote(user._meta.db_table), quote(str(user._meta.pk.column))
        username = f"(SELECT {name_column} FROM {table_name} WHERE {pk_column} = %s)"  # noqa: S608 - names, value bound
        parameters.append(user._meta.pk.get_db_prep_value(username_of, connection))
    sql = (
        f'INSERT INTO {table} ("organization_id", "seq", "hash", "created_at") VALUES (%s, 0, %s, NULL) '  # noqa: S608
        f'ON CONFLICT ("organization_id") DO UPDATE SET "seq" = {table}."seq" '
        f'RETURNING "seq", "hash", "created_at", {username}'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        seq, value, at, name = cursor.fetchone()
    return int(seq), str(value), _moment(at), name


def _moment(value: Any) -> datetime | None:
    """A time from a raw cursor: PostgreSQL gives it aware, SQLite as naive UTC (or its text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


# -- verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first place a chain does not hold: the event there (or where it should be) and why."""

    seq: int
    event_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id else "no event"
        return f"seq {self.seq} ({where}): {self.reason}"


@dataclass
class Verified:
    """What walking one organization's chain found."""

    organization_id: str
    count: int = 0
    first_seq: int | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    broken: Break | None = None
    anchors: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.broken is None


def _anchor(event: Mapping[str, Any]) -> tuple[int, str] | None:
    changes = event.get("changes") or {}
    anchor = changes.get("anchor") if isinstance(changes, dict) else None
    if event.get("action") != PURGED or not isinstance(anchor, dict):
        return None
    seq, value = anchor.get("seq"), anchor.get("hash")
    return (seq, value) if isinstance(seq, int) and isinstance(value, str) else None


class Walker:
    """Checks a chain fed event by event in ``seq`` order (``add``), then ``finish``: see ``walk``."""

    def __init__(self, *, organization_id: str = "") -> None:
        self.result = Verified(organization_id=organization_id)
        self._previous: tuple[int, str] | None = None
        self._first: tuple[int, str, str] | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        result = self.result
        seq, stored = int(event["seq"]), str(event["hash"])
        event_id = str(event["id"])
        anchor = _anchor(event)
        if anchor:
            result.anchors[anchor[0]] = anchor[1]
        previous = self._previous
        if result.broken is None:
            if previous is None:
                self._first = (seq, str(event["prev_hash"]), event_id)
            elif seq != previous[0] + 1:
                missing = previous[0] + 1
                result.broken = Break(
                    missing if seq > missing else seq,
                    event_id,
                    f"expected seq {missing} after seq {previous[0]}, found seq {seq}: "
                    + ("events are missing" if seq > missing else "events are out of order or repeated"),
                )
            elif event["prev_hash"] != previous[1]:
                result.broken = Break(
                    seq, event_id, f"its previous hash is not the hash of the event at seq {previous[0]}"
                )
            if result.broken is None and event_hash(event) != stored:
                result.broken = Break(seq, event_id, "its contents do not match its hash (edited after it was written)")
        self._previous = (seq, stored)
        result.count += 1

    def finish(self, head: tuple[int, str] | None = None) -> Verified:
        result = self.result
        if self._first is not None:
            start, prev_hash, event_id = self._first
            result.first_seq = start
            if start == 1 and prev_hash != GENESIS_HASH:
                result.broken = Break(1, event_id, "the first event does not follow the genesis hash")
            elif start != 1 and result.anchors.get(start - 1) != prev_hash:
                # Earlier than anything the walk found: a start the purge did not record.
                result.broken = Break(
                    start,
                    event_id,
                    f"the chain starts at seq {start}, but no audit.purged event anchors seq {start - 1} "
                    "with this event's previous hash (events were removed)",
                )
        if self._previous is not None:
            result.head_seq, result.head_hash = self._previous
        if result.broken is None and head is not None and head[0] > 0 and head != (result.head_seq, result.head_hash):
            result.broken = Break(
                result.head_seq + 1 if head[0] > result.head_seq else head[0],
                None,
                f"the chain's recorded head is seq {head[0]} (hash {head[1][:12]}...), but its last event is seq "
                f"{result.head_seq}: events at the end were removed or the head was changed",
            )
        return result


def walk(
    events: Iterable[Mapping[str, Any]], *, organization_id: str = "", head: tuple[int, str] | None = None
) -> Verified:
    """Check a chain given as its events in ``seq`` order (dicts of ``HASHED_FIELDS`` plus ``id``
    and ``action``); ``head`` is the recorded head ``(seq, hash)``, when there is one.

    Each event's hash must be the hash of its contents, each ``prev_hash`` the hash of the event
    before, each ``seq`` one more than the last. The first event is seq 1 after the genesis hash,
    or the event right after the anchor of an ``audit.purged`` event later in the chain. The
    result names the first event where any of this fails.
    """
    walker = Walker(organization_id=organization_id)
    for event in events:
        walker.add(event)
    return walker.finish(head)


def stored_events(organization_id: UUID | str, *, using: str | None = None) -> Iterator[dict[str, Any]]:
    """An organization's events in chain order, as values (never model instances), a chunk at a time."""
    using = using or router.db_for_read(AuditEvent)
    queryset = AuditEvent.objects.using(using).filter(organization_id=organization_id).order_by("seq")
    yield from queryset.values("id", "hash", *HASHED_FIELDS).iterator(chunk_size=2000)


# Walks of a chain that grew while it was read (see ``verify``) before its end is called broken.
VERIFY_ATTEMPTS = 3


def verify(organization_id: UUID | str, *, using: str | None = None) -> Verified:
    """Walk the organization's chain as stored, against its recorded head.

    The head and the events are read by two statements, each with its own snapshot: an event
    committed between them ends the walk past the head it read. An event and the head's move
    commit together, so reading again sees them agree; only an end that still disagrees after
    ``VERIFY_ATTEMPTS`` walks (events removed at the end, a head changed) is reported.
    """
    using = using or router.db_for_read(AuditEvent)
    for _ in range(VERIFY_ATTEMPTS):
        head = ChainHead.objects.using(using).filter(organization_id=organization_id).values_list("seq", "hash").first()
        result = walk(stored_events(organization_id, using=using), organization_id=str(organization_id), head=head)
        grew = head is not None and result.broken is not None and result.broken.event_id is None
        if not grew or head is None or result.head_seq <= head[0]:
            return result
    return result


def organizations_with_events(*, using: str | None = None) -> list[str]:
    """Every organization with a chain (deleted ones included: their events are kept)."""
    using = using or router.db_for_read(AuditEvent)
    heads = set(ChainHead.objects.using(using).values_list("organization_id", flat=True))
    events = set(AuditEvent.objects.using(using).values_list("organization_id", flat=True).distinct())
    return sorted(str(organization_id) for organization_id in heads | events)


def reset_head(organization_id: UUID | str, *, using: str = DEFAULT_DB_ALIAS) -> tuple[int, str]:
    """Point the organization's head at its last stored event (after an import wrote its chain)."""
    last = (
        AuditEvent.objects.using(using)
        .filter(organization_id=organization_id)
        .order_by("-seq")
        .values_list("seq", "hash", "created_at")
        .first()
    )
    seq, value, at = last if last else (0, GENESIS_HASH, None)
    ChainHead.objects.using(using).update_or_create(
        organization_id=organization_id, defaults={"seq": seq, "hash": value, "created_at": at}
    )
    return seq, value
