"""Account jobs (taskhub.core.jobs.account_job): jobs of no organization, run with no tenant context."""

from __future__ import annotations

import logging
import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from taskhub.core import jobs, rls
from taskhub.core.logformat import current_job
from tests.support.queue import queued_jobs

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")

CALLS: list[dict[str, Any]] = []
FAILURES: list[dict[str, Any]] = []


def _visible_context() -> list[str]:
    if not rls.enabled():
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce({rls.SCHEMA}.organization_id()::text, '')")
        return [cursor.fetchone()[0]]


def _record(**kwargs: Any) -> None:
    CALLS.append({**kwargs, "context": _visible_context(), "log": dict(current_job.get() or {})})


def _explode(*, value: str) -> None:
    raise RuntimeError(f"boom {value}")


def _remember_failure(*, error: BaseException, value: str) -> None:
    FAILURES.append({"error": str(error), "value": value})


jobs.account_job("tests.account_record")(_record)
jobs.account_job("tests.account_explode", on_failure=_remember_failure)(_explode)
jobs.tenant_job("tests.tenant_record_for_accounts")(_record)


@pytest.fixture(autouse=True)
def _clean_calls():
    CALLS.clear()
    FAILURES.clear()


@pytest.mark.django_db
def test_inline_account_job_runs_at_once_without_an_organization():
    assert jobs.enqueue("tests.account_record", value="hello") is None
    [call] = CALLS
    assert call["value"] == "hello"
    assert "organization_id" not in call
    # Its log lines name the job but no organization.
    assert call["log"]["job"] == "tests.account_record"
    assert "organization_id" not in call["log"]
    assert call["context"] in ([], [""])


@pytest.mark.django_db
def test_inline_account_job_inside_a_tenant_transaction_sees_no_tenant():
    organization = uuid.uuid4()
    with rls.scoped(organization_id=organization):
        jobs.enqueue("tests.account_record", value="inside")
        after = _visible_context()
    assert CALLS[0]["context"] in ([], [""])
    # The caller's context is back once the job is done.
    assert after in ([], [str(organization)])


@pytest.mark.django_db
def test_an_account_job_takes_no_organization_and_a_tenant_job_needs_one():
    with pytest.raises(TypeError, match="belongs to no organization"):
        jobs.enqueue("tests.account_record", organization_id=uuid.uuid4(), value="x")
    with pytest.raises(TypeError, match="needs an organization_id"):
        jobs.enqueue("tests.tenant_record_for_accounts", value="x")
    assert CALLS == []


@pytest.mark.django_db
def test_an_inline_account_job_that_fails_goes_to_its_hook_not_to_the_caller(caplog):
    with caplog.at_level(logging.ERROR, logger="taskhub.core.jobs"):
        jobs.enqueue("tests.account_explode", value="bad")
    assert FAILURES == [{"error": "boom bad", "value": "bad"}]


@postgresql_only
def test_a_worker_runs_a_queued_account_job_with_no_tenant_context(job_queue, settings):
    settings.JOBS_MAX_ATTEMPTS = 1
    with transaction.atomic():
        job_id = jobs.enqueue("tests.account_record", value="queued")
        jobs.enqueue("tests.account_explode", value="bad")
    assert isinstance(job_id, int)
    rows = queued_jobs()
    assert rows[0] == ("tests.account_record", "todo", {"request_id": None, "value": "queued"})

    call_command("worker", "--once", stdout=StringIO())

    [call] = CALLS
    assert call["value"] == "queued"
    # No verified tenant context: row-level security shows the job no organization's rows.
    assert call["context"] == [""]
    assert FAILURES == [{"error": "boom bad", "value": "bad"}]
    assert [(name, status) for name, status, _ in queued_jobs()] == [("tests.account_explode", "failed")]
