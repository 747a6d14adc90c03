"""The system under test: a private PostgreSQL and Redis, the app migrated, seeded and under gunicorn.

The servers are tests.support.servers' (the end-to-end tests use the same ones): a cluster made
with initdb in a temporary directory, on its own port, never the machine's shared instance. The
app connects as a role that is no superuser and cannot bypass row-level security; gunicorn runs
deploy/gunicorn.conf.py with scripts.bench.settings (production settings plus the list without
DRF). With ``baseline=True`` a second gunicorn, same config and worker count, on its own port,
serves the baseline project (scripts/bench/baseline: bare Django and naive DRF) on the same
database as the platform role. ``BenchStack.variant`` starts a third, the app with other
gunicorn options or settings, for as long as a comparison needs it.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import (
    APP_DATABASE,
    REPO,
    AppServer,
    PostgresServer,
    RedisServer,
    child_environment,
    private_servers,
    run,
)

# Production-like durability (fsync and synchronous commit stay on); memory for a 1M-row table and
# its indexes; checkpoints spaced out so seeding writes its WAL once.
POSTGRES_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "track_io_timing": "on",
}
# Limits far above what the benchmark sends: it measures the throttles' cost, not their refusals.
UNTHROTTLED = {
    "THROTTLE_ANON_RATE": "1000000/min",
    "THROTTLE_USER_RATE": "1000000/min",
    "THROTTLE_ORGANIZATION_RATE": "1000000/min",
    "THROTTLE_SIGN_IN_RATE": "1000000/min",
}


@dataclass
class BenchStack:
    root: Path
    postgres: PostgresServer
    redis: RedisServer
    app: AppServer
    # The baseline project's gunicorn (bench_stack(baseline=True)), else None.
    baseline: AppServer | None = None
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    jwt_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    # More of the app's environment (the benchmark's --hasher: BENCH_PASSWORD_HASHER).
    extra: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The app's environment: bench settings, the private servers, the app role."""
        return child_environment(
            DJANGO_SETTINGS_MODULE="scripts.bench.settings",
            SECRET_KEY=self.secret_key,
            JWT_SIGNING_KEY=self.jwt_key,
            ALLOWED_HOSTS="127.0.0.1",
            # Production needs it when ALLOWED_HOSTS names no site (an address): the links mailed to users.
            SITE_URL=self.base_url,
            SECURE_SSL_REDIRECT="False",
            # Seeded exports go with the stack, never into the checkout.
            EXPORTS_DIR=str(self.root / "exports"),
            REDIS_URL=self.redis.url(),
            PYTHONDONTWRITEBYTECODE="1",
            **UNTHROTTLED,
            **self.postgres.environment(),
            **self.extra,
        )

    def baseline_environment(self) -> dict[str, str]:
        """The baseline project's environment: its settings, the same database and JWT key; no Redis."""
        return child_environment(
            DJANGO_SETTINGS_MODULE="scripts.bench.baseline.settings",
            SECRET_KEY=self.secret_key,
            JWT_SIGNING_KEY=self.jwt_key,
            ALLOWED_HOSTS="127.0.0.1",
            PYTHONDONTWRITEBYTECODE="1",
            **self.postgres.environment(),
        )

    @contextlib.contextmanager
    def variant(
        self, name: str, *, args: Sequence[str] = (), extra: dict[str, str] | None = None
    ) -> Iterator[AppServer]:
        """The app under another gunicorn, as deployed but for ``args`` (gunicorn options) and ``extra`` (env)."""
        server = AppServer(
            self.root, workers=self.app.workers, config=self.app.config, extra_args=args, name=f"variant-{name}"
        )
        try:
            server.start({**self.environment(), **(extra or {})})
            yield server
        finally:
            server.stop()

    def manage(self, *args: str, timeout: float = 900) -> str:
        return run([sys.executable, "manage.py", *args], timeout=timeout, env=self.environment(), cwd=REPO)

    def seed(self, *, organizations: int, projects: int, tasks: int, prefix: str = "bench") -> float:
        """Seed up to ``organizations`` organizations; return the seconds it took."""
        started = time.monotonic()
        output = run(
            [
                sys.executable,
                "-m",
                "scripts.bench.seed",
                f"--organizations={organizations}",
                f"--projects={projects}",
                f"--tasks={tasks}",
                f"--password={self.password}",
                f"--prefix={prefix}",
            ],
            timeout=900,
            env=self.environment(),
            cwd=REPO,
        )
        # scripts.bench.seed runs as the platform role, which may not VACUUM the owner's tables: the
        # private server's superuser does, so plans and visibility maps are as after autovacuum.
        with self.postgres.connect(dbname=APP_DATABASE) as superuser:
            superuser.execute("VACUUM (ANALYZE) projects_project, tasks_task")
        seconds = time.monotonic() - started
        summary = [line for line in output.splitlines() if line.startswith("Seeded")]
        print(f"  {summary[-1] if summary else output.strip()}", flush=True)
        return seconds

    def token(self, username: str) -> str:
        reply = self.app.client.post("/api/v1/auth/token/", {"username": username, "password": self.password})
        if reply.status != 200:
            raise RuntimeError(f"token obtain for {username} answered {reply.status}: {reply.text[:300]}")
        return str(reply.body["access"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.app.port}"

    @property
    def baseline_url(self) -> str:
        if self.baseline is None:
            raise RuntimeError("the stack was started without the baseline project (bench_stack(baseline=True))")
        return f"http://127.0.0.1:{self.baseline.port}"


@contextlib.contextmanager
def bench_stack(
    *,
    workers: int,
    kind: type[BenchStack] = BenchStack,
    prefix: str = "taskhub-bench-",
    extra: dict[str, str] | None = None,
    baseline: bool = False,
) -> Iterator[BenchStack]:
    """Start PostgreSQL, Redis, migrate, and gunicorn with ``workers`` workers; tear all down on exit.

    ``kind``: a BenchStack subclass that adds to the environment (the export benchmark's);
    ``extra``: variables added to the app's environment; ``baseline``: also serve the baseline
    project (same gunicorn config and worker count, its own port).
    """
    config = REPO / "deploy" / "gunicorn.conf.py"
    with private_servers(prefix=prefix, workers=workers, config=config) as (root, postgres, redis, app):
        stack = kind(root=root, postgres=postgres, redis=redis, app=app, extra=extra or {})
        if baseline:
            stack.baseline = AppServer(
                root,
                workers=workers,
                config=config,
                application="scripts.bench.baseline.wsgi:application",
                name="baseline",
            )
        try:
            postgres.init()
            postgres.start(POSTGRES_SETTINGS)
            postgres.create_app_database()
            redis.start()
            stack.manage("migrate", "--noinput")
            app.start(stack.environment())
            if stack.baseline is not None:
                stack.baseline.start(stack.baseline_environment())
            yield stack
        finally:
            if stack.baseline is not None:
                stack.baseline.stop()
