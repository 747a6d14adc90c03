"""``python -m scripts.bench.seed``: many organizations of projects and tasks, fast, for the benchmark.

``make bench`` (scripts/bench/stack.py) and ``make load`` seed through it, and locustfile.py signs
in as the users it makes. Organizations, users and memberships go in through the ORM (thousands
of rows); projects and tasks through one ``INSERT ... SELECT generate_series`` per batch of
organizations, so a million projects take minutes, not hours. Everything runs under
``rls.bypass``: the tables keep their forced row-level security, and the writes across tenants
go the one audited way. PostgreSQL only: on any other database it refuses before writing.

    python -m scripts.bench.seed --organizations N --projects M [--tasks K] --password P [--prefix bench]

with the database of ``DJANGO_SETTINGS_MODULE`` (``config.settings.local`` unless set, as
manage.py). Not a management command: no product module imports the benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO
from uuid import UUID

import django
from django.contrib.auth.hashers import make_password
from django.db import connection, connections
from django.utils import timezone

from taskhub.core import rls
from taskhub.tenancy.roles import Role

# Organizations per transaction: big enough for bulk speed, small enough to show progress and to
# keep every committed organization complete.
BATCH = 100
MAX_TASKS_PER_PROJECT = 999_999
ROLES = (Role.OWNER, Role.MEMBER)
DESCRIPTION = (
    "Create organizations <prefix>-1 .. <prefix>-N, each with users <slug>-owner and <slug>-member "
    "(password --password), M projects and K tasks per project. Organizations that exist are kept "
    "as they are (their users get --password), so a run can grow an earlier one. PostgreSQL only."
)

# Project g of an organization (g = 1 is the newest) is created g seconds before the run,
# minus the organization's ordinal in milliseconds: unique times within an organization (cursor
# pages never tie) and organizations interleaved on disk, as rows written over time are.
# Task k of a project follows it by k microseconds.
_PROJECTS_AND_TASKS = """
WITH organization AS (
    SELECT * FROM unnest(%(organizations)s::uuid[], %(owners)s::uuid[], %(ordinals)s::int[]) AS o(id, owner_id, n)
), project AS (
    INSERT INTO {projects} (
        id, organization_id, key, name, description, status, created_by_id, task_counter, created_at, updated_at
    )
    SELECT gen_random_uuid(), o.id, 'P' || g, 'Project ' || g || ' of bench organization ' || o.n,
        'Seeded by scripts.bench.seed: project ' || g || ', ' || %(tasks)s || ' tasks.',
        CASE WHEN g %% 10 = 0 THEN 'archived' ELSE 'active' END, o.owner_id, %(tasks)s,
        %(now)s - g * interval '1 second' - o.n * interval '1 millisecond',
        %(now)s - g * interval '1 second' - o.n * interval '1 millisecond'
    FROM generate_series(1, %(projects)s) AS g CROSS JOIN organization AS o
    RETURNING id, organization_id, key, created_by_id, created_at
)
INSERT INTO {tasks} (
    id, organization_id, project_id, number, title, description, status, priority, assignee_id, due_date,
    created_by_id, created_at, updated_at
)
SELECT gen_random_uuid(), p.organization_id, p.id, k, 'Task ' || k || ' of ' || p.key, 'Seeded by scripts.bench.seed.',
    (ARRAY['todo', 'in_progress', 'done', 'cancelled'])[1 + (substr(p.key, 2)::int + k) %% 4],
    (ARRAY['low', 'medium', 'high', 'urgent'])[1 + (substr(p.key, 2)::int / 4 + k) %% 4],
    CASE WHEN k %% 2 = 0 THEN p.created_by_id END,
    CASE WHEN k %% 3 = 0 THEN (p.created_at + k * interval '1 day')::date END,
    p.created_by_id, p.created_at + k * interval '1 microsecond', p.created_at + k * interval '1 microsecond'
FROM project AS p CROSS JOIN generate_series(1, %(tasks)s) AS k
"""


class SeedError(Exception):
    """A refusal: the database is not PostgreSQL, or the counts are impossible. Nothing was written."""


def seed(
    *, organizations: int, projects: int, tasks: int = 0, password: str, prefix: str = "bench", out: TextIO = sys.stdout
) -> None:
    """Seed organizations ``<prefix>-1 .. <prefix>-<organizations>`` that do not exist yet; report on ``out``.

    Raise SeedError, before writing anything, off PostgreSQL or for impossible counts.
    """
    # The models once Django is set up (main() sets it up when run as a program).
    from taskhub.accounts.models import User  # noqa: PLC0415
    from taskhub.organizations.models import Organization  # noqa: PLC0415

    if connection.vendor != "postgresql":
        raise SeedError(
            "scripts.bench.seed writes with PostgreSQL's generate_series and needs a PostgreSQL database "
            "(set DB_NAME/DB_HOST or DATABASE_URL); use manage.py seed_tenants on SQLite."
        )
    if organizations < 1 or projects < 0 or not 0 <= tasks <= MAX_TASKS_PER_PROJECT:
        raise SeedError(f"Need --organizations >= 1, --projects >= 0, 0 <= --tasks <= {MAX_TASKS_PER_PROJECT}.")
    started = time.monotonic()
    slugs = {index: f"{prefix}-{index}" for index in range(1, organizations + 1)}
    password_hash = make_password(password)
    with rls.bypass("scripts.bench.seed: set the bench users' password"):
        existing = set(Organization.objects.filter(slug__in=slugs.values()).values_list("slug", flat=True))
        User.objects.filter(username__startswith=f"{prefix}-").update(password=password_hash)
    missing = [index for index, slug in slugs.items() if slug not in existing]
    for start in range(0, len(missing), BATCH):
        batch = missing[start : start + BATCH]
        with rls.bypass(f"scripts.bench.seed: organizations {batch[0]}..{batch[-1]}"):
            _seed(batch, prefix=prefix, password_hash=password_hash, projects=projects, tasks=tasks)
        out.write(f"  organizations {batch[0]}..{batch[-1]} seeded ({time.monotonic() - started:.1f} s)\n")
    if missing:
        _vacuum()
    out.write(
        f"Seeded {len(missing)} organization(s) of {projects} projects x {tasks} tasks "
        f"({len(missing) * projects} projects, {len(missing) * projects * tasks} tasks), "
        f"kept {len(existing)} existing, in {time.monotonic() - started:.1f} s.\n"
    )


def _vacuum() -> None:
    """Leave the tables as autovacuum would an hour later: statistics fresh, visibility map set.

    Otherwise the planner guesses from stale statistics and autovacuum rewrites a million
    rows' hint bits in the middle of whatever runs next. VACUUM cannot run inside a
    transaction (as in tests): there, ANALYZE alone.
    """
    from taskhub.projects.models import Project  # noqa: PLC0415
    from taskhub.tasks.models import Task  # noqa: PLC0415

    tables = f"{Project._meta.db_table}, {Task._meta.db_table}"
    # Only the tables' owner may; the platform role (not the owner) gets PostgreSQL's warning
    # and `make bench` vacuums as the superuser of its private server after seeding.
    platform = connections[rls.platform_alias()]
    with platform.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}" if platform.in_atomic_block else f"VACUUM (ANALYZE) {tables}")


def _seed(ordinals: list[int], *, prefix: str, password_hash: str, projects: int, tasks: int) -> None:
    from taskhub.accounts.models import User  # noqa: PLC0415
    from taskhub.organizations.models import Membership, Organization  # noqa: PLC0415
    from taskhub.projects.models import Project  # noqa: PLC0415
    from taskhub.tasks.models import Task  # noqa: PLC0415

    organizations = Organization.objects.bulk_create(
        [Organization(name=f"Bench {index}", slug=f"{prefix}-{index}") for index in ordinals]
    )
    usernames = [f"{prefix}-{index}-{role.value}" for index in ordinals for role in ROLES]
    users = {user.username: user for user in User.objects.filter(username__in=usernames)}
    created = User.objects.bulk_create(
        [
            User(username=name, email=f"{name}@bench.example.com", password=password_hash)
            for name in usernames
            if name not in users
        ]
    )
    users.update({user.username: user for user in created})
    Membership.objects.bulk_create(
        [
            Membership(organization=organization, user=users[f"{prefix}-{index}-{role.value}"], role=role)
            for index, organization in zip(ordinals, organizations, strict=True)
            for role in ROLES
        ]
    )
    owners: list[UUID] = [users[f"{prefix}-{index}-{Role.OWNER.value}"].pk for index in ordinals]
    if not projects:
        return
    sql = _PROJECTS_AND_TASKS.format(projects=Project._meta.db_table, tasks=Task._meta.db_table)
    # Raw SQL is not routed: name the platform alias that bypass() opened.
    with connections[rls.platform_alias()].cursor() as cursor:
        cursor.execute(
            sql,
            {
                "organizations": [organization.pk for organization in organizations],
                "owners": owners,
                "ordinals": ordinals,
                "projects": projects,
                "tasks": tasks,
                "now": timezone.now(),
            },
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.seed", description=DESCRIPTION)
    parser.add_argument("--organizations", type=int, required=True, help="N: organizations in all")
    parser.add_argument("--projects", type=int, required=True, help="M: projects per organization")
    parser.add_argument("--tasks", type=int, default=0, help="K: tasks per project")
    parser.add_argument("--password", required=True, help="password of every seeded user")
    parser.add_argument("--prefix", default="bench", help="slug prefix of the organizations")
    arguments = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    try:
        seed(
            organizations=arguments.organizations,
            projects=arguments.projects,
            tasks=arguments.tasks,
            password=arguments.password,
            prefix=arguments.prefix,
        )
    except SeedError as refusal:
        print(f"python -m scripts.bench.seed: {refusal}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
