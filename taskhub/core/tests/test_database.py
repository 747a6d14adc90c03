import os

import pytest
from django.conf import settings
from django.db import connection

from conftest import as_app_role
from taskhub.core import dbroles


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="role attributes exist only on PostgreSQL")
def test_app_role_is_neither_superuser_nor_bypassrls():
    # Requests run as the app role (conftest.py); that role must not be able to lower the wall.
    with as_app_role(), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        name, superuser, bypassrls = cursor.fetchone()
        report = dbroles.inspect_role()
    assert name == settings.TEST_REQUEST_ROLE
    assert superuser is False, "superusers bypass row-level security: tests would prove nothing"
    assert bypassrls is False
    assert report.problems == []


def test_ci_runs_on_postgresql_and_redis():
    # .ci/run sets CI=true with the documented variables; a silent fall back to SQLite fails here.
    if os.environ.get("CI") != "true" or os.environ.get("TASKHUB_TEST_SQLITE") == "1":
        pytest.skip("only CI promises PostgreSQL and Redis")
    assert connection.vendor == "postgresql"
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
