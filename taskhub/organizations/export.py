"""Everything an organization owns, written as gzip-compressed NDJSON (docs/exports.md).

One JSON object per line, in an order an import can follow without holding the file:

1. the header: ``{"format", "version", "exported_at", "organization": {...}}``;
2. one ``{"user": {...}}`` per member's account (id, username, email, date_joined);
3. one ``{"table": "app.model", "row": {...}}`` per row, tables in dependency order (a table
   comes after every tenant table it refers to), each table's rows by id (audit events in the
   order of their hash chain, which the import verifies);
4. the trailer: ``{"end": {"counts": {"app.model": n, ...}}}``; a file without it was cut short.

Rows are read as values from server-side cursors in chunks, never as model instances and never
all at once. Secrets stay out: a model names its own in ``export_exclude`` (hashes of API keys
and invitation tokens; password hashes are never read). A model with ``exported = False`` (the
exports themselves) is left out.

The caller decides whose eyes read: the export job runs inside the organization's tenant
context (row-level security), ``manage.py export_organization`` through ``rls.bypass``.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router
from django.utils import timezone

from taskhub.accounts.models import User
from taskhub.organizations.models import Membership, Organization
from taskhub.tenancy.registry import tenant_models

FORMAT = "taskhub.organization-export"
VERSION = 2
# Rows fetched per round trip from a server-side cursor, and the most one export holds at once.
CHUNK_ROWS = 2000
# zlib's default: most of the size gain of 9 at a fraction of its time.
GZIP_LEVEL = 6


class ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, but datetimes keep their microseconds (it cuts them to milliseconds)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


_encoder = ExactJSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(value: Any) -> str:
    return _encoder.encode(value)


class CircularReferences(Exception):
    """Tenant models refer to each other in a circle: no order lets an import stream."""


def ordered(model_list: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """Order models so that every tenant model a model refers to comes before it."""
    remaining = {m._meta.label_lower: m for m in model_list}
    result: list[type[models.Model]] = []
    while remaining:
        ready = [
            label
            for label, model in remaining.items()
            if not any(
                f.related_model._meta.label_lower in remaining and f.related_model is not model
                for f in model._meta.concrete_fields
                if isinstance(f, models.ForeignKey) and f.related_model is not None
            )
        ]
        if not ready:
            raise CircularReferences(f"circular references between {sorted(remaining)}")
        for label in sorted(ready):
            result.append(remaining.pop(label))
    return result


def exported_models() -> list[type[models.Model]]:
    """The tenant models an export carries, in dependency order."""
    return ordered(m for m in tenant_models() if getattr(m, "exported", True))


def exported_fields(model: type[models.Model]) -> list[str]:
    excluded = set(getattr(model, "export_exclude", ()))
    return [f.attname for f in model._meta.concrete_fields if f.attname not in excluded]


def _identity_fields(model: type[models.Model]) -> set[str]:
    """Columns an import may rewrite: the id, the organization, references to other tenant rows."""
    names = {model._meta.pk.attname} if model._meta.pk else set()
    for f in model._meta.concrete_fields:
        if isinstance(f, models.ForeignKey) and f.related_model is not User:
            names.add(f.attname)
    return names


@dataclass
class TableDigest:
    """Rows of one table counted, and a checksum of their contents that ignores ids and row order.

    Ids and references to other tenant rows are left out of the checksum, so an import with
    ``--new-ids`` digests the same as its source.
    """

    count: int = 0
    _sum: int = 0
    _skip: set[str] = field(default_factory=set)

    def add(self, row: dict[str, Any]) -> None:
        content = encode({k: v for k, v in sorted(row.items()) if k not in self._skip})
        self._sum = (self._sum + int.from_bytes(hashlib.sha256(content.encode()).digest())) % 2**256
        self.count += 1

    @property
    def checksum(self) -> str:
        return f"{self._sum:064x}"


def _rows(model: type[models.Model], names: list[str], organization_id: UUID) -> Iterator[dict[str, Any]]:
    """The organization's rows of ``model`` as dicts of ``names``, a chunk at a time: by id, or by the
    unique column a model names in ``export_order`` (audit events: their place in the chain)."""
    order = getattr(model, "export_order", model._meta.pk.attname)
    queryset = model._default_manager.filter(organization_id=organization_id).order_by(order)
    connection = connections[router.db_for_read(model)]
    if connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        # Behind pgbouncer a cursor would fetch the whole table into memory: pages by id instead.
        last = None
        while True:
            after = queryset if last is None else queryset.filter(**{f"{order}__gt": last})
            page = list(after.values_list(*names)[:CHUNK_ROWS])
            for values in page:
                yield dict(zip(names, values, strict=True))
            if len(page) < CHUNK_ROWS:
                return
            last = page[-1][names.index(order)]
    for values in queryset.values_list(*names).iterator(chunk_size=CHUNK_ROWS):
        yield dict(zip(names, values, strict=True))


def export_lines(*, organization_id: UUID, digests: dict[str, TableDigest] | None = None) -> Iterator[dict[str, Any]]:
    """Yield the export's lines as objects (the module doc); count and digest rows into ``digests``."""
    digests = {} if digests is None else digests
    organization = Organization.objects.values().get(pk=organization_id)
    yield {"format": FORMAT, "version": VERSION, "exported_at": timezone.now(), "organization": organization}
    users = (
        Membership.objects.filter(organization_id=organization_id)
        .order_by("user_id")
        .values_list("user_id", "user__username", "user__email", "user__date_joined")
    )
    for user_id, username, email, date_joined in users.iterator(chunk_size=CHUNK_ROWS):
        yield {"user": {"id": user_id, "username": username, "email": email, "date_joined": date_joined}}
    for model in exported_models():
        label = model._meta.label_lower
        digest = digests.setdefault(label, TableDigest(_skip=_identity_fields(model)))
        for row in _rows(model, exported_fields(model), organization_id):
            digest.add(row)
            yield {"table": label, "row": row}
    yield {"end": {"counts": {label: digest.count for label, digest in digests.items()}}}


@dataclass(frozen=True)
class Written:
    """What ``write_export`` wrote: bytes, their SHA-256, rows per table and table checksums."""

    size: int
    sha256: str
    counts: dict[str, int]
    checksums: dict[str, str]


class _Counting:
    """A binary file wrapper that counts and hashes what goes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.size = 0
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.hash.update(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def write_export(target: IO[bytes], *, organization_id: UUID) -> Written:
    """Write the organization's export, gzip-compressed, to the binary file ``target``."""
    counting = _Counting(target)
    digests: dict[str, TableDigest] = {}
    # mtime=0: the same rows give the same bytes.
    with gzip.GzipFile(fileobj=counting, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
        for line in export_lines(organization_id=organization_id, digests=digests):
            gz.write(encode(line).encode() + b"\n")
    return Written(
        size=counting.size,
        sha256=counting.hash.hexdigest(),
        counts={label: d.count for label, d in digests.items()},
        checksums={label: d.checksum for label, d in digests.items()},
    )


def organization_digests(*, organization_id: UUID) -> dict[str, tuple[int, str]]:
    """Rows and content checksum of each exported table of the organization, read from the database."""
    digests: dict[str, TableDigest] = {}
    for _line in export_lines(organization_id=organization_id, digests=digests):
        pass
    return {label: (d.count, d.checksum) for label, d in digests.items()}
