"""Every index of a tenant table leads with ``organization_id``, except the ones named here.

Read from PostgreSQL's catalogue (``pg_index``, ``pg_class``, ``pg_attribute``) of the migrated
test database, for the table of every model with an ``organization`` foreign key
(``taskhub.organizations.export.tenant_models``): a tenant query filters by
``organization_id`` first, so an index that starts with another column serves it only when
that column is as selective. The exceptions, and only these:

- the primary key (``id``);
- the one-column index Django creates for every foreign key other than ``organization``
  (``created_by``, ``user``, ``project``...): deleting or nulling the referenced row finds
  the rows that point at it through it;
- the one-column index of ``BaseModel.created_at`` (``db_index=True``), which tenant lists do
  not use: they use the ``(organization_id, created_at)`` indexes;
- the two UNIQUE columns that are global by design (``GLOBAL_UNIQUE``) and the
  ``varchar_pattern_ops`` companion index Django adds to each on PostgreSQL;
- the two indexes of ``tasks_task`` that lead with ``project_id`` (``LED_BY_PROJECT``): a project
  lies in one organization, so ``project_id`` is at least as selective.

Every named exception must still exist, so this list cannot outlive the schema. Skipped on
SQLite (no catalogue to read); CI's PostgreSQL pass runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import connection, models

from taskhub.tenancy.registry import tenant_models

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalogue (pg_index)"),
    pytest.mark.django_db,
]

ORGANIZATION_COLUMN = "organization_id"
# UNIQUE across all organizations, on purpose: the value is looked up before the organization is known.
GLOBAL_UNIQUE = {
    ("accounts_apikey", "prefix"): "authentication finds an API key by its prefix, before it knows the organization",
    ("organizations_invitation", "token_hash"): "an invitation link carries only its token",
}
LED_BY_PROJECT: dict[tuple[str, tuple[str, ...]], str] = {
    ("tasks_task", ("project_id", "number")): "UNIQUE: task numbers count per project",
    ("tasks_task", ("project_id", "created_at")): "one project's tasks, newest first (projects/{id}/tasks/)",
}
# The operator classes Django's LIKE companion index uses for a unique or indexed CharField.
PATTERN_OPS = {"varchar_pattern_ops", "text_pattern_ops"}

_CATALOGUE = """
SELECT i.relname,
       x.indisprimary,
       x.indisunique,
       opc.opcname,
       array(
           SELECT coalesce(a.attname::text, pg_get_indexdef(x.indexrelid, k + 1, true))
           FROM generate_subscripts(x.indkey, 1) AS k
           LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k] AND x.indkey[k] <> 0
           WHERE k < x.indnkeyatts
           ORDER BY k
       )
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_opclass opc ON opc.oid = x.indclass[0]
WHERE x.indrelid = %s::regclass
ORDER BY i.relname
"""


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    primary: bool
    unique: bool
    first_opclass: str
    columns: tuple[str, ...]


def _indexes(table: str) -> list[Index]:
    with connection.cursor() as cursor:
        cursor.execute(_CATALOGUE, [table])
        return [
            Index(table, name, primary, unique, opclass, tuple(columns))
            for name, primary, unique, opclass, columns in cursor.fetchall()
        ]


def _exception(model: type[models.Model], index: Index) -> str | None:
    """Why ``index`` may lead with another column than organization_id, or None."""
    table, columns = index.table, index.columns
    one_column = len(columns) == 1
    field = next((f for f in model._meta.concrete_fields if one_column and f.column == columns[0]), None)
    global_unique = GLOBAL_UNIQUE.get((table, columns[0]))
    reasons = [
        (index.primary and columns == (model._meta.pk.column,), "primary key"),
        (
            not index.unique
            and isinstance(field, models.ForeignKey)
            and getattr(field, "db_index", False)
            and field.column != ORGANIZATION_COLUMN,
            f"Django's index for the foreign key {getattr(field, 'name', '')}",
        ),
        (
            not index.unique and field is not None and field.name == "created_at" and getattr(field, "db_index", False),
            "BaseModel.created_at (db_index=True)",
        ),
        (
            one_column and not index.unique and global_unique is not None and index.first_opclass in PATTERN_OPS,
            f"Django's LIKE companion of the UNIQUE {columns[0]}",
        ),
        (
            one_column and index.unique and global_unique is not None,
            f"UNIQUE {columns[0]}, global by design: {global_unique}",
        ),
        (
            (table, columns) in LED_BY_PROJECT,
            f"led by project_id, a project lies in one organization: {LED_BY_PROJECT.get((table, columns))}",
        ),
    ]
    return next((reason for applies, reason in reasons if applies), None)


def _catalogue() -> dict[type[models.Model], list[Index]]:
    return {model: _indexes(model._meta.db_table) for model in tenant_models()}


def test_the_tenant_tables_come_from_the_models():
    tables = {model._meta.db_table for model in tenant_models()}
    # The models with an organization foreign key, today; a new one is checked without being listed.
    assert tables >= {
        "accounts_apikey",
        "audit_auditevent",
        "organizations_invitation",
        "organizations_membership",
        "projects_project",
        "tasks_task",
    }
    for model, indexes in _catalogue().items():
        assert indexes, f"{model._meta.db_table}: no index in the catalogue"


def test_every_index_of_a_tenant_table_leads_with_organization_id_but_the_named_exceptions():
    unexplained = []
    for model, indexes in _catalogue().items():
        for index in indexes:
            if index.columns[0] != ORGANIZATION_COLUMN and _exception(model, index) is None:
                unexplained.append(f"{index.table}.{index.name} on ({', '.join(index.columns)})")
    assert not unexplained, (
        "indexes of tenant tables that do not lead with organization_id; lead with it, or name the exception "
        f"in {__name__} with the reason: {unexplained}"
    )


def test_each_tenant_table_has_an_organization_led_index():
    for model, indexes in _catalogue().items():
        led = [index.name for index in indexes if index.columns[0] == ORGANIZATION_COLUMN]
        assert led, f"{model._meta.db_table} has no index leading with organization_id"


def test_every_named_exception_still_exists():
    found = {(index.table, index.columns) for indexes in _catalogue().values() for index in indexes}
    for table, column in GLOBAL_UNIQUE:
        assert (table, (column,)) in found, f"GLOBAL_UNIQUE names {table}.{column}, which has no index"
    for key in LED_BY_PROJECT:
        assert key in found, f"LED_BY_PROJECT names {key}, which is no index"
