"""The audit table's database side on PostgreSQL: append-only, whatever SQL the app sends.

Two walls, each enough alone for the app role:

- **grants**: the app role may SELECT and INSERT audit events, nothing else. ``migrate`` grants
  every role DML on every table, then takes UPDATE, DELETE and TRUNCATE back from the app role
  (and UPDATE from the platform role) on every table that carries the ``taskhub_append_only``
  trigger (``taskhub.core.dbroles.apply_grants``).
- **a trigger** refuses every UPDATE to every role but the table's owner (the migration role),
  and every DELETE or TRUNCATE too, except by a role that bypasses row-level security (the
  platform role) in a transaction that set ``taskhub.audit_purge`` to ``on``: only the
  retention purge (``manage.py purge_audit_events``) and ``manage.py flush`` (which empties the
  whole database: tests, development) set it. The setting is a guard against a platform path
  deleting by mistake (the admin, a support command), not a wall against whoever holds the
  platform role's password: that is what the hash chain is for (docs/audit.md).

SQLite has neither: there the chain and its verification are the whole protection.

On both databases a third trigger moves an organization's chain head (``audit_chainhead``) to
each event inserted after it, in the INSERT's own statement: an append is the head's locking
upsert and the INSERT, two statements (taskhub.audit.chain).
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

from taskhub.core.dbroles import APPEND_ONLY_TRIGGER

# The session setting that lets the platform role delete audit events (and only it, and only
# DELETE or TRUNCATE): set transaction-locally by the purge, for the session by ``flush``.
PURGE_SETTING = "taskhub.audit_purge"
FUNCTION = "taskhub_audit_append_only"
HEAD_TRIGGER = "taskhub_audit_chain_head"


def _function_sql() -> str:
    return f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    is_owner boolean;
    is_platform boolean;
BEGIN
    SELECT c.relowner = r.oid, r.rolbypassrls OR r.rolsuper INTO is_owner, is_platform
      FROM pg_catalog.pg_class c, pg_catalog.pg_roles r
     WHERE c.oid = TG_RELID AND r.rolname = current_user;
    IF is_owner THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD WHEN 'UPDATE' THEN NEW ELSE NULL END;
    END IF;
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND is_platform
       AND coalesce(current_setting('{PURGE_SETTING}', true), '') = 'on' THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NULL END;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused for role %', TG_OP, current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only the retention purge (manage.py purge_audit_events) removes audit events.';
END
$$"""  # noqa: S608 - constants only


def trigger_sql(table: str) -> list[str]:
    return [
        _function_sql(),
        f'CREATE TRIGGER {APPEND_ONLY_TRIGGER} BEFORE UPDATE OR DELETE ON "{table}" '
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
        f'CREATE TRIGGER {APPEND_ONLY_TRIGGER}_truncate BEFORE TRUNCATE ON "{table}" '
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()",
        f"REVOKE ALL ON FUNCTION {FUNCTION}() FROM PUBLIC",
    ]


class MakeAppendOnly(Operation):
    """Migration operation: the append-only trigger on a model's table (PostgreSQL only)."""

    reversible = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _table(self, app_label: str, state: Any) -> str:
        return str(state.apps.get_model(app_label, self.model_name)._meta.db_table)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in trigger_sql(self._table(app_label, to_state)):
            schema_editor.execute(statement, params=None)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = self._table(app_label, from_state)
        schema_editor.execute(f'DROP TRIGGER IF EXISTS {APPEND_ONLY_TRIGGER}_truncate ON "{table}"')
        schema_editor.execute(f'DROP TRIGGER IF EXISTS {APPEND_ONLY_TRIGGER} ON "{table}"')
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")

    def describe(self) -> str:
        return f"Make {self.model_name} append-only"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {"model_name": self.model_name})


def head_trigger_sql(vendor: str, events: str, heads: str) -> list[str]:
    """An AFTER INSERT trigger on the events table that moves the organization's head forward to the new event."""
    update = (
        f'UPDATE "{heads}" SET seq = NEW.seq, hash = NEW.hash, created_at = NEW.created_at '  # noqa: S608 - model tables
        "WHERE organization_id = NEW.organization_id AND seq < NEW.seq;"
    )
    if vendor == "postgresql":
        return [
            # As the inserting role, under its row-level security: the head of the organization it writes in.
            f"""CREATE OR REPLACE FUNCTION {HEAD_TRIGGER}() RETURNS trigger
                LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
                BEGIN {update} RETURN NULL; END $$""",
            f'CREATE TRIGGER {HEAD_TRIGGER} AFTER INSERT ON "{events}" FOR EACH ROW EXECUTE FUNCTION {HEAD_TRIGGER}()',
        ]
    return [f'CREATE TRIGGER {HEAD_TRIGGER} AFTER INSERT ON "{events}" FOR EACH ROW BEGIN {update} END']


class AdvanceHeadOnInsert(Operation):
    """Migration operation: the trigger that keeps ``ChainHead`` at each organization's last event."""

    reversible = True

    def __init__(self, model_name: str, head_model_name: str) -> None:
        self.model_name = model_name
        self.head_model_name = head_model_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _tables(self, app_label: str, state: Any) -> tuple[str, str]:
        return (
            str(state.apps.get_model(app_label, self.model_name)._meta.db_table),
            str(state.apps.get_model(app_label, self.head_model_name)._meta.db_table),
        )

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        events, heads = self._tables(app_label, to_state)
        for statement in head_trigger_sql(schema_editor.connection.vendor, events, heads):
            schema_editor.execute(statement, params=None)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        events, _ = self._tables(app_label, from_state)
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS {HEAD_TRIGGER} ON "{events}"')
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {HEAD_TRIGGER}()")
        else:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {HEAD_TRIGGER}")

    def describe(self) -> str:
        return f"Move the chain head on every insert into {self.model_name}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (
            self.__class__.__qualname__,
            [],
            {"model_name": self.model_name, "head_model_name": self.head_model_name},
        )
