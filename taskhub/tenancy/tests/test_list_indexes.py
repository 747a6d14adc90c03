"""The big tenant tables have no index that leads with a column every organization shares.

A list reads one organization's rows newest first through ``(organization_id, created_at)``.
An index on ``created_at`` alone was there too (the base model's ``db_index``), and after one
organization had created thousands of rows, `make bench` caught PostgreSQL reading another
organization's first page by walking that index backwards through them: 20,733 rows filtered
away for 51 (6.8 ms instead of 0.2 ms). A noisy neighbour must not be able to do that, so on
these tables every index leads with a foreign key (the organization, the parent row a list is
under, or a user or key the rows point at, which cascades use): never with a value a list
orders by (a time, a name, a status).
"""

from __future__ import annotations

import pytest
from django.db import connection

from taskhub.comments.models import Comment
from taskhub.projects.models import Project
from taskhub.tasks.models import Task


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Project, Task, Comment], ids=lambda model: model.__name__)
def test_every_index_of_a_listed_table_leads_with_the_organization_or_the_parent(model):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    foreign_keys = {field.column for field in model._meta.concrete_fields if field.is_relation}

    leading = {
        name: details["columns"][0]
        for name, details in constraints.items()
        if details["index"] and not details["primary_key"] and details["columns"] and details["columns"][0]
    }

    assert leading, "no index found: the introspection read nothing"
    assert {"organization_id"} <= set(leading.values())
    assert {name: column for name, column in leading.items() if column not in foreign_keys} == {}
