"""``makemigrations`` that protects every new tenant table in the migration that creates it.

For each ``CreateModel`` of a tenant model (``taskhub.tenancy.registry.tenant_models``) the
migration also gets ``EnableRowLevelSecurity(<model>)`` and a dependency on the migration
that defines the tenant context functions its policy calls. Nobody writes an RLS migration by
hand, and nobody can forget one.

The system check ``taskhub.E003`` (a tenant model without that operation) is left out of the
checks this command runs first: it fails exactly until this command has written the migration
it asks for.
"""

from __future__ import annotations

from typing import Any

from django.core.checks.registry import registry
from django.core.management.commands import makemigrations
from django.db.migrations import CreateModel, Migration

from taskhub.core.rls import EnableRowLevelSecurity
from taskhub.tenancy.checks import check_tenant_migrations
from taskhub.tenancy.registry import tenant_models

CONTEXT_MIGRATION = ("core", "0001_tenant_context")


def protect(app_label: str, migration: Migration) -> list[str]:
    """Add the RLS operation for each tenant model ``migration`` creates; return those models' names."""
    tenant = {model._meta.label_lower for model in tenant_models()}
    created = [
        operation.name_lower
        for operation in migration.operations
        if isinstance(operation, CreateModel) and f"{app_label}.{operation.name_lower}" in tenant
    ]
    # Instance attributes: the autodetector gave this migration its own lists.
    migration.operations = [*migration.operations, *(EnableRowLevelSecurity(name) for name in created)]  # type: ignore[misc]
    if created and CONTEXT_MIGRATION not in migration.dependencies and app_label != CONTEXT_MIGRATION[0]:
        migration.dependencies = [*migration.dependencies, CONTEXT_MIGRATION]  # type: ignore[misc]
    return created


class Command(makemigrations.Command):
    def check(self, *args: Any, **kwargs: Any) -> None:
        """Every system check but ``taskhub.E003``, which this command is run to satisfy."""
        registered: set[Any] = registry.registered_checks
        registered.discard(check_tenant_migrations)
        try:
            super().check(*args, **kwargs)
        finally:
            registered.add(check_tenant_migrations)

    def write_migration_files(self, changes: dict[str, list[Migration]], *args: Any, **kwargs: Any) -> None:
        for app_label, migrations in changes.items():
            for migration in migrations:
                for name in protect(app_label, migration):
                    if self.verbosity >= 1:
                        self.stdout.write(f"  {app_label}.{name}: row-level security enabled and forced")
        super().write_migration_files(changes, *args, **kwargs)
