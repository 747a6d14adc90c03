"""PostgreSQL row-level security: a tenant context the database can trust, and the policies.

Every tenant-owned table has a FORCED policy that lets a row through only when the
transaction's *verified* tenant context names its organization (or one of the narrower keys
below). There is no bypass branch: code that must cross tenants (the Django admin for staff,
management commands, backups) runs through ``bypass(reason)``, which sends its queries to the
``platform`` database alias, a role with BYPASSRLS that API requests never open
(``taskhub.core.dbroles``). The application's own role cannot lower the wall: it owns no table,
so it cannot ``ALTER TABLE ... NO FORCE ROW LEVEL SECURITY`` or drop a policy.

The context and why SQL injected into a request cannot forge it
----------------------------------------------------------------
``set_context`` does not write the values the policies read. It calls
``taskhub_rls.enter(...)``, a SECURITY DEFINER function owned by the migration role, with
the context and an HMAC-SHA256 over it made with a key derived from ``SECRET_KEY``
(``context_key``). The database keeps the same key in ``taskhub_rls.key``, a table only its
owner can read (``migrate`` writes it). ``enter`` checks the MAC and the token's age (at most
``TOKEN_MAX_AGE_MS``), then stores the values in ``taskhub.*`` settings together with a
*seal*: an HMAC over the values, this backend's pid and this transaction's start time. The
getters the policies call (``taskhub_rls.organization_id()`` and friends, each once per
statement as an InitPlan) recompute the seal and return NULL when it does not match.

So injected SQL, which runs as the app role in some request's session, can:
- ``set_config('taskhub.organization_id', '<B>', true)``: the seal no longer matches, every
  getter answers NULL, nothing is visible;
- call ``enter`` with B's id: it has no MAC for it (the key is in the app's memory and in a
  table it cannot read);
- copy a seal or a token seen elsewhere: the token is sent as a bound parameter, so
  ``pg_stat_activity`` shows ``$1``, never its value; a seal is bound to the backend and the
  transaction that made it, and a token is refused after ``TOKEN_MAX_AGE_MS``.

Everything is transaction-local (``set_config(..., true)``): nothing survives COMMIT or
ROLLBACK, nothing leaks to the next request on a pooled connection (pgbouncer in transaction
mode included). On SQLite there is no row-level security and these functions do nothing.

Requests enter the context through ``carried``, not ``set_context``: ``enter`` goes out in one
psycopg pipeline with the statement that opens a transaction, so it costs no round trip of its
own. A read request runs in autocommit, each statement with its own ``enter``, in the implicit
transaction PostgreSQL keeps until the pipeline's Sync: one round trip per statement, and no
BEGIN or COMMIT.

Context keys:
- ``organization_id``: the tenant a request acts in.
- ``user_id``: lets a signed-in user read their own memberships in every organization
  (sign-in, ``auth/me/``, switching).
- ``api_key_prefix``: lets authentication read the one API key row with that prefix.
- ``invitation_token_hash``: lets accepting read the one invitation with that hash.

``set_context`` also sets PostgreSQL's ``statement_timeout`` for the transaction to
``DB_STATEMENT_TIMEOUT_MS``, in the same statement.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction
from django.db.backends.utils import debug_transaction
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

VARIABLES = ("organization_id", "user_id", "api_key_prefix", "invitation_token_hash")
PLATFORM_ALIAS = "platform"
SCHEMA = "taskhub_rls"
# How old a context token may be when the database sees it (the app makes it just before).
# Clocks of app servers and database must agree within this; `preflight` measures the skew.
TOKEN_MAX_AGE_MS = 60_000

_platform: ContextVar[bool] = ContextVar("taskhub_rls_platform", default=False)
# What a closed or broken connection raises (after Django's translation).
DATABASE_CONNECTION_ERRORS = (OperationalError, InterfaceError)
# psycopg's TransactionStatus.IDLE: no transaction open, the next statement starts one.
_IDLE = 0
_IN_TRANSACTION = 2


def enabled(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Return whether the database enforces row-level security (PostgreSQL does, SQLite not)."""
    return connections[using].vendor == "postgresql"


def platform_alias() -> str:
    """The alias of the role that may cross tenants: ``platform``, or ``default`` when there is none."""
    return PLATFORM_ALIAS if PLATFORM_ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS


def in_platform_scope() -> bool:
    """Whether the code runs inside ``bypass()`` (the router then sends queries to the platform alias)."""
    return _platform.get()


# -- the key and the MAC ------------------------------------------------------------------


def context_key(secret_key: str | None = None) -> bytes:
    """The 32-byte key that signs tenant contexts, derived from SECRET_KEY."""
    secret = (secret_key or settings.SECRET_KEY).encode()
    return hmac.new(secret, b"taskhub.rls.context-key.v1", hashlib.sha256).digest()


def key_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys, which is what the database stores.

    With them PostgreSQL computes HMAC-SHA256 from its built-in ``sha256()`` alone
    (``sha256(outer || sha256(inner || message))``), so no extension is needed.
    """
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def _encode(parts: list[str]) -> bytes:
    # Length-prefixed, so no choice of values can make two different contexts encode alike.
    return "".join(f"{len(part)}:{part};" for part in parts).encode()


def sign(parts: list[str], key: bytes | None = None) -> str:
    return hmac.new(key or context_key(), _encode(parts), hashlib.sha256).hexdigest()


def context_parameters(
    organization_id: UUID | str | None = None,
    user_id: UUID | str | None = None,
    api_key_prefix: str | None = None,
    invitation_token_hash: str | None = None,
    *,
    key: bytes | None = None,
    issued_at_ms: int | None = None,
) -> list[Any]:
    """The arguments of ``taskhub_rls.enter``: the four values, the time, the MAC."""
    values = [
        str(organization_id) if organization_id else "",
        str(user_id) if user_id else "",
        api_key_prefix or "",
        invitation_token_hash or "",
    ]
    issued = int(time.time() * 1000) if issued_at_ms is None else issued_at_ms
    return [*values, issued, sign(["enter", *values, str(issued)], key)]


ENTER_SQL = f"SELECT {SCHEMA}.enter(%s, %s, %s, %s, %s, %s)"


def set_context(
    *,
    organization_id: UUID | str | None = None,
    user_id: UUID | str | None = None,
    api_key_prefix: str | None = None,
    invitation_token_hash: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Set the verified tenant context for the rest of the current transaction; unset keys are cleared.

    Must run inside a transaction: outside one, the values would end with the statement.
    """
    if not enabled(using):
        return
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("set_context outside a transaction would not hold for the next statement.")
    context = {
        "organization_id": organization_id,
        "user_id": user_id,
        "api_key_prefix": api_key_prefix,
        "invitation_token_hash": invitation_token_hash,
    }
    execute_bound(using, *_enter_statement(context))


def execute_bound(using: str, sql: str, parameters: list[Any]) -> None:
    """Run one statement with its parameters bound on the server, never spelled into the SQL.

    Django's psycopg cursors interpolate parameters into the query text, which other sessions
    of the same role can read in ``pg_stat_activity``; a bound parameter shows as ``$1``.
    The statement is logged like any other (query counts and budgets include it).
    """
    with _bound_cursor(using) as cursor:
        cursor.execute(sql, parameters)


def _bound_cursor(using: str) -> Any:
    """A server-binding cursor through Django's wrapper: execute wrappers, error translation and
    query logging as usual. Behind pgbouncer DB_PGBOUNCER turns psycopg's automatic prepared
    statements off (taskhub/core/env.py)."""
    from django.db.backends.postgresql.base import ServerBindingCursor  # noqa: PLC0415 - PostgreSQL only

    connection = connections[using]
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))  # type: ignore[attr-defined,call-arg]


def _enter(using: str, context: dict[str, Any]) -> Any:
    """Send ``taskhub_rls.enter`` for ``context``, bound on the server; return the cursor, still open.

    Inside a pipeline the result arrives at the pipeline's sync: closing the cursor before then
    would discard it, so the caller closes it.
    """
    cursor = _bound_cursor(using)
    cursor.execute(*_enter_statement(context))
    return cursor


def _enter_statement(context: dict[str, Any]) -> tuple[str, list[Any]]:
    """``enter`` with the context's MAC, and the statement timeout set in the same statement (no round trip)."""
    sql = ENTER_SQL
    parameters = context_parameters(**context)
    timeout = settings.DB_STATEMENT_TIMEOUT_MS
    if timeout:
        sql += ", set_config('statement_timeout', %s, true)"
        parameters.append(f"{timeout}ms")
    return sql, parameters


class _Carrier:
    """An execute wrapper: the first statement of every transaction carries the tenant context.

    When a statement is about to open a transaction (the connection is idle: in autocommit, every
    statement; in ``atomic()``, the first one), ``enter`` and the statement go out together in a
    psycopg pipeline, one network round trip, and run in one transaction: explicit (psycopg's BEGIN
    leads the pipeline) or, in autocommit, the implicit transaction PostgreSQL keeps until the
    pipeline's Sync. Either way the context is set for exactly that transaction, and a statement
    never runs without it. Statements later in an open transaction pass through.

    Inside ``atomic()`` the savepoint commands Django sends for nested blocks (``SAVEPOINT``,
    ``RELEASE SAVEPOINT``; ``carried`` puts ``savepoint`` and ``release`` in place of the
    connection's own) answer nothing the code waits for, so they wait here and go out in the next
    statement's pipeline, in their order: a service's ``atomic()`` costs no round trip of its
    own. A ``ROLLBACK TO SAVEPOINT`` is a statement like any other and takes the waiting ones
    with it. Released savepoints still waiting when the block ends are dropped (``finish``): the
    enclosing transaction's COMMIT or ROLLBACK, or the outer savepoint's release or rollback,
    ends them as surely.
    """

    def __init__(self, using: str, context: dict[str, Any]) -> None:
        self.using = using
        self.context = context
        self.entering = False
        # Savepoint commands not yet sent, in order, each with whether it is a RELEASE (see the class's docstring).
        self.deferred: list[tuple[str, bool]] = []
        # A read's first round trip may meet a connection the server closed (a restart): it is
        # retried once on a new connection, which is what Django's per-request health check
        # (a SELECT 1 round trip of its own) would have done.
        self.may_reconnect = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        connection = connections[self.using]
        raw = connection.connection
        if self.entering or raw is None:
            return execute(sql, params, many, context)
        idle = raw.info.transaction_status == _IDLE
        if not idle and not self.deferred:
            return execute(sql, params, many, context)
        cursor_wrapper = context["cursor"]
        if getattr(cursor_wrapper.cursor, "name", None):
            # A server-side cursor cannot join a pipeline, and in autocommit it would outlive the
            # context (WITH HOLD). In a transaction, the context goes first, on its own.
            if not connection.in_atomic_block:
                raise RuntimeError("A server-side cursor (iterator()) needs a transaction under a carried context.")
            self._enter_alone(enter=idle)
            return execute(sql, params, many, context)
        if not idle:
            return self._pipelined(execute, sql, params, many, context, enter=False)
        retry, self.may_reconnect = self.may_reconnect and not connection.in_atomic_block, False
        try:
            return self._pipelined(execute, sql, params, many, context)
        except DATABASE_CONNECTION_ERRORS:
            if not retry or not (raw.closed or raw.broken):
                raise
            logger.warning("database connection lost since the last request: reconnected", exc_info=True)
            connection.close()
            connection.ensure_connection()
            with connection.wrap_database_errors:
                cursor_wrapper.cursor = connection.create_cursor()
            return self._pipelined(execute, sql, params, many, context)

    def savepoint(self, sid: str) -> None:
        """In place of the connection's ``_savepoint``: the command waits for the next statement."""
        self._defer(connections[self.using].ops.savepoint_create_sql(sid), release=False)

    def release(self, sid: str) -> None:
        """In place of the connection's ``_savepoint_commit``: the command waits for the next statement."""
        self._defer(connections[self.using].ops.savepoint_commit_sql(sid), release=True)

    def _defer(self, sql: str, *, release: bool) -> None:
        self.deferred.append((sql, release))

    def _pipelined(
        self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any], *, enter: bool = True
    ) -> Any:
        connection = connections[self.using]
        cursors = []
        self.entering = True
        try:
            with connection.wrap_database_errors, connection.connection.pipeline():
                if enter:
                    cursors.append(_enter(self.using, self.context))
                cursors.extend(self._send_deferred())
                self.entering = False
                return execute(sql, params, many, context)
        finally:
            self.entering = False
            for cursor in cursors:
                cursor.close()

    def _send_deferred(self) -> list[Any]:
        """Send the waiting savepoint commands into the pipeline; return the cursor, to close after its sync."""
        if not self.deferred:
            return []
        connection = connections[self.using]
        cursor = connection.connection.cursor()
        for sql, _ in self.deferred:
            # Logged when sent, as Django logs BEGIN and COMMIT (query logs and budgets): a dropped
            # RELEASE was never sent and is not logged.
            with debug_transaction(connection, sql):
                cursor.execute(sql)
        self.deferred.clear()
        return [cursor]

    def _enter_alone(self, *, enter: bool = True) -> None:
        connection = connections[self.using]
        cursors = []
        self.entering = True
        try:
            with connection.wrap_database_errors, connection.connection.pipeline():
                if enter:
                    cursors.append(_enter(self.using, self.context))
                cursors.extend(self._send_deferred())
        finally:
            self.entering = False
            for cursor in cursors:
                cursor.close()

    def finish(self) -> None:
        """At the block's end: drop waiting RELEASEs, send anything else that still waits.

        Only an open, healthy transaction gets them: after its end (or its error) no savepoint
        is left to create or release.
        """
        raw = connections[self.using].connection
        if not self.deferred:
            return
        if (
            all(release for _, release in self.deferred)
            or raw is None
            or raw.closed
            or raw.info.transaction_status != _IN_TRANSACTION
        ):
            self.deferred.clear()
            return
        self._enter_alone(enter=False)


@contextmanager
def carried(
    *, organization_id: UUID | str, using: str = DEFAULT_DB_ALIAS, skip_health_check: bool = False
) -> Iterator[None]:
    """For the block, every transaction on ``using`` runs in the organization's verified context.

    The context costs no round trip of its own (``_Carrier``): a read request that runs one
    statement in autocommit talks to PostgreSQL once. ``skip_health_check``: leave out Django's
    per-request ``SELECT 1`` (CONN_HEALTH_CHECKS); the first round trip is retried on a new
    connection instead, when the old one turns out closed. Only for blocks outside ``atomic()``,
    where repeating the first statement is harmless.
    """
    if not enabled(using):
        yield
        return
    connection = connections[using]
    carrier = _Carrier(using, {"organization_id": organization_id})
    raw = connection.connection
    if raw is not None and raw.info.transaction_status != _IDLE:
        # Inside a transaction already under way (a test's, or a caller's): no statement will
        # open the next one, so the context is entered now, for the rest of it, as set_context does.
        set_context(organization_id=organization_id, using=using)
    elif skip_health_check and raw is not None and not getattr(connection, "health_check_done", True):
        connection.health_check_done = True  # type: ignore[attr-defined] # Django's, not in its stubs
        carrier.may_reconnect = True
    # Django's savepoint commands for nested atomic() blocks wait for the next statement (_Carrier).
    replaced = {name: connection.__dict__.get(name) for name in ("_savepoint", "_savepoint_commit")}
    connection._savepoint = carrier.savepoint  # type: ignore[attr-defined] # the backend's, not in the stubs
    connection._savepoint_commit = carrier.release  # type: ignore[attr-defined]
    try:
        with connection.execute_wrapper(carrier):
            yield
    finally:
        try:
            carrier.finish()
        finally:
            for name, previous in replaced.items():
                if previous is None:
                    delattr(connection, name)
                else:
                    setattr(connection, name, previous)


def _current(using: str) -> list[str]:
    reads = ", ".join(f"coalesce({SCHEMA}.{name}()::text, '')" for name in VARIABLES)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {reads}")
        return list(cursor.fetchone())


@contextmanager
def scoped(using: str = DEFAULT_DB_ALIAS, **context: Any) -> Iterator[None]:
    """Run the block in a transaction whose tenant context is ``context`` (see set_context).

    Inside a larger transaction the previous context comes back when the block ends, so a
    scope never widens what the code after it can see.
    """
    nested = enabled(using) and connections[using].in_atomic_block
    previous = _current(using) if nested else None
    with transaction.atomic(using=using):
        set_context(using=using, **context)
        yield
        if previous is not None:
            set_context(using=using, **dict(zip(VARIABLES, previous, strict=True)))


@contextmanager
def bypass(reason: str) -> Iterator[None]:
    """Run the block as the platform: every query goes to the ``platform`` alias (BYPASSRLS).

    For platform paths only (the admin for staff, management commands, backups); API requests
    never come here. The block runs in one transaction on that alias. Without a platform alias
    (SQLite, or one role in development) it is the default connection.
    """
    logger.info("platform access (row-level security bypassed): %s", reason)
    alias = platform_alias()
    token = _platform.set(True)
    try:
        with transaction.atomic(using=alias):
            if enabled(alias) and not _bypasses(alias):
                # Without BYPASSRLS every tenant table would look empty: fail loudly, not quietly.
                raise PlatformUnavailable(
                    f"{reason}: the database role {connections[alias].settings_dict.get('USER')!r} cannot bypass "
                    "row-level security, so it would see no tenant's rows. Set DB_PLATFORM_USER to a role with "
                    "BYPASSRLS (manage.py setup_database_roles)."
                )
            yield
    finally:
        _platform.reset(token)


class PlatformUnavailable(RuntimeError):
    """No role that may cross tenants is configured (one role, without BYPASSRLS)."""


def _bypasses(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


class PlatformRouter:
    """Send every query inside ``bypass()`` to the platform alias; elsewhere have no opinion."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return platform_alias() if _platform.get() else None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return platform_alias() if _platform.get() else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The same database through two roles.
        same = {DEFAULT_DB_ALIAS, PLATFORM_ALIAS}
        if obj1._state.db in same and obj2._state.db in same:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        # Migrations run on "default", as the owner role (the migrate command switches to it).
        return False if db == PLATFORM_ALIAS else None


# -- the database side: key table, enter(), the getters ----------------------------------

# HMAC-SHA256 of a length-prefixed text (see _encode) with the stored pads.
_MAC = (
    "encode(pg_catalog.sha256(k.outer_pad || pg_catalog.sha256(k.inner_pad || convert_to({message}, 'UTF8'))), 'hex')"
)
_LP = "length({v})::text || ':' || {v} || ';'"


def _lp(*values: str) -> str:
    return " || ".join(_LP.format(v=value) for value in values)


_SEAL_MESSAGE = _lp(
    "'seal'",
    "organization_id",
    "user_id",
    "api_key_prefix",
    "invitation_token_hash",
    "pg_catalog.pg_backend_pid()::text",
    "(extract(epoch FROM pg_catalog.now()) * 1000000)::bigint::text",
)

_ENTER_MESSAGE = _lp(
    "'enter'", "organization_id", "user_id", "api_key_prefix", "invitation_token_hash", "issued_at_ms::text"
)

CONTEXT_SQL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
    # The key: readable by its owner alone. The app's role and the platform role get nothing.
    f"""CREATE TABLE {SCHEMA}.key (
        id smallint PRIMARY KEY CHECK (id = 1),
        inner_pad bytea NOT NULL CHECK (length(inner_pad) = 64),
        outer_pad bytea NOT NULL CHECK (length(outer_pad) = 64)
    )""",
    f"REVOKE ALL ON {SCHEMA}.key FROM PUBLIC",
    # enter(): check the app's MAC and the token's age, then store the values and their seal.
    # Every name is schema-qualified or a pg_catalog built-in: a SECURITY DEFINER body must not
    # resolve anything through the caller's search_path.
    f"""CREATE FUNCTION {SCHEMA}.enter(organization_id text, user_id text, api_key_prefix text,
            invitation_token_hash text, issued_at_ms bigint, mac text) RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
        DECLARE
            expected text;
            seal text;
        BEGIN
            SELECT {_MAC.format(message=_ENTER_MESSAGE)}, {_MAC.format(message=_SEAL_MESSAGE)}
              INTO expected, seal FROM {SCHEMA}.key k WHERE k.id = 1;
            IF expected IS NULL THEN
                RAISE EXCEPTION 'taskhub_rls: no context key in this database; run manage.py migrate'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF mac IS NULL OR mac <> expected THEN
                RAISE EXCEPTION 'taskhub_rls: tenant context refused (bad signature)'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF abs(extract(epoch FROM clock_timestamp()) * 1000 - issued_at_ms) > {TOKEN_MAX_AGE_MS} THEN
                RAISE EXCEPTION 'taskhub_rls: tenant context refused (token too old, or clocks apart)'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            PERFORM set_config('taskhub.organization_id', organization_id, true),
                    set_config('taskhub.user_id', user_id, true),
                    set_config('taskhub.api_key_prefix', api_key_prefix, true),
                    set_config('taskhub.invitation_token_hash', invitation_token_hash, true),
                    set_config('taskhub.seal', seal, true);
        END
    $$""",  # noqa: S608 - constants only
    # verified(): the one value a getter returns, or NULL when the seal does not match the
    # settings. Once per statement and table, so no SET clause (its save and restore cost more
    # than the rest). The caller's search_path cannot redirect the body: the key table is
    # schema-qualified, pg_catalog is searched first unless named later, and the roles that call
    # this can create no schema and no object in any schema (setup_database_roles).
    f"""CREATE FUNCTION {SCHEMA}.verified(name text) RETURNS text
        LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
        DECLARE
            organization_id text := coalesce(current_setting('taskhub.organization_id', true), '');
            user_id text := coalesce(current_setting('taskhub.user_id', true), '');
            api_key_prefix text := coalesce(current_setting('taskhub.api_key_prefix', true), '');
            invitation_token_hash text :=
                coalesce(current_setting('taskhub.invitation_token_hash', true), '');
            seal text := coalesce(current_setting('taskhub.seal', true), '');
            expected text;
        BEGIN
            IF seal = '' THEN
                RETURN NULL;
            END IF;
            SELECT {_MAC.format(message=_SEAL_MESSAGE)} INTO expected FROM {SCHEMA}.key k WHERE k.id = 1;
            IF seal IS DISTINCT FROM expected THEN
                RETURN NULL;
            END IF;
            RETURN nullif(CASE name WHEN 'organization_id' THEN organization_id WHEN 'user_id' THEN user_id
                                     WHEN 'api_key_prefix' THEN api_key_prefix
                                     WHEN 'invitation_token_hash' THEN invitation_token_hash END, '');
        END
    $$""",  # noqa: S608 - constants only
    f"""CREATE FUNCTION {SCHEMA}.organization_id() RETURNS uuid LANGUAGE sql STABLE
        AS $$ SELECT {SCHEMA}.verified('organization_id')::uuid $$""",
    f"""CREATE FUNCTION {SCHEMA}.user_id() RETURNS uuid LANGUAGE sql STABLE
        AS $$ SELECT {SCHEMA}.verified('user_id')::uuid $$""",
    f"""CREATE FUNCTION {SCHEMA}.api_key_prefix() RETURNS text LANGUAGE sql STABLE
        AS $$ SELECT {SCHEMA}.verified('api_key_prefix') $$""",
    f"""CREATE FUNCTION {SCHEMA}.invitation_token_hash() RETURNS text LANGUAGE sql STABLE
        AS $$ SELECT {SCHEMA}.verified('invitation_token_hash') $$""",
    f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {SCHEMA} FROM PUBLIC",
]


class CreateTenantContext(Operation):
    """Migration operation: the ``taskhub_rls`` schema, key table and functions (PostgreSQL only)."""

    reversible = True

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in CONTEXT_SQL:
            schema_editor.execute(statement)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

    def describe(self) -> str:
        return "Create the verified tenant context (taskhub_rls)"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {})


def store_key(connection: Any, secret_key: str | None = None) -> bool:
    """Write the context key into the database (as its owner, at every ``migrate``); return whether it changed."""
    if connection.vendor != "postgresql":
        return False
    inner, outer = key_pads(context_key(secret_key))
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{SCHEMA}.key"])
        if not cursor.fetchone()[0]:
            return False
        cursor.execute(
            f"""INSERT INTO {SCHEMA}.key AS k (id, inner_pad, outer_pad) VALUES (1, %s, %s)
                ON CONFLICT (id) DO UPDATE SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad
                WHERE (k.inner_pad, k.outer_pad) IS DISTINCT FROM (EXCLUDED.inner_pad, EXCLUDED.outer_pad)""",  # noqa: S608
            [inner, outer],
        )
        return cursor.rowcount > 0


# -- the policies --------------------------------------------------------------------------

# How a policy combines its conditions, by the migrations that wrote it:
# 1 (the 0002/0003 row_level_security migrations): ``tenant OR extra OR bypass``, read from
#   plain settings any role could set.
# 2 (the policy_bypass_as_case migrations): ``CASE WHEN bypass THEN true ELSE tenant OR extra END``.
# 3 (the verified_context migrations): no bypass; the tenant from the sealed context's getters,
#   ``CASE WHEN tenant OR extra THEN true ELSE false END``.
# The CASE is for the planner: it multiplies the selectivity of a policy's comparison into the
# query's own ``organization_id = %s``, so a page query of a 50,000-row organization was
# estimated at a few dozen rows and planned as bitmap scan + sort of every matching row. It rates
# a CASE at 0.5: an estimate within 2x, not 1,000x (docs/benchmarks.md).
POLICY_FORM = 3

# The narrower read keys of form 3, by the column they match.
EXTRA = {
    "user_id": f"user_id = (SELECT {SCHEMA}.user_id())",
    "prefix": f"prefix = (SELECT {SCHEMA}.api_key_prefix())",
    "token_hash": f"token_hash = (SELECT {SCHEMA}.invitation_token_hash())",
}


def policy_conditions(extra: str = "", form: int = POLICY_FORM) -> tuple[str, str]:
    """Return the policy's USING and WITH CHECK conditions in ``form`` (see POLICY_FORM)."""
    if form == 3:
        # (SELECT f()): an InitPlan, evaluated once per statement, never per row.
        tenant = f"organization_id = (SELECT {SCHEMA}.organization_id())"
        readable = f"{tenant} OR {extra}" if extra else tenant
        # A NULL (no verified context) takes the ELSE branch and lets nothing through.
        return (
            f"CASE WHEN {readable} THEN true ELSE false END",
            f"CASE WHEN {tenant} THEN true ELSE false END",
        )
    # NULLIF: a variable set earlier in the session reads back as '' (not NULL) once its
    # transaction is over; '' must match nothing rather than fail the uuid cast.
    tenant = "organization_id = NULLIF(current_setting('app.organization_id', true), '')::uuid"
    bypass_on = "current_setting('app.bypass_rls', true) = 'on'"
    # The extra condition only ever widens what can be read: every write needs the tenant.
    readable = f"{tenant} OR {extra}" if extra else tenant
    if form == 1:
        return f"{readable} OR {bypass_on}", f"{tenant} OR {bypass_on}"
    if form == 2:
        # A NULL condition (an unset variable) takes the ELSE branch and lets nothing through.
        return (
            f"CASE WHEN {bypass_on} THEN true ELSE {readable} END",
            f"CASE WHEN {bypass_on} THEN true ELSE {tenant} END",
        )
    raise ValueError(f"Unknown row-level security policy form {form}.")


def _policy_sql(table: str, extra: str, form: int) -> list[str]:
    visible, writable = policy_conditions(extra, form)
    return [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY',
        f'CREATE POLICY tenant_isolation ON "{table}" USING ({visible}) WITH CHECK ({writable})',
    ]


class _PolicyOperation(Operation):
    """A migration operation on one model's table; does nothing on databases other than PostgreSQL."""

    reversible = True

    def __init__(self, model_name: str, extra: str = "") -> None:
        self.model_name = model_name
        self.extra = extra

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, state: Any) -> str:
        return str(state.apps.get_model(app_label, self.model_name)._meta.db_table)

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model_name": self.model_name}
        if self.extra:
            kwargs["extra"] = self.extra
        return kwargs


class EnableRowLevelSecurity(_PolicyOperation):
    """Migration operation: enable and force RLS on a model's table with the tenant policy.

    ``extra`` is one more SQL condition under which a row may be read (e.g. the user's own
    memberships, ``EXTRA["user_id"]``); writes always need the tenant. ``form`` is how the
    policy combines its conditions (POLICY_FORM); migrations name it, so a later form never
    rewrites their history.
    """

    def __init__(self, model_name: str, extra: str = "", form: int = POLICY_FORM) -> None:
        super().__init__(model_name, extra)
        self.form = form

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in _policy_sql(self._table(app_label, to_state), self.extra, self.form):
            schema_editor.execute(statement)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = self._table(app_label, from_state)
        schema_editor.execute(f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"')
        schema_editor.execute(f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY')
        schema_editor.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')

    def describe(self) -> str:
        return f"Enable row-level security on {self.model_name}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {**self._kwargs(), "form": self.form})


class RewriteRowLevelSecurityPolicy(_PolicyOperation):
    """Migration operation: rewrite a table's tenant policy from one form to another (ALTER POLICY).

    ``previous_extra`` is the extra condition of the previous form, when it differs.
    """

    def __init__(
        self, model_name: str, extra: str = "", *, form: int, previous_form: int, previous_extra: str | None = None
    ) -> None:
        super().__init__(model_name, extra)
        self.form = form
        self.previous_form = previous_form
        self.previous_extra = previous_extra

    def _alter(self, schema_editor: Any, table: str, form: int, extra: str) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        visible, writable = policy_conditions(extra, form)
        schema_editor.execute(f'ALTER POLICY tenant_isolation ON "{table}" USING ({visible}) WITH CHECK ({writable})')

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._alter(schema_editor, self._table(app_label, to_state), self.form, self.extra)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        previous_extra = self.extra if self.previous_extra is None else self.previous_extra
        self._alter(schema_editor, self._table(app_label, from_state), self.previous_form, previous_extra)

    def describe(self) -> str:
        return f"Rewrite the row-level security policy of {self.model_name} to form {self.form}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs = {**self._kwargs(), "form": self.form, "previous_form": self.previous_form}
        if self.previous_extra is not None:
            kwargs["previous_extra"] = self.previous_extra
        return (self.__class__.__qualname__, [], kwargs)


def unprotected_tables(tables: list[str], using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Return which of ``tables`` exist without enabled and forced RLS and a policy.

    Tables not created yet are skipped: ``migrate`` runs the checks before it creates them.
    """
    if not enabled(using) or not tables:
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)
              AND NOT (
                c.relrowsecurity AND c.relforcerowsecurity
                AND EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname)
              )
            """,
            [tables],
        )
        return sorted(row[0] for row in cursor.fetchall())
