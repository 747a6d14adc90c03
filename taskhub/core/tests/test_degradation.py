"""Graceful degradation, proven against a real server and real outages.

The black-box tests start a private PostgreSQL and Redis and serve the app with gunicorn
(production settings, two workers), all from ``throwaway``; then they crash the database and
kill Redis underneath it and watch what clients get. Nothing here uses the pytest-django test
database or the machine's shared PostgreSQL and Redis.

What they prove (docs/degradation.md):
- database down: every API request answers a JSON 503 ``service_unavailable`` with
  ``Retry-After``, never a 500 or HTML; ``/health/`` answers 503 in under 3 s; ``/health/live/``
  stays 200; after the database comes back the same workers serve again, no restart;
- every create acknowledged with a 2xx, before, during and after the outage, exists afterwards;
- Redis down: reads and writes still work (tokens and API keys checked against the database),
  ``/health/`` answers 200 ``degraded``; with Redis back, ``ok`` again.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from taskhub.core import env
from tests.support import throwaway

MISSING = throwaway.missing_binaries()
needs_servers = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} to run private servers")

HEALTH_BUDGET_SECONDS = 3.0
RECOVERY_BUDGET_SECONDS = 20.0
WORKERS = 2
ANON_RATE = 30
SERVER_ENVIRONMENT = {
    # The suite sends everything from one user: rate limits must not be what the outage tests
    # measure. Only the anonymous limit is low, for the throttle test, which sends its requests
    # "through a proxy" (X-Forwarded-For, one trusted hop) so they count against an IP of their own.
    **{f"THROTTLE_{scope}_RATE": "100000/min" for scope in ("USER", "ORGANIZATION", "SIGN_IN")},
    "THROTTLE_ANON_RATE": f"{ANON_RATE}/min",
    "TRUSTED_PROXY_COUNT": "1",
}
# Printed at the end of each test (pytest -s shows them): what was measured.
FIGURES: dict[str, Any] = {}


# --- connect timeout: unit tests, no servers needed ------------------------------------------


@pytest.fixture
def database_variables(monkeypatch):
    for name in ("DATABASE_URL", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_SSLMODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DB_CONNECT_TIMEOUT", raising=False)
    return monkeypatch


def test_postgresql_connections_time_out_after_two_seconds_by_default(database_variables, tmp_path):
    database_variables.setenv("DB_NAME", "d")
    assert env.database(sqlite_path=tmp_path / "db")["OPTIONS"]["connect_timeout"] == 2
    database_variables.setenv("DB_CONNECT_TIMEOUT", "7")
    assert env.database(sqlite_path=tmp_path / "db")["OPTIONS"]["connect_timeout"] == 7


def test_connect_timeout_from_database_url_holds_unless_the_variable_is_set(database_variables, tmp_path):
    database_variables.setenv("DATABASE_URL", "postgres://u:p@h.example.com:5432/d?connect_timeout=9")
    assert env.database(sqlite_path=tmp_path / "db")["OPTIONS"]["connect_timeout"] == 9
    database_variables.setenv("DB_CONNECT_TIMEOUT", "3")
    assert env.database(sqlite_path=tmp_path / "db")["OPTIONS"]["connect_timeout"] == 3


def test_sqlite_gets_no_connect_timeout(database_variables, tmp_path):
    assert "connect_timeout" not in env.database(sqlite_path=tmp_path / "db").get("OPTIONS", {})


def test_a_connect_timeout_below_one_is_refused(database_variables, tmp_path):
    database_variables.setenv("DB_NAME", "d")
    database_variables.setenv("DB_CONNECT_TIMEOUT", "0")
    with pytest.raises(ImproperlyConfigured, match="DB_CONNECT_TIMEOUT"):
        env.database(sqlite_path=tmp_path / "db")


def test_a_hung_database_host_fails_the_connection_within_the_timeout(database_variables, tmp_path, django_db_blocker):
    # A host that accepts TCP and then never says a word: without a timeout, libpq waits forever.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        database_variables.setenv("DB_NAME", "d")
        database_variables.setenv("DB_HOST", "127.0.0.1")
        database_variables.setenv("DB_PORT", str(silent.getsockname()[1]))
        database_variables.setenv("DB_SSLMODE", "disable")
        # A handler of its own: the suite's connections stay untouched.
        connection = ConnectionHandler({"default": env.database(sqlite_path=tmp_path / "db")})["default"]
        started = time.monotonic()
        with django_db_blocker.unblock(), pytest.raises(OperationalError):
            connection.ensure_connection()
        elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < HEALTH_BUDGET_SECONDS, elapsed


# --- black-box: a real server, a real outage --------------------------------------------------


@pytest.fixture(scope="module")
def stack():
    with throwaway.running_stack(server_environment=SERVER_ENVIRONMENT) as running:
        FIGURES["startup_seconds"] = {name: round(value, 2) for name, value in running.timings.items()}
        yield running


@dataclass
class Tenant:
    username: str
    password: str
    token: str
    refresh: str
    organization_id: str
    project_id: str
    api_key: str


def _created(reply: throwaway.Reply, what: str) -> dict[str, Any]:
    assert reply.status == 201, f"{what}: {reply.status} {reply.text[:500]}"
    assert isinstance(reply.body, dict)
    return reply.body


@pytest.fixture(scope="module")
def tenant(stack) -> Tenant:
    client = stack.client
    username = f"deg{secrets.token_hex(4)}"
    password = f"degrade-{secrets.token_urlsafe(12)}"
    registered = _created(
        client.post(
            "/api/v1/auth/register/",
            {
                "username": username,
                "email": f"{username}@example.com",
                "password": password,
                "organization_name": "Degradation Inc",
            },
        ),
        "register",
    )
    token = registered["access"]
    project = _created(client.post("/api/v1/projects/", {"key": "DEG", "name": "Outages"}, token=token), "project")
    key = _created(client.post("/api/v1/api-keys/", {"name": "probe", "role": "member"}, token=token), "api key")
    return Tenant(
        username=username,
        password=password,
        token=token,
        refresh=registered["refresh"],
        organization_id=registered["organization"]["id"],
        project_id=project["id"],
        api_key=key["key"],
    )


@dataclass
class TaskWriter:
    """Creates tasks one after another in a thread and records every answer, until stopped."""

    client: throwaway.Client
    tenant: Tenant
    limit: int = 600
    deadline_seconds: float = 45.0
    results: list[tuple[float, int, str | None]] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="task-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=20)
            assert not self._thread.is_alive(), "the writer did not stop"

    def _run(self) -> None:
        started = time.monotonic()
        for number in range(1, self.limit + 1):
            if self._stop.is_set() or time.monotonic() - started > self.deadline_seconds:
                return
            body = {"project": self.tenant.project_id, "title": f"written {number}"}
            try:
                reply = self.client.post("/api/v1/tasks/", body, token=self.tenant.token, timeout=10)
            except OSError as exc:
                with self._lock:
                    self.transport_errors.append(f"{number}: {exc!r}")
                continue
            task_id = reply.body.get("id") if 200 <= reply.status < 300 and isinstance(reply.body, dict) else None
            with self._lock:
                self.results.append((time.monotonic(), reply.status, task_id))
            time.sleep(0.02)

    def snapshot(self) -> list[tuple[float, int, str | None]]:
        with self._lock:
            return list(self.results)

    def count(self, *, status: int, since: float = 0.0) -> int:
        return sum(1 for at, code, _ in self.snapshot() if code == status and at >= since)


def assert_service_unavailable(reply: throwaway.Reply, what: str) -> None:
    assert reply.status == 503, f"{what}: {reply.status} {reply.text[:300]}"
    assert reply.headers.get("content-type", "").startswith("application/json"), what
    assert reply.body == {"detail": reply.body["detail"], "code": "service_unavailable"}, what
    assert reply.body["detail"], what
    assert int(reply.headers["retry-after"]) > 0, what


def _print_figures(title: str) -> None:
    print(f"\n[{title}] " + ", ".join(f"{name}={value}" for name, value in FIGURES.items()))  # noqa: T201


@needs_servers
def test_the_app_role_is_subject_to_row_level_security(stack):
    # A superuser would bypass the policies and these tests would prove nothing about production.
    assert stack.postgres.role_flags() == (False, False)


@needs_servers
def test_database_outage_answers_503_and_recovers_without_restart_losing_no_write(stack, tenant):
    client = stack.client
    token = tenant.token
    writer = TaskWriter(client, tenant)
    gunicorn_pid = stack.app.process.pid if stack.app.process else None
    database_up = True
    writer.start()
    try:
        throwaway.wait_until(lambda: writer.count(status=201) >= 10, timeout=15, what="writes before the outage")
        log_offset = len(stack.app.log_text())

        stack.postgres.stop("immediate")
        database_up = False
        outage_started = time.monotonic()

        health_seconds = []
        for _ in range(3):
            reply = client.get("/health/")
            health_seconds.append(reply.seconds)
            assert reply.status == 503, reply.text
            assert reply.body["status"] == "error"
            assert reply.body["checks"]["database"] == "unreachable"
            assert reply.seconds < HEALTH_BUDGET_SECONDS, reply.seconds
        FIGURES["health_seconds_db_down_max"] = round(max(health_seconds), 3)
        # What needs no database keeps answering.
        assert client.get("/health/live/").status == 200
        assert client.get("/.well-known/jwks.json").status == 200

        request_id = f"degradation-{secrets.token_hex(6)}"
        reply = client.get("/api/v1/projects/", token=token, request_id=request_id)
        assert_service_unavailable(reply, "tenant list (transaction opened outside DRF)")
        assert reply.headers["x-request-id"] == request_id
        assert_service_unavailable(
            client.post("/api/v1/projects/", {"key": "DOWN", "name": "x"}, token=token), "tenant create"
        )
        assert_service_unavailable(client.get("/api/v1/projects/", api_key=tenant.api_key), "API key request")
        assert_service_unavailable(client.get("/api/v1/auth/me/", token=token), "DRF view")
        assert_service_unavailable(
            client.post("/api/v1/auth/token/", {"username": tenant.username, "password": tenant.password}),
            "sign-in",
        )
        assert_service_unavailable(
            client.post(
                "/api/v1/auth/register/",
                {
                    "username": f"new{secrets.token_hex(4)}",
                    "email": "new@example.com",
                    "password": f"unused-{secrets.token_urlsafe(12)}",
                    "organization_name": "New",
                },
            ),
            "register",
        )
        throwaway.wait_until(
            lambda: writer.count(status=503, since=outage_started) >= 3, timeout=10, what="writes refused in the outage"
        )
        FIGURES["outage_seconds"] = round(time.monotonic() - outage_started, 2)

        restart_started = time.monotonic()
        stack.postgres.start()
        database_up = True
        FIGURES["pg_start_seconds"] = round(time.monotonic() - restart_started, 2)
        FIGURES["first_success_after_pg_start_seconds"] = round(
            throwaway.wait_until(
                lambda: client.get("/api/v1/projects/", token=token).status == 200,
                timeout=RECOVERY_BUDGET_SECONDS,
                what="the API to serve again",
            ),
            3,
        )
        # Spread over both workers, each with its own connection (reopened, or replaced after
        # failing its health check): all succeed.
        statuses = [client.get("/api/v1/projects/", token=token).status for _ in range(12)]
        assert statuses == [200] * 12, statuses
        assert client.get("/health/").body["status"] == "ok"
        # The same processes: no restart of gunicorn, no worker replaced.
        assert stack.app.process is not None
        assert stack.app.process.pid == gunicorn_pid
        assert stack.app.process.poll() is None, "gunicorn died"
        assert stack.app.log_text().count("Booting worker") == WORKERS, stack.app.log_tail()

        recovered = time.monotonic()
        throwaway.wait_until(
            lambda: writer.count(status=201, since=recovered) >= 10, timeout=15, what="writes after the recovery"
        )
    finally:
        writer.stop()
        if not database_up:
            stack.postgres.start()

    results = writer.snapshot()
    assert not writer.transport_errors, writer.transport_errors
    unexpected = sorted({code for _, code, _ in results} - {201, 503})
    assert not unexpected, f"writes answered {unexpected}: {stack.app.log_tail()}"
    acknowledged = [task_id for _, code, task_id in results if code == 201]
    assert all(acknowledged)
    ids = [str(task_id) for task_id in acknowledged]

    # Every acknowledged write is there: through the API, as its tenant sees it...
    for task_id in ids:
        reply = client.get(f"/api/v1/tasks/{task_id}/", token=token)
        assert reply.status == 200, f"acknowledged task {task_id} answers {reply.status}"
    # ...and in the table itself.
    assert stack.postgres.existing_ids("tasks_task", ids) == set(ids)
    FIGURES["writes_acknowledged_and_verified"] = len(ids)
    FIGURES["writes_refused_503"] = sum(1 for _, code, _ in results if code == 503)

    # One WARNING per refused request, with its id, and no stack traces.
    outage_log = stack.app.log_text()[log_offset:]
    lines = [line for line in outage_log.splitlines() if request_id in line and "Database unavailable" in line]
    assert lines, outage_log[-3000:]
    assert '"WARNING"' in lines[0] or "WARNING" in lines[0]
    assert "Traceback" not in outage_log, outage_log[-3000:]
    _print_figures("database outage")


@contextlib.contextmanager
def redis_down(stack: throwaway.Stack) -> Iterator[None]:
    """Kill the private Redis; start it again on the same port on the way out, whatever happened."""
    stack.redis.stop()
    try:
        yield
    finally:
        stack.redis.start()


@needs_servers
def test_redis_outage_degrades_health_but_reads_and_writes_go_on(stack, tenant):
    client = stack.client
    token = tenant.token
    # Warm the caches first, so the outage has something to lose.
    assert client.get("/api/v1/projects/", token=token).status == 200
    assert client.get("/api/v1/projects/", api_key=tenant.api_key).status == 200

    with redis_down(stack):
        health = client.get("/health/")
        assert health.status == 200, health.text
        assert health.body["status"] == "degraded"
        assert health.body["checks"]["cache"] != "ok"
        assert health.body["checks"]["database"] == "ok"
        FIGURES["health_seconds_redis_down"] = round(health.seconds, 3)

        # Tokens: the membership's version is read from the database.
        assert client.get("/api/v1/projects/", token=token).status == 200
        task = _created(
            client.post("/api/v1/tasks/", {"project": tenant.project_id, "title": "no cache"}, token=token),
            "task with Redis down",
        )
        assert client.get(f"/api/v1/tasks/{task['id']}/", token=token).status == 200
        # API keys: looked up in the database.
        assert client.get("/api/v1/projects/", api_key=tenant.api_key).status == 200
        _created(
            client.post("/api/v1/tasks/", {"project": tenant.project_id, "title": "by key"}, api_key=tenant.api_key),
            "task by API key with Redis down",
        )
        # Sign-up and a token refresh (the refresh token's blacklist is a table).
        username = f"redisdown{secrets.token_hex(4)}"
        _created(
            client.post(
                "/api/v1/auth/register/",
                {
                    "username": username,
                    "email": f"{username}@example.com",
                    "password": f"degrade-{secrets.token_urlsafe(12)}",
                    "organization_name": "No Cache Ltd",
                },
            ),
            "sign-up with Redis down",
        )
        refreshed = client.post("/api/v1/auth/token/refresh/", {"refresh": tenant.refresh})
        assert refreshed.status == 200, refreshed.text
        assert client.get("/api/v1/projects/", token=refreshed.body["access"]).status == 200

    FIGURES["cache_ok_after_redis_restart_seconds"] = round(
        throwaway.wait_until(
            lambda: client.get("/health/").body.get("status") == "ok", timeout=10, what="health ok with Redis back"
        ),
        3,
    )
    assert client.get("/api/v1/projects/", token=token).status == 200
    _print_figures("redis outage")


@needs_servers
def test_signing_in_works_with_redis_down(stack, tenant):
    # Sign-in keeps no session (sessions live in Redis): only the database is needed.
    client = stack.client
    with redis_down(stack):
        signed_in = client.post("/api/v1/auth/token/", {"username": tenant.username, "password": tenant.password})
        assert signed_in.status == 200, f"{signed_in.status} {signed_in.text[:300]}\n{stack.app.log_tail(3)[-1500:]}"
        assert "set-cookie" not in signed_in.headers
        assert client.get("/api/v1/auth/me/", token=signed_in.body["access"]).status == 200


@needs_servers
def test_throttles_still_answer_429_with_redis_down(stack):
    # Each worker counts in its own memory: limits hold per worker, never silently off.
    client = stack.client
    proxy_headers = {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(254) + 1}"}
    with redis_down(stack):
        statuses = []
        for _ in range(WORKERS * ANON_RATE + 5):
            reply = client.get("/.well-known/jwks.json", headers=proxy_headers)
            statuses.append(reply.status)
            if reply.status != 200:
                break
    assert statuses[-1] == 429, statuses
    assert reply.body["code"] == "throttled"
    assert int(reply.headers["retry-after"]) > 0
    allowed = statuses.count(200)
    assert ANON_RATE <= allowed <= WORKERS * ANON_RATE, allowed
    FIGURES["anonymous_requests_allowed_before_429_redis_down"] = f"{allowed} (rate {ANON_RATE}/min, {WORKERS} workers)"
    # Logged, though at most every so often per worker: look since the server started.
    log = stack.app.log_text()
    assert any("taskhub.core.throttling" in line and "WARNING" in line for line in log.splitlines()), log[-2000:]
    _print_figures("throttling with Redis down")
