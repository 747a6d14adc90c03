"""scripts.bench.seed: the benchmark's organizations, projects and tasks, and its refusals."""

import io
import subprocess
import sys

import pytest
from django.db import connection

from conftest import as_app_role
from scripts.bench.seed import SeedError, seed
from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.organizations.models import Membership, Organization
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role
from tests.support.servers import REPO, child_environment

PASSWORD = "bench-password-for-tests"
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="scripts.bench.seed needs PostgreSQL")


def _seed(organizations: int, projects: int = 5, tasks: int = 2, password: str = PASSWORD) -> str:
    out = io.StringIO()
    seed(
        organizations=organizations,
        projects=projects,
        tasks=tasks,
        password=password,
        prefix="seedtest",
        out=out,
    )
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor == "postgresql", reason="the refusal is SQLite's")
def test_seed_refuses_sqlite_with_a_clear_error():
    with pytest.raises(SeedError, match="needs a PostgreSQL database"):
        _seed(1)
    assert not Organization.objects.exists()


@postgresql_only
@pytest.mark.django_db
def test_seed_creates_the_rows_per_organization():
    output = _seed(3, projects=5, tasks=2)

    assert "Seeded 3 organization(s) of 5 projects x 2 tasks (15 projects, 30 tasks)" in output
    organizations = Organization.objects.filter(slug__startswith="seedtest-")
    assert sorted(organizations.values_list("slug", flat=True)) == ["seedtest-1", "seedtest-2", "seedtest-3"]
    for organization in organizations:
        projects = Project.objects.filter(organization=organization)
        assert projects.count() == 5
        assert Task.objects.filter(organization=organization).count() == 10
        # Cursor pages never tie: every project of an organization has its own creation time.
        assert projects.values("created_at").distinct().count() == 5
        assert set(Task.objects.filter(organization=organization).values_list("number", flat=True)) == {1, 2}
        roles = dict(Membership.objects.filter(organization=organization).values_list("user__username", "role"))
        assert roles == {f"{organization.slug}-owner": Role.OWNER, f"{organization.slug}-member": Role.MEMBER}


@postgresql_only
@pytest.mark.django_db
def test_seeded_users_sign_in_with_the_given_password(api_client):
    _seed(1, projects=1, tasks=0)

    reply = api_client.post("/api/v1/auth/token/", {"username": "seedtest-1-owner", "password": PASSWORD})

    assert reply.status_code == 200, reply.content
    projects = api_client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Bearer {reply.json()['access']}")
    assert [project["key"] for project in projects.json()["results"]] == ["P1"]


@postgresql_only
@pytest.mark.django_db
def test_seeded_rows_stay_behind_row_level_security():
    _seed(2, projects=3, tasks=1)
    first, second = Organization.objects.filter(slug__in=["seedtest-1", "seedtest-2"]).order_by("slug")

    with as_app_role(), rls.scoped(organization_id=first.pk):
        visible = set(Project.objects.values_list("organization_id", flat=True))
        tasks = set(Task.objects.values_list("organization_id", flat=True))
    with as_app_role(), rls.scoped():
        nothing = Project.objects.count()

    assert visible == {first.pk}
    assert tasks == {first.pk}
    assert second.pk not in visible
    assert nothing == 0


@postgresql_only
@pytest.mark.django_db
def test_seed_again_keeps_existing_organizations_and_adds_the_missing():
    _seed(2, projects=3, tasks=1)
    kept = set(Project.objects.filter(organization__slug="seedtest-1").values_list("pk", flat=True))

    output = _seed(3, projects=4, tasks=1, password="another-bench-password")

    assert "Seeded 1 organization(s)" in output
    assert "kept 2 existing" in output
    assert set(Project.objects.filter(organization__slug="seedtest-1").values_list("pk", flat=True)) == kept
    assert Project.objects.filter(organization__slug="seedtest-3").count() == 4
    # Every seeded user, old or new, now signs in with the latest password.
    for user in User.objects.filter(username__startswith="seedtest-"):
        assert user.check_password("another-bench-password")


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize(("organizations", "projects", "tasks"), [(0, 1, 1), (1, -1, 0), (1, 1, -1), (1, 1, 1_000_000)])
def test_seed_refuses_impossible_counts(organizations, projects, tasks):
    with pytest.raises(SeedError, match="Need --organizations"):
        _seed(organizations, projects=projects, tasks=tasks)


def test_python_m_scripts_bench_seed_refuses_sqlite_and_writes_nothing(tmp_path):
    """The program ``make bench`` runs: on SQLite it exits 1 naming PostgreSQL, before any write."""
    database = tmp_path / "seed.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.bench.seed", "--organizations=1", "--projects=1", "--password=x"],
        capture_output=True,
        text=True,
        env=child_environment(
            DJANGO_SETTINGS_MODULE="config.settings.local", SECRET_KEY="x" * 50, SQLITE_PATH=str(database)
        ),
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "needs a PostgreSQL database" in result.stderr
    assert not database.exists() or database.stat().st_size == 0
