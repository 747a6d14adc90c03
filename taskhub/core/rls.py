"""PostgreSQL row-level security: the session variables the policies read, and the policies.

Every tenant-owned table has a FORCED policy that lets a row through only when
``app.organization_id`` names its organization (or one of the narrower keys below), or when
``app.bypass_rls`` is ``on``. ``set_context`` is the one place that writes those variables,
always with ``set_config(..., true)``: transaction-local, so nothing survives COMMIT or
ROLLBACK and nothing leaks to the next request on a pooled or persistent connection
(pgbouncer in transaction mode included). On SQLite there is no row-level security and
these functions do nothing.

Variables:
- ``app.organization_id``: the tenant a request acts in.
- ``app.user_id``: lets a signed-in user read their own memberships in every organization
  (sign-in, ``auth/me/``, switching).
- ``app.api_key_prefix``: lets authentication read the one API key row with that prefix.
- ``app.invitation_token_hash``: lets accepting read the one invitation with that hash.
- ``app.bypass_rls``: platform paths across tenants, only through ``bypass(reason)``.

Outside a bypass, ``set_context`` also sets PostgreSQL's ``statement_timeout`` for the
transaction to ``DB_STATEMENT_TIMEOUT_MS``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

VARIABLES = ("organization_id", "user_id", "api_key_prefix", "invitation_token_hash", "bypass_rls")


def enabled(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Return whether the database enforces row-level security (PostgreSQL does, SQLite not)."""
    return connections[using].vendor == "postgresql"


def set_context(
    *,
    organization_id: UUID | str | None = None,
    user_id: UUID | str | None = None,
    api_key_prefix: str | None = None,
    invitation_token_hash: str | None = None,
    bypass: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Set every RLS variable for the rest of the current transaction; unset ones are cleared.

    Must run inside a transaction: outside one, the values would end with the statement.
    """
    if not enabled(using):
        return
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError("set_context outside a transaction would not hold for the next statement.")
    values = {
        "organization_id": str(organization_id) if organization_id else "",
        "user_id": str(user_id) if user_id else "",
        "api_key_prefix": api_key_prefix or "",
        "invitation_token_hash": invitation_token_hash or "",
        "bypass_rls": "on" if bypass else "",
    }
    assignments = [f"set_config('app.{name}', %s, true)" for name in VARIABLES]
    parameters = [values[name] for name in VARIABLES]
    # In the same statement, so it costs no round trip; transaction-local like the rest.
    timeout = settings.DB_STATEMENT_TIMEOUT_MS
    if bypass:
        # Platform paths (a seed, an import, the admin) get the server's own setting back, even
        # inside a tenant's transaction: they may run long on purpose.
        server_value = "(SELECT reset_val FROM pg_settings WHERE name = 'statement_timeout')"
        assignments.append(f"set_config('statement_timeout', {server_value}, true)")
    elif timeout:
        assignments.append("set_config('statement_timeout', %s, true)")
        parameters.append(f"{timeout}ms")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(assignments)}", parameters)


def _current(using: str) -> list[str]:
    reads = ", ".join(f"coalesce(current_setting('app.{name}', true), '')" for name in VARIABLES)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {reads}")
        return list(cursor.fetchone())


@contextmanager
def scoped(using: str = DEFAULT_DB_ALIAS, **context: Any) -> Iterator[None]:
    """Run the block in a transaction whose RLS variables are ``context`` (see set_context).

    Inside a larger transaction the previous values come back when the block ends, so a
    scope never widens what the code after it can see.
    """
    nested = enabled(using) and connections[using].in_atomic_block
    previous = _current(using) if nested else None
    with transaction.atomic(using=using):
        set_context(using=using, **context)
        yield
        if previous is not None:
            organization_id, user_id, api_key_prefix, invitation_token_hash, bypass_rls = previous
            set_context(
                using=using,
                organization_id=organization_id,
                user_id=user_id,
                api_key_prefix=api_key_prefix,
                invitation_token_hash=invitation_token_hash,
                bypass=bypass_rls == "on",
            )


@contextmanager
def bypass(reason: str, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Let the block see every tenant's rows: for platform paths only (admin, commands, backups)."""
    logger.info("row-level security bypassed: %s", reason)
    with scoped(using=using, bypass=True):
        yield


# How a policy combines its conditions, by the migrations that wrote it:
# 1 (the 0002/0003 row_level_security migrations): ``tenant OR extra OR bypass``.
# 2 (the policy_bypass_as_case migrations): ``CASE WHEN bypass THEN true ELSE tenant OR extra END``.
# Both let the same rows through. They differ for the planner: it multiplies the selectivity of
# the policy's OR (about 1/organizations + 0.005) into the query's own ``organization_id = %s``,
# so a page query of a 50,000-row organization was estimated at a few dozen rows and planned as
# bitmap scan + sort of every matching row instead of reading 51 rows down the ordered index
# (docs/benchmarks.md). It rates a CASE at 0.5: an estimate within 2x, not 1,000x.
POLICY_FORM = 2


def policy_conditions(extra: str = "", form: int = POLICY_FORM) -> tuple[str, str]:
    """Return the policy's USING and WITH CHECK conditions in ``form`` (see POLICY_FORM)."""
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
    memberships); writes always need the tenant. ``form`` is how the policy combines its
    conditions (POLICY_FORM); migrations name it, so a later form never rewrites their history.
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
    """Migration operation: rewrite a table's tenant policy from one form to another (ALTER POLICY)."""

    def __init__(self, model_name: str, extra: str = "", *, form: int, previous_form: int) -> None:
        super().__init__(model_name, extra)
        self.form = form
        self.previous_form = previous_form

    def _alter(self, schema_editor: Any, table: str, form: int) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        visible, writable = policy_conditions(self.extra, form)
        schema_editor.execute(f'ALTER POLICY tenant_isolation ON "{table}" USING ({visible}) WITH CHECK ({writable})')

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._alter(schema_editor, self._table(app_label, to_state), self.form)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._alter(schema_editor, self._table(app_label, from_state), self.previous_form)

    def describe(self) -> str:
        return f"Rewrite the row-level security policy of {self.model_name} to form {self.form}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (
            self.__class__.__qualname__,
            [],
            {**self._kwargs(), "form": self.form, "previous_form": self.previous_form},
        )


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
