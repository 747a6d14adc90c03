"""Tenant isolation through pgbouncer in transaction mode, end to end.

A private PostgreSQL (throwaway), pgbouncer from deploy/pgbouncer/pgbouncer.ini in front of it
with a pool of two server connections, gunicorn with three workers connecting through it
(``DB_PGBOUNCER=True``). Two organizations are registered through the API and hammered with
interleaved requests, concurrently, including writes that fail mid-transaction; every answer
must show only its own organization's rows. Then, straight through pgbouncer with psycopg and a
pool of ONE server connection: a tenant context entered in one client's transaction is
gone for the next client on the same server connection (docs/security.md).

Skipped in CI's SQLite pass (TASKHUB_TEST_SQLITE=1) and, outside CI, when a server binary is
missing; in CI (CI=true) a missing binary fails instead.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from taskhub.core import rls
from tests.support import e2e, pgbouncer, throwaway

MISSING = pgbouncer.missing_binaries()
pytestmark = e2e.marks(MISSING)

POOL_SIZE = 2
WORKERS = 3
ROUNDS = 10
CONCURRENCY = 6
SINGLE = "taskhub_single"  # a second pgbouncer database, one server connection
SERVER_ENVIRONMENT = {f"THROTTLE_{scope}_RATE": "100000/min" for scope in ("ANON", "USER", "ORGANIZATION", "SIGN_IN")}
# Printed at the end (pytest -s): what was observed.
FIGURES: dict[str, Any] = {}


@dataclass
class Tenant:
    name: str
    token: str
    organization_id: str
    user_id: str
    project_ids: list[str] = field(default_factory=list)
    project_keys: list[str] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)

    def ids(self) -> set[str]:
        return {self.organization_id, self.user_id, *self.project_ids, *self.task_ids}


@dataclass
class Bounced:
    postgres: throwaway.PostgresServer
    bouncer: pgbouncer.PgBouncer
    app: throwaway.AppServer
    timings: dict[str, float]
    secret_key: str

    @property
    def client(self) -> throwaway.Client:
        return self.app.client


@pytest.fixture(scope="module")
def bounced() -> Iterator[Bounced]:
    e2e.require(MISSING, what="the pgbouncer end-to-end test")
    root = Path(tempfile.mkdtemp(prefix="taskhub-pgbouncer-"))
    root.chmod(0o755)
    postgres = throwaway.PostgresServer(root)
    redis = throwaway.RedisServer(root)
    app = throwaway.AppServer(root, workers=WORKERS)
    bouncer: pgbouncer.PgBouncer | None = None
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        postgres.init()
        postgres.start()
        postgres.create_app_database()
        redis.start()
        stack = throwaway.Stack(root=root, postgres=postgres, redis=redis, app=app)
        stack.migrate()  # straight to PostgreSQL: migrations are not run through pgbouncer
        timings["postgres_and_migrate"] = time.monotonic() - started
        started = time.monotonic()
        bouncer = pgbouncer.PgBouncer(
            root,
            target_port=postgres.port,
            database=throwaway.APP_DATABASE,
            users={throwaway.APP_ROLE: throwaway.APP_ROLE},
            default_pool_size=POOL_SIZE,
            extra_databases=[
                f"{SINGLE} = host=127.0.0.1 port={postgres.port} dbname={throwaway.APP_DATABASE} pool_size=1"
            ],
        )
        bouncer.start()
        environment = stack.app_environment(
            settings="config.settings.production", REDIS_URL=redis.url(), DB_PGBOUNCER="True", **SERVER_ENVIRONMENT
        )
        environment["DB_PORT"] = str(bouncer.port)
        app.start(environment)
        timings["pgbouncer_and_gunicorn"] = time.monotonic() - started
        yield Bounced(postgres=postgres, bouncer=bouncer, app=app, timings=timings, secret_key=stack.secret_key)
    finally:
        steps = [app.stop, *([bouncer.stop] if bouncer else []), redis.stop, postgres.teardown]
        for step in steps:
            with contextlib.suppress(Exception):
                step()
        shutil.rmtree(root, ignore_errors=True)


def _created(reply: throwaway.Reply, what: str) -> dict[str, Any]:
    assert reply.status == 201, f"{what}: {reply.status} {reply.text[:500]}"
    assert isinstance(reply.body, dict)
    return reply.body


def _register(client: throwaway.Client, name: str) -> Tenant:
    username = f"{name.lower()}{secrets.token_hex(4)}"
    body = _created(
        client.post(
            "/api/v1/auth/register/",
            {
                "username": username,
                "email": f"{username}@example.com",
                "password": f"bounce-{secrets.token_urlsafe(12)}",
                "organization_name": f"Bouncer {name}",
            },
        ),
        f"register {name}",
    )
    tenant = Tenant(
        name=name, token=body["access"], organization_id=body["organization"]["id"], user_id=body["user"]["id"]
    )
    for index in range(2):
        key = f"{name}P{index}"
        project = _created(
            client.post("/api/v1/projects/", {"key": key, "name": f"{name} {index}"}, token=tenant.token), "project"
        )
        tenant.project_ids.append(project["id"])
        tenant.project_keys.append(key)
        for number in range(3):
            task = _created(
                client.post(
                    "/api/v1/tasks/", {"project": project["id"], "title": f"{name} task {number}"}, token=tenant.token
                ),
                "task",
            )
            tenant.task_ids.append(task["id"])
    return tenant


@dataclass
class Call:
    tenant: Tenant
    foreign: Tenant
    method: str
    path: str
    body: Any
    expected: set[int]
    what: str


def _calls(own: Tenant, foreign: Tenant, round_number: int) -> list[Call]:
    project, task = own.project_ids[round_number % 2], own.task_ids[round_number % len(own.task_ids)]
    other_project, other_task = foreign.project_ids[0], foreign.task_ids[round_number % len(foreign.task_ids)]

    def call(method: str, path: str, expected: set[int], what: str, body: Any = None) -> Call:
        return Call(own, foreign, method, path, body, expected, what)

    return [
        call("GET", "/api/v1/projects/", {200}, "list projects"),
        call("GET", "/api/v1/tasks/", {200}, "list tasks"),
        call("GET", f"/api/v1/projects/{project}/", {200}, "own project"),
        call("GET", f"/api/v1/tasks/{task}/", {200}, "own task"),
        call("GET", f"/api/v1/projects/{project}/tasks/", {200}, "own project's tasks"),
        call("GET", "/api/v1/audit-events/", {200}, "audit events"),
        call("GET", f"/api/v1/projects/{other_project}/", {404}, "foreign project"),
        call("GET", f"/api/v1/tasks/{other_task}/", {404}, "foreign task"),
        call("GET", f"/api/v1/projects/{other_project}/tasks/", {404}, "foreign project's tasks"),
        call("PATCH", f"/api/v1/tasks/{other_task}/", {404}, "patch foreign task", {"title": "taken"}),
        # Fails after the transaction has begun (and the RLS variables are set): a duplicate key.
        call("POST", "/api/v1/projects/", {400}, "duplicate key", {"key": own.project_keys[0], "name": "again"}),
        call("POST", "/api/v1/tasks/", {400}, "task in foreign project", {"project": other_project, "title": "x"}),
        call("POST", "/api/v1/tasks/", {201}, "create task", {"project": project, "title": f"r{round_number}"}),
    ]


class PoolSampler:
    """Reads SHOW POOLS and pg_stat_activity every 50 ms while the load runs."""

    def __init__(self, bounced: Bounced) -> None:
        self.bounced = bounced
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.max_clients = 0
        self.max_waiting = 0
        self.max_pool_servers = 0
        self.max_backends = 0
        self.samples = 0
        self.errors: list[str] = []

    def _run(self) -> None:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s "
            "AND backend_type = 'client backend'"
        )
        with self.bounced.postgres.connect(dbname=throwaway.APP_DATABASE) as direct:
            while not self.stop_event.is_set():
                try:
                    for row in self.bounced.bouncer.show("POOLS", user=throwaway.APP_ROLE):
                        if row["database"] != throwaway.APP_DATABASE:
                            continue
                        servers = sum(
                            int(row.get(name) or 0)
                            for name in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
                        )
                        self.max_clients = max(self.max_clients, int(row["cl_active"]) + int(row["cl_waiting"]))
                        self.max_waiting = max(self.max_waiting, int(row["cl_waiting"]))
                        self.max_pool_servers = max(self.max_pool_servers, servers)
                    backends = direct.execute(query, [throwaway.APP_DATABASE, throwaway.APP_ROLE]).fetchone()[0]
                    self.max_backends = max(self.max_backends, int(backends))
                    self.samples += 1
                except Exception as exc:  # noqa: BLE001 - recorded and asserted on
                    self.errors.append(repr(exc))
                self.stop_event.wait(0.05)

    def __enter__(self) -> PoolSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)


def test_interleaved_tenants_through_transaction_pooling_see_only_their_own_rows(bounced: Bounced) -> None:
    started = time.monotonic()
    client = bounced.client
    a, b = _register(client, "A"), _register(client, "B")
    calls = [
        call
        for round_number in range(ROUNDS)
        for pair in zip(_calls(a, b, round_number), _calls(b, a, round_number), strict=True)
        for call in pair
    ]
    problems: list[str] = []
    created: dict[str, list[str]] = {a.organization_id: [], b.organization_id: []}
    lock = threading.Lock()

    def run(call: Call) -> None:
        reply = client.request(call.method, call.path, call.body, token=call.tenant.token)
        found = []
        if reply.status not in call.expected:
            found.append(f"{call.tenant.name} {call.what}: {reply.status} {reply.text[:200]}")
        leaked = {value for value in call.foreign.ids() if value in reply.text}
        if leaked:
            found.append(f"{call.tenant.name} {call.what}: foreign ids {sorted(leaked)} in {reply.text[:300]}")
        with lock:
            problems.extend(found)
            if call.what == "create task" and reply.status == 201:
                created[call.tenant.organization_id].append(reply.body["id"])

    with PoolSampler(bounced) as sampler, ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(run, calls))
    assert not problems, "\n".join(problems[:20])

    # As the platform (superuser, no RLS): every task created under load belongs to its creator.
    with bounced.postgres.connect(dbname=throwaway.APP_DATABASE) as direct:
        for organization_id, ids in created.items():
            rows = direct.execute(
                "SELECT DISTINCT organization_id::text FROM tasks_task WHERE id::text = ANY(%s)", [ids]
            ).fetchall()
            assert [row[0] for row in rows] == [organization_id]
            assert len(ids) == ROUNDS
        duplicates = direct.execute("SELECT count(*) FROM projects_project WHERE name = 'again'").fetchone()[0]
        assert duplicates == 0

    stats = bounced.bouncer.show("STATS", user=throwaway.APP_ROLE)
    totals = next(row for row in stats if row["database"] == throwaway.APP_DATABASE)
    assert not sampler.errors, sampler.errors[:3]
    assert sampler.samples > 0
    # Many client sessions, few server connections: never more than the pool.
    assert sampler.max_pool_servers <= POOL_SIZE
    assert sampler.max_backends <= POOL_SIZE + 1  # + the single-connection pool of the other test
    FIGURES["load"] = {
        "requests": len(calls),
        "foreign_id_leaks": 0,
        "max_client_sessions_at_pgbouncer": sampler.max_clients,
        "max_clients_waiting": sampler.max_waiting,
        "max_server_connections_in_pool": sampler.max_pool_servers,
        "max_postgres_backends_for_app_role": sampler.max_backends,
        "pgbouncer_total_xact_count": totals.get("total_xact_count"),
        "pgbouncer_total_query_count": totals.get("total_query_count"),
        "samples": sampler.samples,
        "seconds": round(time.monotonic() - started, 2),
        "startup_seconds": {name: round(value, 2) for name, value in bounced.timings.items()},
    }
    print("\npgbouncer load figures:", FIGURES["load"])  # noqa: T201


def test_rls_variables_never_outlive_their_transaction_on_a_shared_server_connection(bounced: Bounced) -> None:
    import psycopg  # noqa: PLC0415 - only where PostgreSQL is tested

    a = _register(bounced.client, "R")
    connect = bounced.bouncer.connect
    key = rls.context_key(bounced.secret_key)
    tenant = "SELECT taskhub_rls.organization_id()"
    with connect(user=throwaway.APP_ROLE, dbname=SINGLE) as one, connect(user=throwaway.APP_ROLE, dbname=SINGLE) as two:
        one.execute("BEGIN")
        backend = one.execute("SELECT pg_backend_pid()").fetchone()[0]
        one.execute(rls.ENTER_SQL, rls.context_parameters(a.organization_id, key=key))
        assert one.execute("SELECT count(*) FROM projects_project").fetchone()[0] == len(a.project_ids)
        one.execute("COMMIT")

        # The next client gets the same (only) server connection, and nothing of the last transaction.
        assert two.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
        assert two.execute(tenant).fetchone()[0] is None
        assert two.execute("SELECT count(*) FROM projects_project").fetchone()[0] == 0
        assert two.execute("SELECT count(*) FROM tasks_task").fetchone()[0] == 0

        # A transaction that fails after entering the context leaves nothing behind either.
        one.execute("BEGIN")
        one.execute(rls.ENTER_SQL, rls.context_parameters(a.organization_id, key=key))
        with pytest.raises(psycopg.errors.DivisionByZero):
            one.execute("SELECT 1 / 0")
        one.execute("ROLLBACK")
        assert two.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
        assert two.execute(tenant).fetchone()[0] is None
        assert two.execute("SELECT count(*) FROM tasks_task").fetchone()[0] == 0

        # Control: SESSION-level settings (is_local false) do reach the next client in transaction
        # mode, which is why rls.set_context never uses them; even a copy of a whole entered
        # context does not open the next client's transaction, whose start the seal does not match.
        one.execute("BEGIN")
        one.execute(rls.ENTER_SQL, rls.context_parameters(a.organization_id, key=key))
        names = ["organization_id", "user_id", "api_key_prefix", "invitation_token_hash", "seal"]
        copied = one.execute("SELECT " + ", ".join(f"current_setting('taskhub.{name}')" for name in names)).fetchone()
        one.execute("COMMIT")
        for name, value in zip(names, copied, strict=True):
            one.execute("SELECT set_config(%s, %s, false)", [f"taskhub.{name}", value])
        try:
            assert two.execute("SELECT current_setting('taskhub.organization_id')").fetchone()[0] == a.organization_id
            assert two.execute(tenant).fetchone()[0] is None
            assert two.execute("SELECT count(*) FROM projects_project").fetchone()[0] == 0
        finally:
            for name in names:
                two.execute("SELECT set_config(%s, '', false)", [f"taskhub.{name}"])
    FIGURES["rls"] = {"server_backend_pid_shared": backend}
