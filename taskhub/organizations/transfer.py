"""Moving one organization between Taskhub instances: export to JSON, import from it.

The export is ``organization_export`` (the same document as ``GET organization/export/``).
Importing recreates, in one transaction with row-level security bypassed:

- the organization (optionally under another slug);
- its users, matched by username; a missing user is created with the exported id (when
  free) and no usable password: they set one with a password reset;
- every tenant-owned row with its id, timestamps and fields as exported: memberships,
  projects (``task_counter`` included), tasks (numbers included), audit events as they were;
- invitations as revoked (accepted ones stay accepted): their token hashes are not exported,
  so no token could ever accept them; each gets a fresh random hash nobody holds;
- API keys: NOT imported. Their hashes are not exported, so the keys could not work; audit
  events that name one keep its label and lose the link. Create new keys after the move.

Ids are random UUIDs, so they are kept. If any of them already exists in this database the
import is refused, unless ``new_ids`` is set, which gives every imported row a new id and
rewrites every reference to it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.organizations.export import organization_export
from taskhub.organizations.models import Invitation, Organization
from taskhub.organizations.selectors import token_version_cache_key
from taskhub.organizations.services.invitations import hash_token
from taskhub.tenancy.registry import tenant_models

# Tables whose rows cannot work without the secrets the export leaves out.
NOT_IMPORTED = {"accounts.apikey"}


class ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, but datetimes keep their microseconds (it cuts them to milliseconds)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


class TransferError(Exception):
    """The document cannot be imported into this database; nothing was written."""


def export_json(*, organization: str) -> str:
    """Return the export of the organization named by slug or id, as JSON text."""
    with rls.bypass("export_organization"):
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            with contextlib.suppress(ValueError):
                found = Organization.objects.filter(pk=uuid.UUID(organization)).first()
        if found is None:
            raise TransferError(f"No organization with slug or id {organization!r}.")
        data = organization_export(organization_id=found.pk)
    return json.dumps(data, cls=ExactJSONEncoder, indent=1)


def _ordered(labels: set[str]) -> list[type[models.Model]]:
    """Tenant models in an order where every referenced tenant model comes first."""
    remaining = {m._meta.label_lower: m for m in tenant_models() if m._meta.label_lower in labels}
    ordered: list[type[models.Model]] = []
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
            raise TransferError(f"circular references between {sorted(remaining)}")
        for label in sorted(ready):
            ordered.append(remaining.pop(label))
    return ordered


@contextlib.contextmanager
def _keeping_timestamps(model_list: list[type[models.Model]]) -> Iterator[None]:
    """Let auto_now/auto_now_add fields take the exported values instead of now."""
    saved = []
    for model in model_list:
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):
                saved.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _python(model: type[models.Model], row: dict[str, Any]) -> dict[str, Any]:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    unknown = set(row) - set(fields)
    if unknown:
        raise TransferError(f"{model._meta.label_lower}: unknown fields {sorted(unknown)}")
    return {name: (None if value is None else fields[name].to_python(value)) for name, value in row.items()}


def import_document(data: dict[str, Any], *, slug: str | None = None, new_ids: bool = False) -> Organization:
    """Import an ``organization_export`` document; return the new organization (see module doc)."""
    tables: dict[str, list[dict[str, Any]]] = data.get("tables", {})
    known = {m._meta.label_lower for m in tenant_models()}
    unknown = set(tables) - known
    if unknown:
        raise TransferError(f"the document has tables this instance does not know: {sorted(unknown)}")
    importable = _ordered({label for label in tables if label not in NOT_IMPORTED})
    for model in importable:
        # A column the export leaves out must be one this module knows how to fill.
        missing = set(getattr(model, "export_exclude", ())) - ({"token_hash"} if model is Invitation else set())
        if missing:
            raise TransferError(f"{model._meta.label_lower} rows lack {sorted(missing)} and cannot be imported")

    organization_row = _python(Organization, data["organization"])
    if slug:
        organization_row["slug"] = slug
    skipped_ids = {str(row["id"]) for label in NOT_IMPORTED for row in tables.get(label, [])}

    with rls.bypass("import_organization"), _keeping_timestamps([Organization, *importable]):
        if Organization.objects.filter(slug=organization_row["slug"]).exists():
            raise TransferError(f"an organization with slug {organization_row['slug']!r} exists; use --slug")

        # Every id the import would write, and whether any is taken already.
        ids: dict[str, uuid.UUID] = {str(organization_row["id"]): organization_row["id"]}
        taken = Organization.objects.filter(pk=organization_row["id"]).exists()
        for model in importable:
            row_ids = [uuid.UUID(str(row["id"])) for row in tables[model._meta.label_lower]]
            ids.update({str(i): i for i in row_ids})
            taken = taken or model._default_manager.filter(pk__in=row_ids).exists()
        if taken and not new_ids:
            raise TransferError("rows with these ids exist in this database (imported before?); use --new-ids")
        id_map = {old: (uuid.uuid4() if new_ids else value) for old, value in ids.items()}

        user_map = _users(data.get("users", []), new_ids=new_ids)

        organization = Organization(**{**organization_row, "id": id_map[str(organization_row["id"])]})
        organization.save(force_insert=True)
        for model in importable:
            rows = [_python(model, row) for row in tables[model._meta.label_lower]]
            objects = [model(**_remap(model, row, id_map, user_map, skipped_ids)) for row in rows]
            if model is Invitation:
                for invitation in objects:
                    _disarm(invitation)  # type: ignore[arg-type]
            model._default_manager.bulk_create(objects)
        members = [(organization.pk, user_id) for user_id in user_map.values()]

        def forget_revocations() -> None:
            # Deleting the exported organization here cached its memberships as revoked.
            with contextlib.suppress(Exception):
                cache.delete_many([token_version_cache_key(organization_id=o, user_id=u) for o, u in members])

        transaction.on_commit(forget_revocations)
    return organization


def _users(users: list[dict[str, Any]], *, new_ids: bool) -> dict[str, uuid.UUID]:
    """Match or create the exported users; map each exported user id to the local one."""
    mapping: dict[str, uuid.UUID] = {}
    for exported in users:
        user = User.objects.filter(username=exported["username"]).first()
        if user is None:
            wanted = uuid.UUID(str(exported["id"]))
            if new_ids or User.objects.filter(pk=wanted).exists():
                wanted = uuid.uuid4()
            user = User(id=wanted, username=exported["username"], email=exported.get("email") or "")
            if exported.get("date_joined"):
                user.date_joined = User._meta.get_field("date_joined").to_python(exported["date_joined"])
            user.set_unusable_password()
            user.save(force_insert=True)
        mapping[str(exported["id"])] = user.pk
    return mapping


def _remap(
    model: type[models.Model],
    row: dict[str, Any],
    id_map: dict[str, uuid.UUID],
    user_map: dict[str, uuid.UUID],
    skipped_ids: set[str],
) -> dict[str, Any]:
    out = dict(row)
    out["id"] = id_map[str(row["id"])]
    for field in model._meta.concrete_fields:
        if not isinstance(field, models.ForeignKey) or row.get(field.attname) is None:
            continue
        old = str(row[field.attname])
        if field.related_model is User:
            # A user who left the organization is not exported: the reference goes, as on delete.
            new = user_map.get(old)
        elif old in id_map:
            new = id_map[old]
        elif old in skipped_ids:
            new = None
        else:
            raise TransferError(f"{model._meta.label_lower} {row['id']}: {field.name} names {old}, not in the document")
        if new is None and not field.null:
            raise TransferError(f"{model._meta.label_lower} {row['id']}: {field.name} {old} cannot be resolved")
        out[field.attname] = new
    return out


def _disarm(invitation: Invitation) -> None:
    """No exported token can accept an imported invitation: pending ones become revoked."""
    invitation.token_hash = hash_token(secrets.token_urlsafe(32))
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()


def import_json(text: str, *, slug: str | None = None, new_ids: bool = False) -> Organization:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TransferError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or "organization" not in data or "tables" not in data:
        raise TransferError("not an organization export (no 'organization' and 'tables')")
    return import_document(data, slug=slug, new_ids=new_ids)
