"""Moving one organization between Taskhub instances: export to a file, import from it.

The file is the export's gzip NDJSON (``taskhub.organizations.export``, the same as an owner's
``POST organization/exports/`` produces). The import reads it line by line, never whole, and
recreates, in one transaction with row-level security bypassed:

- the organization (optionally under another slug);
- its users, matched by username; a missing user is created (with the exported id when free),
  no usable password and its address unverified (the file proves nothing about it, and a
  verified copy could collide with this instance's owner of the address): they set a password
  with a password reset (``POST /api/v1/auth/password/reset/``), whose link proves the address;
- every tenant-owned row with its id, timestamps and fields as exported: memberships,
  projects (``task_counter`` included), tasks (numbers included), audit events as they were:
  their hash chain is verified as the file streams (an edited, removed or reordered event
  refuses the import), the ids of the users and keys that acted are kept as written (they are
  part of what is hashed), the chain is verified again once stored, and the import appends
  ``organization.imported`` to it. Audit events this database already holds for the
  organization (it was deleted here, and its log kept) are skipped when identical;
- invitations as revoked (accepted ones stay accepted): their token hashes are not exported,
  so no token could ever accept them; each gets a fresh random hash nobody holds;
- API keys: NOT imported. Their hashes are not exported, so the keys could not work; audit
  events that name one keep its label and lose the link. Create new keys after the move.

Every row must belong to the organization of the file's header: a row naming another
organization stops the import before it is written (a crafted file cannot write into another
tenant), and so does a reference to a row the file does not hold. Any refusal rolls the whole
import back.

Ids are random UUIDs, so they are kept. If any of them already exists in this database the
import is refused, unless ``new_ids`` is set, which gives every imported row a new id and
rewrites every reference to it.

The one-document JSON of earlier versions (``{"organization", "users", "tables"}``) is still
read: it is told apart by its first byte (gzip starts with 0x1f 0x8b).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.cache import cache
from django.db import IntegrityError, models, router, transaction
from django.utils import timezone

from taskhub.accounts.models import User
from taskhub.audit import chain
from taskhub.audit.models import AuditEvent
from taskhub.audit.services import os_actor, platform_access_record
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.organizations.export import (
    FORMAT,
    CircularReferences,
    Written,
    encode,
    ordered,
    write_export,
)
from taskhub.organizations.models import Invitation, Organization, slug_matches
from taskhub.organizations.selectors import token_version_cache_key
from taskhub.organizations.services.invitations import hash_token
from taskhub.tenancy.registry import tenant_models

# Tables whose rows cannot work without the secrets the export leaves out.
NOT_IMPORTED = {"accounts.apikey"}
# Rows written per INSERT.
BATCH_ROWS = 1000
GZIP_MAGIC = b"\x1f\x8b"


class TransferError(Exception):
    """The file cannot be imported into this database; nothing was written."""


def find_organization(reference: str) -> Organization:
    found = Organization.objects.filter(slug_matches(reference)).first()
    if found is None:
        with contextlib.suppress(ValueError):
            found = Organization.objects.filter(pk=uuid.UUID(reference)).first()
    if found is None:
        raise TransferError(f"No organization with slug or id {reference!r}.")
    return found


def export_to(
    target: IO[bytes], *, organization: str, reason: str | None = None, person: Actor | None = None
) -> Written:
    """Write the export of the organization named by slug or id to ``target`` (as the platform).

    First, in a transaction of its own (the export may take minutes; the chain's head is not held
    that long), ``organization.exported`` goes into the organization's audit chain with who ran it
    and why: the file then carries the record of its own making.
    """
    person = person or os_actor()
    with rls.bypass("export_organization: record it"):
        found = find_organization(organization)
        platform_access_record(
            organization_id=found.pk,
            person=person,
            action="organization.exported",
            reason=reason or f"export_organization run by {person.label}",
            target=found,
        )
    with rls.bypass("export_organization"):
        return write_export(target, organization_id=found.pk)


def export_file(path: str | None, *, organization: str, reason: str | None = None) -> Written:
    """Write the export to the file ``path``, or to standard output when it is None."""
    if path is None:
        return export_to(sys.stdout.buffer, organization=organization, reason=reason)
    with Path(path).open("wb") as target:
        return export_to(target, organization=organization, reason=reason)


# -- reading ---------------------------------------------------------------------------------


def read_lines(source: IO[bytes]) -> Iterator[dict[str, Any]]:
    """Yield the export's lines from a binary file: gzip NDJSON, or the earlier one-document JSON."""
    head = source.read(2)
    stream = io.BufferedReader(_Prefixed(head, source))
    if head == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
            for number, raw in enumerate(gz, start=1):
                try:
                    line = json.loads(raw)
                except ValueError as exc:
                    raise TransferError(f"line {number}: not JSON: {exc}") from exc
                if not isinstance(line, dict):
                    raise TransferError(f"line {number}: not an object")
                yield line
        return
    try:
        data = json.load(stream)
    except ValueError as exc:
        raise TransferError(f"neither gzip NDJSON nor JSON: {exc}") from exc
    yield from _document_lines(data)


class _Prefixed(io.RawIOBase):
    """A raw stream of ``prefix`` followed by the rest of ``source``: sniffing without seeking."""

    def __init__(self, prefix: bytes, source: IO[bytes]) -> None:
        self.prefix = prefix
        self.source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.prefix:
            size = min(len(buffer), len(self.prefix))
            buffer[:size] = self.prefix[:size]
            self.prefix = self.prefix[size:]
            return size
        data = self.source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _document_lines(data: Any) -> Iterator[dict[str, Any]]:
    """The lines of an export in the earlier one-document JSON format."""
    if not isinstance(data, dict) or "organization" not in data or "tables" not in data:
        raise TransferError("not an organization export (no 'organization' and 'tables')")
    tables: dict[str, list[dict[str, Any]]] = data["tables"]
    yield {"format": FORMAT, "version": 1, "exported_at": data.get("exported_at"), "organization": data["organization"]}
    for user in data.get("users", []):
        yield {"user": user}
    known = {m._meta.label_lower: m for m in tenant_models()}
    labels = [m._meta.label_lower for m in ordered(known[label] for label in tables if label in known)]
    labels += sorted(label for label in tables if label not in known)  # refused by the importer, by name
    counts = {}
    for label in labels:
        counts[label] = len(tables[label])
        for row in tables[label]:
            yield {"table": label, "row": row}
    yield {"end": {"counts": counts}}


# -- writing ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _keeping_timestamps(model_list: list[type[models.Model]]) -> Iterator[None]:
    """Let auto_now/auto_now_add fields take the exported values instead of now."""
    saved = []
    for model in model_list:
        for f in model._meta.concrete_fields:
            if isinstance(f, models.DateField) and (f.auto_now or f.auto_now_add):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _python(model: type[models.Model], row: dict[str, Any]) -> dict[str, Any]:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    unknown = set(row) - set(fields)
    if unknown:
        raise TransferError(f"{model._meta.label_lower}: unknown fields {sorted(unknown)}")
    return {name: (None if value is None else fields[name].to_python(value)) for name, value in row.items()}


class _Importer:
    """One import: the state a streaming pass needs (ids seen and given, users, the current batch)."""

    def __init__(self, *, organization_id: str, new_ids: bool) -> None:
        self.source_organization = organization_id
        self.new_ids = new_ids
        self.models = {m._meta.label_lower: m for m in tenant_models()}
        # Exported id -> id here, for every row written or referred to so far.
        self.ids: dict[str, uuid.UUID] = {}
        # Rows written, and rows referred to before (or without) being written.
        self.written: set[str] = set()
        self.referred: dict[str, str] = {}
        self.skipped: set[str] = set()
        self.users: dict[str, uuid.UUID] = {}
        self.counts: dict[str, int] = {}
        self.batch: list[models.Model] = []
        self.batch_model: type[models.Model] | None = None
        self.done_tables: set[str] = set()
        # The file's audit chain, checked event by event; events of a file from before the chain.
        self.audit = chain.Walker(organization_id=organization_id)
        self.unchained: list[AuditEvent] = []

    def local_id(self, exported: str) -> uuid.UUID:
        found = self.ids.get(exported)
        if found is None:
            found = self.ids[exported] = uuid.uuid4() if self.new_ids else uuid.UUID(exported)
        return found

    def user(self, exported: dict[str, Any]) -> None:
        user = User.objects.filter(username=exported["username"]).first()
        if user is None:
            wanted = uuid.UUID(str(exported["id"]))
            if self.new_ids or User.objects.filter(pk=wanted).exists():
                wanted = uuid.uuid4()
            user = User(id=wanted, username=exported["username"], email=exported.get("email") or "")
            if exported.get("date_joined"):
                user.date_joined = User._meta.get_field("date_joined").to_python(exported["date_joined"])
            user.set_unusable_password()
            user.save(force_insert=True)
        self.users[str(exported["id"])] = user.pk

    def row(self, label: str, row: dict[str, Any], organization: Organization) -> None:
        model = self.models.get(label)
        if model is None or not getattr(model, "exported", True):
            raise TransferError(f"the file has a table this instance does not import: {label}")
        owner = str(row.get("organization_id"))
        if owner != self.source_organization:
            raise TransferError(
                f"{label} {row.get('id')}: belongs to organization {owner}, not the file's "
                f"{self.source_organization}; nothing was imported"
            )
        if label in NOT_IMPORTED:
            self.skipped.add(str(row["id"]))
            self.counts[label] = self.counts.get(label, 0) + 1
            return
        if self.batch_model is not model:
            self.flush()
            if label in self.done_tables:
                raise TransferError(f"{label}: its rows are not together; not an export file")
            self.done_tables.add(label)
            self.batch_model = model
            self._check_columns(model)
        values = _python(model, row)
        exported_id = str(row["id"])
        if exported_id in self.written:
            raise TransferError(f"{label} {exported_id}: twice in the file")
        self.written.add(exported_id)
        values["id"] = self.local_id(exported_id)
        values["organization_id"] = organization.pk
        for f in model._meta.concrete_fields:
            if not isinstance(f, models.ForeignKey) or f.attname == "organization_id" or values.get(f.attname) is None:
                continue
            if not f.db_constraint:  # type: ignore[attr-defined]
                continue  # an id recorded, not a reference (an audit event's actor): kept as written
            values[f.attname] = self._reference(model, f, str(row[f.attname]), exported_id)
        instance = model(**values)
        if isinstance(instance, Invitation):
            _disarm(instance)
        if isinstance(instance, AuditEvent) and not self._audit_event(instance, row, values):
            self.counts[label] = self.counts.get(label, 0) + 1
            return
        self.batch.append(instance)
        self.counts[label] = self.counts.get(label, 0) + 1
        if len(self.batch) >= BATCH_ROWS:
            self.flush()

    def _audit_event(self, event: AuditEvent, row: dict[str, Any], values: dict[str, Any]) -> bool:
        """Check the event's link in the file's chain; False for an event of a file from before the chain,
        kept aside to be chained at the end (``chain_unchained``)."""
        if "hash" not in row:
            self.unchained.append(event)
            return False
        self.audit.add({**values, "id": str(row["id"])})
        if self.audit.result.broken is not None:
            raise TransferError(f"the file's audit chain is broken at {self.audit.result.broken}; nothing was imported")
        return True

    def _reference(self, model: type[models.Model], f: models.ForeignKey[Any, Any], old: str, row_id: str) -> Any:
        label = model._meta.label_lower
        if f.related_model is User:
            # A user who left the organization is not exported: the reference goes, as on delete.
            new = self.users.get(old)
        elif old in self.skipped:
            new = None
        else:
            if old not in self.written:
                self.referred.setdefault(old, f"{label} {row_id}: {f.name} names {old}, not in the file")
            new = self.local_id(old)
        if new is None and not f.null:
            raise TransferError(f"{label} {row_id}: {f.name} {old} cannot be resolved")
        return new

    @staticmethod
    def _check_columns(model: type[models.Model]) -> None:
        # A column the export leaves out must be one this module knows how to fill.
        missing = set(getattr(model, "export_exclude", ())) - ({"token_hash"} if model is Invitation else set())
        if missing:
            raise TransferError(f"{model._meta.label_lower} rows lack {sorted(missing)} and cannot be imported")

    def flush(self) -> None:
        model = self.batch_model
        if model is None or not self.batch:
            return
        if model is AuditEvent and not self.new_ids:
            self.batch = self._audit_not_kept_here(self.batch)
        if not self.new_ids:
            ids = [instance.pk for instance in self.batch]
            if model._default_manager.filter(pk__in=ids).exists():
                raise TransferError("rows with these ids exist in this database (imported before?); use --new-ids")
        try:
            model._default_manager.bulk_create(self.batch)
        except IntegrityError as exc:
            if model is not AuditEvent:
                raise
            # (organization, seq) taken: this database kept another chain for the organization.
            raise TransferError(
                "the file's audit chain and the one this database kept for the organization differ; "
                "nothing was imported"
            ) from exc
        self.batch = []

    @staticmethod
    def _audit_not_kept_here(batch: list[models.Model]) -> list[models.Model]:
        """Leave out the events this database kept for the organization (deleted here, now restored),
        each identical to the file's; any other event with an id taken refuses the import."""
        kept = dict(AuditEvent.objects.filter(pk__in=[event.pk for event in batch]).values_list("pk", "hash"))
        if not kept:
            return batch
        for event in batch:
            if event.pk in kept and kept[event.pk] != event.hash:  # type: ignore[attr-defined]
                raise TransferError(f"audit event {event.pk} exists here with other contents; nothing was imported")
        return [event for event in batch if event.pk not in kept]

    def finish(self, expected: dict[str, int]) -> None:
        self.flush()
        missing = [why for exported, why in self.referred.items() if exported not in self.written]
        if missing:
            raise TransferError(missing[0])
        if {k: v for k, v in expected.items() if v} != {k: v for k, v in self.counts.items() if v}:
            raise TransferError(f"the file's trailer counts {expected}, its rows {self.counts}: not a whole export")
        verified = self.audit.finish()
        if verified.broken is not None:
            raise TransferError(f"the file's audit chain is broken at {verified.broken}; nothing was imported")
        if self.unchained and verified.count:
            raise TransferError("the file's audit events are partly chained: not an export file")

    def chain_unchained(self) -> int:
        """Chain the events of a file from before hash chains, oldest first, after any the organization has."""
        if not self.unchained:
            return 0
        events = sorted(self.unchained, key=lambda event: (event.created_at, str(event.pk)))
        previous = chain.GENESIS_HASH
        for seq, event in enumerate(events, start=1):
            event.seq, event.prev_hash = seq, previous
            event.hash = previous = chain.event_hash({name: getattr(event, name) for name in chain.HASHED_FIELDS})
        if not self.new_ids and AuditEvent.objects.filter(pk__in=[event.pk for event in events]).exists():
            raise TransferError("rows with these ids exist in this database (imported before?); use --new-ids")
        AuditEvent.objects.bulk_create(events)
        return len(events)


def import_lines(
    lines: Iterator[dict[str, Any]],
    *,
    slug: str | None = None,
    new_ids: bool = False,
    reason: str | None = None,
    person: Actor | None = None,
) -> Organization:
    """Import an export from its lines (``read_lines``); return the new organization (see module doc)."""
    header = next(lines, None)
    if not header or header.get("format") != FORMAT or not isinstance(header.get("organization"), dict):
        raise TransferError("not an organization export (no header line)")
    organization_row = _python(Organization, header["organization"])
    if slug:
        organization_row["slug"] = slug
    source = str(header["organization"]["id"])
    importer = _Importer(organization_id=source, new_ids=new_ids)
    try:
        importable = ordered(m for m in tenant_models() if getattr(m, "exported", True))
    except CircularReferences as exc:
        raise TransferError(str(exc)) from exc

    with rls.bypass("import_organization"), _keeping_timestamps([Organization, *importable]):
        if Organization.objects.filter(slug_matches(organization_row["slug"])).exists():
            raise TransferError(f"an organization with slug {organization_row['slug']!r} exists; use --slug")
        organization_id = importer.local_id(source)
        if not new_ids and Organization.objects.filter(pk=organization_id).exists():
            raise TransferError("rows with these ids exist in this database (imported before?); use --new-ids")
        organization = Organization(**{**organization_row, "id": organization_id})
        organization.save(force_insert=True)
        importer.written.add(source)

        expected: dict[str, int] | None = None
        for line in lines:
            if "user" in line:
                importer.user(line["user"])
            elif "table" in line:
                importer.row(str(line["table"]), dict(line["row"]), organization)
            elif "end" in line:
                expected = dict(line["end"].get("counts", {}))
        if expected is None:
            raise TransferError("the file ends before its trailer line: cut short, nothing was imported")
        importer.finish(expected)
        _finish_audit_chain(importer, organization, reason=reason, person=person or os_actor())
        members = [(organization.pk, user_id) for user_id in importer.users.values()]

        def forget_revocations() -> None:
            # Deleting the exported organization here cached its memberships as revoked.
            with contextlib.suppress(Exception):
                cache.delete_many([token_version_cache_key(organization_id=o, user_id=u) for o, u in members])

        transaction.on_commit(forget_revocations)
    return organization


def _finish_audit_chain(importer: _Importer, organization: Organization, *, reason: str | None, person: Actor) -> None:
    """Point the organization's chain head at its last event, record the import in it, verify it whole."""
    built = importer.chain_unchained()
    chain.reset_head(organization.pk, using=router.db_for_write(AuditEvent))
    details: dict[str, Any] = {"new_ids": importer.new_ids}
    if importer.new_ids:
        details["source_organization_id"] = importer.source_organization
    if built:
        details["chain"] = f"{built} events chained on import: the file predates the hash chain"
    platform_access_record(
        organization_id=organization.pk,
        person=person,
        action="organization.imported",
        reason=reason or f"import_organization run by {person.label}",
        target=organization,
        details=details,
    )
    verified = chain.verify(organization.pk)
    if verified.broken is not None:
        raise TransferError(f"the imported audit chain does not hold at {verified.broken}; nothing was imported")


def import_file(
    source: IO[bytes], *, slug: str | None = None, new_ids: bool = False, reason: str | None = None
) -> Organization:
    """Import an export from a binary file (gzip NDJSON, or the earlier JSON document)."""
    try:
        return import_lines(read_lines(source), slug=slug, new_ids=new_ids, reason=reason)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise TransferError(f"unreadable export file: {exc}") from exc


def _disarm(invitation: Invitation) -> None:
    """No exported token can accept an imported invitation: pending ones become revoked."""
    invitation.token_hash = hash_token(secrets.token_urlsafe(32))
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()


def encode_line(line: dict[str, Any]) -> bytes:
    """One line of an export file (for tools and tests that write one)."""
    return encode(line).encode() + b"\n"
