"""Tenant models are found, not listed; their tables are protected by the migration that creates them."""

from __future__ import annotations

import grimp
from django.apps import apps
from django.conf import settings
from django.core.checks import run_checks
from django.db import models
from django.db.migrations import CreateModel, Migration

from taskhub.core import rls
from taskhub.tenancy import checks
from taskhub.tenancy.management.commands.makemigrations import CONTEXT_MIGRATION, protect
from taskhub.tenancy.models import TenantModel
from taskhub.tenancy.registry import tenant_models, tenant_tables


def test_every_model_with_an_organization_key_is_a_tenant_model():
    found = {model._meta.label for model in tenant_models()}
    for model in apps.get_models():
        field = next((f for f in model._meta.concrete_fields if f.name == "organization"), None)
        if isinstance(field, models.ForeignKey):
            assert model._meta.label in found
    assert {"projects.Project", "tasks.Task", "organizations.Membership", "audit.AuditEvent"} <= found
    assert tenant_tables() == sorted(model._meta.db_table for model in tenant_models())


def test_tenant_model_subclasses_are_found():
    subclasses = [model for model in apps.get_models() if issubclass(model, TenantModel)]
    assert subclasses
    assert set(subclasses) <= set(tenant_models())


def _creating(app_label: str, name: str) -> Migration:
    creating = type(
        "Migration",
        (Migration,),
        {"operations": [CreateModel(name, fields=[])], "dependencies": [(app_label, "0001_initial")]},
    )
    return creating("0099_new", app_label)


def test_makemigrations_protects_a_new_tenant_table_in_the_migration_that_creates_it():
    migration = _creating("projects", "Project")

    assert protect("projects", migration) == ["project"]

    added = [op for op in migration.operations if isinstance(op, rls.EnableRowLevelSecurity)]
    assert [op.model_name for op in added] == ["project"]
    assert added[0].form == rls.POLICY_FORM
    assert CONTEXT_MIGRATION in migration.dependencies


def test_makemigrations_leaves_other_tables_alone():
    migration = _creating("accounts", "User")
    assert protect("accounts", migration) == []
    assert len(migration.operations) == 1
    assert CONTEXT_MIGRATION not in migration.dependencies


def test_the_check_passes_when_every_tenant_model_has_its_migration_operation():
    assert [message for message in run_checks() if message.id == "taskhub.E003"] == []


def test_the_check_fails_for_a_tenant_model_without_row_level_security(monkeypatch):
    real = checks._protected_models()
    monkeypatch.setattr(checks, "_protected_models", lambda: real - {("tasks", "task")})

    errors = [message for message in run_checks() if message.id == "taskhub.E003"]

    assert [error.obj for error in errors] == ["tasks.Task"]
    assert "makemigrations" in errors[0].hint


def test_tenancy_and_core_import_no_product_app_installed_now_or_later():
    """The layering, derived from INSTALLED_APPS: an app added tomorrow is covered without a config edit."""
    graph = grimp.build_graph("taskhub")
    lower = ("taskhub.tenancy", "taskhub.core")
    product = [
        name
        for name in (config.name for config in apps.get_app_configs())
        if name.startswith("taskhub.") and name not in lower
    ]
    assert "taskhub.projects" in product
    offenders = []
    for importer in lower:
        for imported in product:
            chains = graph.find_shortest_chains(importer=importer, imported=imported, as_packages=True)
            # Tests may drive the whole stack; the layers themselves may not.
            chains = {chain for chain in chains if ".tests" not in chain[0]}
            offenders += [" -> ".join(chain) for chain in chains]
    assert offenders == []
    assert settings.TENANT_MODEL == "organizations.Organization"
