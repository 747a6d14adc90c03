"""The job queue's core (taskhub.core.jobs): enqueueing, inline runs, retries, what operators see.

The jobs declared here exist only in this test process. The tests of real jobs run by a real
worker process live with the jobs (taskhub/organizations/tests).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from procrastinate.contrib.django import app

from taskhub.core import health, jobs
from taskhub.core.logformat import current_request_id
from tests.support.queue import queued_jobs

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")

CALLS: list[dict[str, Any]] = []
FAILURES: list[dict[str, Any]] = []


def _record(*, organization_id: uuid.UUID, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    CALLS.append({"organization_id": organization_id, "value": value, "in_transaction": connection.in_atomic_block})


def _explode(*, organization_id: uuid.UUID, value: str) -> None:
    raise RuntimeError(f"boom {value}")


def _remember_failure(*, organization_id: uuid.UUID, error: BaseException, value: str) -> None:
    FAILURES.append({"organization_id": organization_id, "error": str(error), "value": value})


jobs.tenant_job("tests.record")(_record)
jobs.tenant_job("tests.explode", on_failure=_remember_failure)(_explode)


@pytest.fixture(autouse=True)
def _clean_calls():
    CALLS.clear()
    FAILURES.clear()


# -- inline mode (SQLite, and the test suite's default) -----------------------------------


@pytest.mark.django_db
def test_inline_job_runs_at_once_in_its_organization(settings):
    settings.JOBS_INLINE = True
    organization = uuid.uuid4()
    assert jobs.enqueue("tests.record", organization_id=organization, value="a") is None
    assert [{"organization_id": organization, "value": "a", "in_transaction": True}] == CALLS


@pytest.mark.django_db
def test_inline_failure_goes_to_on_failure_and_leaves_the_callers_transaction_usable(settings):
    settings.JOBS_INLINE = True
    organization = uuid.uuid4()
    with transaction.atomic():
        jobs.enqueue("tests.explode", organization_id=organization, value="x")
        # The savepoint was rolled back, not the caller's transaction: it still runs statements.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    assert [{"organization_id": organization, "error": "boom x", "value": "x"}] == FAILURES


@pytest.mark.django_db
def test_inline_job_scheduled_for_later_does_not_run_now(settings):
    settings.JOBS_INLINE = True
    jobs.enqueue("tests.record", organization_id=uuid.uuid4(), schedule_in_seconds=60, value="later")
    assert CALLS == []


def test_unknown_job_name_is_refused():
    with pytest.raises(LookupError, match=r"no job named 'tests\.nope'"):
        jobs.enqueue("tests.nope", organization_id=uuid.uuid4())


def test_two_jobs_cannot_share_a_name():
    with pytest.raises(RuntimeError, match=r"two jobs are named 'tests\.record'"):
        jobs.tenant_job("tests.record")(_explode)


# -- retries ------------------------------------------------------------------------------


def test_retry_delays_double_up_to_the_cap_and_stop_after_the_last_run(settings):
    settings.JOBS_MAX_ATTEMPTS = 6
    settings.JOBS_RETRY_BASE_SECONDS = 5
    settings.JOBS_RETRY_MAX_SECONDS = 30
    delays = [jobs.retry_delay(previous) for previous in range(6)]
    # Run n failed after n previous runs: wait ~5, 10, 20, 30 (capped), 30, then no 7th run.
    for delay, base in zip(delays[:5], [5, 10, 20, 30, 30], strict=True):
        assert delay is not None
        assert base <= delay <= base * 1.1
    assert delays[5] is None
    assert jobs.is_final_attempt(5)
    assert not jobs.is_final_attempt(4)


def test_a_permanent_error_is_not_retried(settings):
    settings.JOBS_MAX_ATTEMPTS = 10
    job = type("Job", (), {"attempts": 0})()
    strategy = jobs.Backoff()
    assert strategy.get_retry_decision(exception=jobs.PermanentJobError("gone"), job=job) is None
    decision = strategy.get_retry_decision(exception=RuntimeError("flaky"), job=job)
    assert decision is not None
    assert decision.retry_at is not None


# -- the queue (PostgreSQL) -----------------------------------------------------------------


@postgresql_only
def test_a_job_belongs_to_the_transaction_that_enqueued_it(job_queue):
    organization = uuid.uuid4()

    def failing_change() -> None:
        with transaction.atomic():
            jobs.enqueue("tests.record", organization_id=organization, value="rolled back")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert queued_jobs() == []

    token = current_request_id.set("req-123")
    try:
        with transaction.atomic():
            job_id = jobs.enqueue("tests.record", organization_id=organization, value="kept")
    finally:
        current_request_id.reset(token)
    assert isinstance(job_id, int)
    assert queued_jobs() == [
        ("tests.record", "todo", {"organization_id": str(organization), "request_id": "req-123", "value": "kept"})
    ]
    assert CALLS == []  # nothing ran in the request's process


@postgresql_only
def test_a_worker_runs_queued_jobs_in_their_tenant_context_and_fails_them_for_good(job_queue, settings):
    settings.JOBS_MAX_ATTEMPTS = 1
    organization = uuid.uuid4()
    with transaction.atomic():
        jobs.enqueue("tests.record", organization_id=organization, value="ok")
        jobs.enqueue("tests.explode", organization_id=organization, value="bad")
    call_command("worker", "--once", stdout=StringIO())
    assert [call["value"] for call in CALLS] == ["ok"]
    assert [{"organization_id": organization, "error": "boom bad", "value": "bad"}] == FAILURES
    # Succeeded jobs leave the table; the failed one stays for operators, and a hand can retry it.
    assert [(name, status) for name, status, _ in queued_jobs()] == [("tests.explode", "failed")]
    state = jobs.queue_state()
    assert (state.due, state.failed) == (0, 1)

    out = StringIO()
    call_command("jobs", "list", "--status", "failed", stdout=out)
    listed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(row["task"], row["organization_id"]) for row in listed] == [("tests.explode", str(organization))]
    out = StringIO()
    call_command("jobs", "retry", "--all-failed", stdout=out)
    assert "queued to run again" in out.getvalue()
    assert [(name, status) for name, status, _ in queued_jobs()] == [("tests.explode", "todo")]


@postgresql_only
def test_retrying_a_job_that_did_not_fail_is_refused(job_queue):
    with pytest.raises(CommandError, match="job 999999"):
        call_command("jobs", "retry", "999999", stdout=StringIO())


@postgresql_only
def test_health_metrics_and_preflight_see_a_queue_that_lags(job_queue, settings, client, monkeypatch):
    settings.JOBS_HEALTH_MAX_AGE_SECONDS = 60
    settings.METRICS_TOKEN = "queue-metrics"
    monkeypatch.setattr(health, "_queue_checked", (float("-inf"), None))
    with transaction.atomic():
        job_id = jobs.enqueue("tests.record", organization_id=uuid.uuid4(), value="stuck")
    assert client.get("/health/").json()["checks"]["queue"] == "ok"

    # The job has waited ten minutes (its 'deferred' event says when it was queued).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_events SET at = now() - interval '10 minutes' WHERE job_id = %s", [job_id])
    monkeypatch.setattr(health, "_queue_checked", (float("-inf"), None))
    response = client.get("/health/")
    assert response.status_code == 200  # degraded, never down: requests still work
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["queue"].startswith("oldest job waiting 6")

    metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer queue-metrics").content.decode()
    assert 'jobs{state="due"} 1.0' in metrics
    oldest = next(line for line in metrics.splitlines() if line.startswith("jobs_oldest_due_seconds "))
    assert float(oldest.split()[1]) >= 600

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("preflight", "--json", stdout=out, no_color=True)
    worker = {item["name"]: item for item in json.loads(out.getvalue())["items"]}["worker"]
    assert not worker["ok"]
    assert worker["detail"].startswith("no worker is registered with this database (1 due, 0 failed)")


@postgresql_only
def test_preflight_passes_while_a_worker_sends_heartbeats_and_fails_when_it_goes_silent(job_queue, settings):
    settings.JOBS_WORKER_SEEN_SECONDS = 120
    worker_id = async_to_sync(app.job_manager.register_worker)()

    def worker_item() -> dict[str, Any]:
        out = StringIO()
        with contextlib.suppress(CommandError):
            call_command("preflight", "--json", stdout=out, no_color=True)
        return {item["name"]: item for item in json.loads(out.getvalue())["items"]}["worker"]

    assert worker_item()["ok"]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes' WHERE id = %s", [worker_id]
        )
    item = worker_item()
    assert not item["ok"]
    assert item["detail"].startswith("no worker heartbeat for 30")


@postgresql_only
def test_jobs_of_a_worker_that_died_are_given_back_to_the_queue(job_queue, settings):
    settings.JOBS_STALLED_SECONDS = 60
    with transaction.atomic():
        job_id = jobs.enqueue("tests.record", organization_id=uuid.uuid4(), value="orphan")
    dead_worker = async_to_sync(app.job_manager.register_worker)()
    with connection.cursor() as cursor:
        # What a worker does when it takes a job, then its heartbeat stops (killed hard).
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s", [dead_worker, job_id]
        )
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes' WHERE id = %s",
            [dead_worker],
        )
    context = type("Context", (), {"app": app})()
    async_to_sync(jobs.requeue_stalled_jobs.func)(context, 0)
    assert [(name, status) for name, status, _ in queued_jobs()] == [("tests.record", "todo")]


def test_worker_and_jobs_commands_refuse_without_a_queue(settings):
    settings.JOBS_INLINE = True
    for command in ("worker", "jobs"):
        with pytest.raises(CommandError, match="JOBS_INLINE"):
            call_command(command)


def test_docs_name_every_job_the_product_declares():
    """docs/jobs.md lists the jobs there are by name; a new one must join the list."""
    listed = (Path(__file__).resolve().parents[3] / "docs" / "jobs.md").read_text()
    declared = {name for name in jobs.registered() if not name.startswith("tests.")}
    assert declared
    assert sorted(name for name in declared if f"`{name}`" not in listed) == []
