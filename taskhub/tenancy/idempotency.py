"""``Idempotency-Key`` on tenant ``POST`` requests: Stripe's rules, adapted (docs/idempotency.md).

A client that may retry a ``POST`` (a timeout, a dropped connection) sends a key of its choosing.
The first 2xx answer is kept per organization and key for ``TTL``; a retry with the same key and
the same request gets that answer again, with ``Idempotent-Replayed: true``, and changes nothing.
The same key with another request (another body, path or method) is a 422
``idempotency_key_reused``. Concurrent duplicates create one object: the first request inserts a
placeholder row inside its transaction, and a duplicate's insert waits on the unique index until
that transaction ends, then replays what it committed (or, if it rolled back, goes on as the
first).

``TenantAPIView`` calls ``reserve`` in ``initial`` (after authentication, permissions, throttles
and the tenant context, so row-level security applies) and ``settle`` when the handler has
answered, still inside the request's transaction. A request without the header costs nothing:
no statement is run.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponseBase, QueryDict
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.errors import Conflict, DomainError
from taskhub.core.renderers import JSONRenderer
from taskhub.tenancy.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# How long an answer is kept; an older record is treated as absent (and replaced).
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# Visible ASCII, "!" to "~": no spaces (HTTP servers strip them around a header value) and no controls.
KEY_PATTERN = r"^[!-~]{1,255}$"
# Rounds of "insert, else read" before giving up: a row can vanish between the two (its request
# failed and deleted it, or it expired), and the next insert then succeeds.
ATTEMPTS = 3


class IdempotencyKeyReused(DomainError):
    """The key was first sent with another request: another body, path or method."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency_key_reused"


class IdempotencySecretNotReplayable(Conflict):
    """The first answer held a secret shown once (``Cache-Control: no-store``), so it was not kept."""

    code = "idempotency_secret_not_replayable"


class IdempotencyKeyInUse(Conflict):
    """The key's first request has not finished (never seen in practice: see ``_existing``)."""

    code = "idempotency_key_in_use"


class Replay(Exception):
    """Raised by ``reserve`` to answer the request with the kept response instead of the handler's."""

    def __init__(self, response: Response) -> None:
        super().__init__("idempotent replay")
        self.response = response


@dataclass(frozen=True)
class Reservation:
    """The placeholder this request holds until its transaction ends."""

    record_id: UUID
    using: str


def applies(request: Request, view: Any) -> bool:
    """Whether the request is a ``POST`` the view serves and carries the header (no SQL)."""
    return (
        request.method == "POST"
        and HEADER in request.headers
        and "post" in view.http_method_names
        and hasattr(view, "post")
    )


def validated_key(value: str) -> str:
    """The key as sent, or a 400 ``invalid`` naming the header."""
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all("!" <= character <= "~" for character in value):
        raise DomainError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces), "
            "e.g. a random UUID made by the client for this operation.",
            code="invalid",
            field=HEADER,
        )
    return value


def _plain(data: Any) -> Any:
    # The JSON parser gives dicts and lists; a request with no body gives an empty QueryDict.
    if isinstance(data, QueryDict):
        return dict(data.lists())
    return data


def canonical_body(request: Request) -> bytes:
    """The request's parsed JSON, re-encoded with sorted keys and no whitespace.

    Two bodies that parse to the same value (key order, spacing, escapes) are the same request.
    Reading ``request.data`` parses the body as the handler would (a malformed body is the same
    400), and the handler then reuses the parsed value.
    """
    return json.dumps(
        _plain(request.data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def request_hash(request: Request) -> str:
    """SHA-256 of the method, the path with its query string and the canonical body."""
    digest = hashlib.sha256()
    for part in (str(request.method).encode(), request.get_full_path().encode(), canonical_body(request)):
        # Length-prefixed: no choice of parts can make two different requests hash alike.
        digest.update(f"{len(part)}:".encode())
        digest.update(part)
    return digest.hexdigest()


def _prepared(using: str, **values: Any) -> list[Any]:
    """Values as the model's fields send them to this database (UUIDs, datetimes per backend)."""
    connection = connections[using]
    fields = {field.attname: field for field in IdempotencyRecord._meta.concrete_fields}
    return [fields[name].get_db_prep_save(value, connection) for name, value in values.items()]


def _insert(using: str, *, organization_id: UUID, key: str, method: str, path: str, digest: str) -> UUID | None:
    """Insert the placeholder, or replace an expired record; the new id, or None when a live record has the key.

    ``INSERT ... ON CONFLICT (organization_id, key) DO UPDATE ... WHERE created_at < cutoff``: one
    statement. A conflicting row of a transaction still open makes it wait until that transaction
    ends (PostgreSQL's unique index), so a duplicate sees the first request's outcome.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(IdempotencyRecord._meta.db_table)
    now = timezone.now()
    record_id = uuid.uuid4()
    values = {
        "id": record_id,
        "organization_id": organization_id,
        "key": key,
        "method": method,
        "path": path,
        "request_hash": digest,
        "created_at": now,
        "updated_at": now,
    }
    columns = ", ".join(quote(name) for name in values)
    replaced = ", ".join(
        f"{quote(name)} = EXCLUDED.{quote(name)}" for name in values if name not in ("organization_id", "key")
    )
    # Only quoted identifiers of this model are spelled into the text; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({columns}, {quote('response_status')}, {quote('response_body')}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(values))}, NULL, NULL) "
        f"ON CONFLICT ({quote('organization_id')}, {quote('key')}) DO UPDATE SET {replaced}, "
        f"{quote('response_status')} = NULL, {quote('response_body')} = NULL "
        f"WHERE {table}.{quote('created_at')} < %s"
    )
    parameters = [*_prepared(using, **values), *_prepared(using, created_at=now - TTL)]
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        return record_id if cursor.rowcount == 1 else None


def _existing(using: str, *, organization_id: UUID, key: str) -> Mapping[str, Any] | None:
    return (
        IdempotencyRecord.objects.using(using)
        .filter(organization_id=organization_id, key=key)
        .values("method", "path", "request_hash", "response_status", "response_body", "created_at")
        .first()
    )


def _answer(record: Mapping[str, Any], *, method: str, path: str, digest: str) -> Response:
    """What a request with a live record's key gets: the kept answer, or why not."""
    if (record["method"], record["path"]) != (method, path):
        raise IdempotencyKeyReused(
            f"This {HEADER} was first used for {record['method']} {record['path']}; a key names one operation. "
            "Send a new key for this request."
        )
    if record["request_hash"] != digest:
        raise IdempotencyKeyReused(
            f"This {HEADER} was first used with another request body (or query string). A retry must send the "
            "same request; send a new key for a different one."
        )
    if record["response_status"] is None:
        # A placeholder is only ever seen committed if its request neither stored an answer nor
        # deleted it, which settle() does not allow; answered rather than guessed at.
        raise IdempotencyKeyInUse(f"The first request with this {HEADER} has not finished; retry shortly.")
    if record["response_body"] is None:
        raise IdempotencySecretNotReplayable(
            f"The first request with this {HEADER} succeeded ({record['response_status']}), but its answer held a "
            "secret shown once (Cache-Control: no-store), which is never stored, so it cannot be replayed. "
            "List the resource to find what was created; send a new key to create another."
        )
    body = record["response_body"]
    data = json.loads(body) if body else None
    return Response(data, status=record["response_status"], headers={REPLAYED_HEADER: "true"})


def reserve(request: Request, *, organization_id: UUID, using: str = DEFAULT_DB_ALIAS) -> Reservation:
    """Hold the request's key, or raise ``Replay`` with the kept answer (or the error why not).

    Call inside the request's transaction, with the tenant context set, for a request
    ``applies`` to.
    """
    key = validated_key(request.headers[HEADER])
    method, path = str(request.method), request.path
    digest = request_hash(request)
    for _ in range(ATTEMPTS):
        record_id = _insert(using, organization_id=organization_id, key=key, method=method, path=path, digest=digest)
        if record_id is not None:
            return Reservation(record_id=record_id, using=using)
        record = _existing(using, organization_id=organization_id, key=key)
        if record is None or _expired(record["created_at"]):
            # Gone since the insert (its request failed), or expired since: the next insert takes the key.
            continue
        raise Replay(_answer(record, method=method, path=path, digest=digest))
    raise IdempotencyKeyInUse(f"This {HEADER} is being used by other requests right now; retry shortly.")


def _expired(created_at: datetime) -> bool:
    return created_at < timezone.now() - TTL


def kept_body(response: HttpResponseBase) -> str | None:
    """The JSON text to keep for a 2xx answer; None when it must not be kept.

    ``Cache-Control: no-store`` marks an answer that holds a secret shown once (an API key): no
    cache may keep it, and neither does this store. An answer that is not the API's JSON
    (not a DRF ``Response``) is not kept either.
    """
    if "no-store" in response.get("Cache-Control", "").lower():
        return None
    if not isinstance(response, Response):
        return None
    if response.data is None:
        return ""
    return JSONRenderer().render(response.data).decode()


def settle(reservation: Reservation, response: HttpResponseBase) -> None:
    """Keep a 2xx answer in the placeholder; delete the placeholder after any other answer.

    An answer that is not a success is never kept, so a corrected request can be sent again with
    the same key. When the transaction is already doomed (a database error marked it for
    rollback) nothing is run: the rollback removes the placeholder.
    """
    connection = connections[reservation.using]
    if connection.needs_rollback:
        return
    rows = IdempotencyRecord.objects.using(reservation.using).filter(pk=reservation.record_id)
    if status.is_success(response.status_code):
        rows.update(response_status=response.status_code, response_body=kept_body(response), updated_at=timezone.now())
    else:
        rows.delete()


def purge(*, now: datetime | None = None) -> int:
    """Delete every organization's records older than ``TTL``; return how many.

    Run it inside ``rls.bypass`` (the platform role sees every organization); under a tenant
    context it would remove that organization's only.
    """
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
