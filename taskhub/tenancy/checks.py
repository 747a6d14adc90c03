"""System check: every tenant-owned table must have forced row-level security with a policy."""

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from taskhub.core import rls
from taskhub.tenancy.registry import tenant_models


def _migrations_pending() -> bool:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


@register(Tags.database)
def check_row_level_security(databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when a table of a model with an ``organization`` key is not protected."""
    if not databases or DEFAULT_DB_ALIAS not in databases or not rls.enabled():
        return []
    tables = {model._meta.db_table: model._meta.label for model in tenant_models()}
    try:
        if _migrations_pending():
            # migrate runs the checks before it applies anything: judge the schema it leaves.
            return []
        missing = rls.unprotected_tables(sorted(tables))
    except DatabaseError as exc:
        return [Error(f"Could not read row-level security state: {exc}", id="taskhub.E002")]
    return [
        Error(
            f"{tables[table]} ({table}) is tenant-owned but has no forced row-level security policy.",
            hint="Add taskhub.core.rls.EnableRowLevelSecurity(<model>) to a migration of its app.",
            obj=tables[table],
            id="taskhub.E001",
        )
        for table in missing
    ]
