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
  projects (``task_counter`` included), tasks (numbers included), audit events as they were;
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
from django.db import models, transaction
from django.utils import timezone

from taskhub.accounts.models import User
from taskhub.core import rls
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


def export_to(target: IO[bytes], *, organization: str) -> Written:
    """Write the export of the organization named by slug or id to ``target`` (as the platform)."""
    with rls.bypass("export_organization"):
        found = find_organization(organization)
        return write_export(target, organization_id=found.pk)


def export_file(path: str | None, *, organization: str) -> Written:
    """Write the export to the file ``path``, or to standard output when it is None."""
    if path is None:
        return export_to(sys.stdout.buffer, organization=organization)
    with Path(path).open("wb") as target:
        return export_to(target, organization=organization)


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
            values[f.attname] = self._reference(model, f, str(row[f.attname]), exported_id)
        instance = model(**values)
        if isinstance(instance, Invitation):
            _disarm(instance)
        self.batch.append(instance)
        self.counts[label] = self.counts.get(label, 0) + 1
        if len(self.batch) >= BATCH_ROWS:
            self.flush()

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
        if not self.new_ids:
            ids = [instance.pk for instance in self.batch]
            if model._default_manager.filter(pk__in=ids).exists():
                raise TransferError("rows with these ids exist in this database (imported before?); use --new-ids")
        model._default_manager.bulk_create(self.batch)
        self.batch = []

    def finish(self, expected: dict[str, int]) -> None:
        self.flush()
        missing = [why for exported, why in self.referred.items() if exported not in self.written]
        if missing:
            raise TransferError(missing[0])
        if {k: v for k, v in expected.items() if v} != {k: v for k, v in self.counts.items() if v}:
            raise TransferError(f"the file's trailer counts {expected}, its rows {self.counts}: not a whole export")


def import_lines(lines: Iterator[dict[str, Any]], *, slug: str | None = None, new_ids: bool = False) -> Organization:
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
        members = [(organization.pk, user_id) for user_id in importer.users.values()]

        def forget_revocations() -> None:
            # Deleting the exported organization here cached its memberships as revoked.
            with contextlib.suppress(Exception):
                cache.delete_many([token_version_cache_key(organization_id=o, user_id=u) for o, u in members])

        transaction.on_commit(forget_revocations)
    return organization


def import_file(source: IO[bytes], *, slug: str | None = None, new_ids: bool = False) -> Organization:
    """Import an export from a binary file (gzip NDJSON, or the earlier JSON document)."""
    try:
        return import_lines(read_lines(source), slug=slug, new_ids=new_ids)
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
