"""System checks: every tenant-owned table must have forced row-level security with a policy.

``taskhub.E003`` reads the migration files (no database): a tenant model whose app has no
``EnableRowLevelSecurity`` for it fails ``manage.py check`` and the test suite at once.
``taskhub.E001`` reads the database the checks run against.
"""

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

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


def _protected_models() -> set[tuple[str, str]]:
    """(app label, model name) of every model an ``EnableRowLevelSecurity`` in a migration file names."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {
        (app_label, operation.model_name.lower())
        for (app_label, _), migration in loader.disk_migrations.items()
        for operation in migration.operations
        if isinstance(operation, rls.EnableRowLevelSecurity)
    }


@register()
def check_tenant_migrations(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when a tenant model's app has no migration that enables row-level security on it."""
    protected = _protected_models()
    return [
        Error(
            f"{model._meta.label} is tenant-owned but no migration of {model._meta.app_label} enables row-level "
            "security on it.",
            hint="Run manage.py makemigrations: it adds EnableRowLevelSecurity to the migration creating a tenant "
            "model. For an existing model, add taskhub.core.rls.EnableRowLevelSecurity("
            f'"{model._meta.model_name}") to a new migration.',
            obj=model._meta.label,
            id="taskhub.E003",
        )
        for model in tenant_models()
        if (model._meta.app_label, model._meta.model_name) not in protected
    ]
