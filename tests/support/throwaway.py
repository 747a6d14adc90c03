"""Throwaway PostgreSQL, Redis and gunicorn processes for black-box tests of a real server.

Each server is private to one test module: its own temporary directory, its own free port on
127.0.0.1, started and stopped here, never the machine's shared instances. ``running_stack``
tears everything down in ``finally``, even when starting fails halfway. The servers themselves
live in tests.support.servers, which the benchmark (scripts/bench) shares.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import e2e
from tests.support.servers import (
    APP_DATABASE,
    APP_ROLE,
    REPO,
    AppServer,
    Client,
    PostgresServer,
    RedisServer,
    Reply,
    WorkerProcess,
    child_environment,
    find_binary,
    free_port,
    missing_binaries,
    private_servers,
    run,
    tail,
    wait_until,
)

__all__ = [
    "APP_DATABASE",
    "APP_ROLE",
    "REPO",
    "AppServer",
    "Client",
    "PostgresServer",
    "RedisServer",
    "Reply",
    "Stack",
    "WorkerProcess",
    "child_environment",
    "find_binary",
    "free_port",
    "missing_binaries",
    "running_stack",
    "wait_until",
]

# The tests' historical names for the two helpers.
_run = run
_tail = tail


@dataclass
class Stack:
    root: Path
    postgres: PostgresServer
    redis: RedisServer
    app: AppServer
    # Started by running_stack(worker=True): the job queue's worker, with the app's environment.
    worker: WorkerProcess | None = None
    # The environment the app server (and the worker) run with, set by running_stack.
    environment: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # One SECRET_KEY for migrate and every server: the tenant-context key derives from it.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    jwt_signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def client(self) -> Client:
        return self.app.client

    def app_environment(self, *, settings: str, **extra: str) -> dict[str, str]:
        return child_environment(
            DJANGO_SETTINGS_MODULE=settings,
            SECRET_KEY=self.secret_key,
            JWT_SIGNING_KEY=self.jwt_signing_key,
            ALLOWED_HOSTS="127.0.0.1",
            # Production needs it when ALLOWED_HOSTS names no site (an address): the links mailed to users.
            SITE_URL=f"http://127.0.0.1:{self.app.port}",
            SECURE_SSL_REDIRECT="False",
            PYTHONDONTWRITEBYTECODE="1",
            **self.postgres.environment(),
            **extra,
        )

    def migrate(self) -> None:
        run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            timeout=120,
            env=self.app_environment(settings="config.settings.local"),
            cwd=REPO,
        )

    def collect_static(self, environment: dict[str, str]) -> None:
        """Collect the static files into ``STATIC_ROOT`` as a deploy does: hashed, compressed, a manifest."""
        run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            timeout=120,
            env=environment,
            cwd=REPO,
        )


@contextlib.contextmanager
def running_stack(
    *, server_environment: dict[str, str] | None = None, static_files: bool = False, worker: bool = False
) -> Iterator[Stack]:
    """PostgreSQL (migrated), Redis and gunicorn, all private; everything torn down on exit.

    ``static_files``: collect the static files first, so the server serves them (and pages that
    link them, like /api/docs/, render) under production settings. ``worker``: also run
    ``manage.py worker`` with the server's environment (jobs: invitation emails, exports). Outside the PostgreSQL pass
    the test skips before anything starts (``e2e.require_servers``).
    """
    e2e.require_servers()
    with private_servers(prefix="taskhub-stack-") as (root, postgres, redis, app):
        stack = Stack(root=root, postgres=postgres, redis=redis, app=app)
        started = time.monotonic()
        postgres.init()
        postgres.start()
        postgres.create_app_database()
        redis.start()
        stack.timings["servers"] = time.monotonic() - started
        environment = stack.app_environment(
            settings="config.settings.production", REDIS_URL=redis.url(), **(server_environment or {})
        )
        if static_files:
            environment["STATIC_ROOT"] = str(root / "static")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            # collectstatic needs no database: it runs while the migrations do.
            collected = pool.submit(stack.collect_static, environment) if static_files else None
            stack.migrate()
            if collected is not None:
                collected.result()
        stack.timings["migrate"] = time.monotonic() - started
        stack.environment = environment
        started = time.monotonic()
        app.start(environment)
        stack.timings["gunicorn"] = time.monotonic() - started
        if worker:
            stack.worker = WorkerProcess(root)
            stack.worker.start(environment)
        try:
            yield stack
        finally:
            if stack.worker is not None:
                stack.worker.stop()
