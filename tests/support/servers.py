"""Private PostgreSQL, Redis and gunicorn processes on loopback, for black-box tests and the benchmark.

Each server lives in a directory its caller owns, on its own free port on 127.0.0.1, started
and stopped here, never the machine's shared instances.

PostgreSQL refuses to run as root, so when the tests run as root its commands run as the
``postgres`` OS user (``runuser``). The app connects as a role that is no superuser and cannot
bypass row-level security, as in production.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.mail.backends import filebased

REPO = Path(__file__).resolve().parents[2]
APP_ROLE = "taskhub_app"
OWNER_ROLE = "taskhub_owner"
PLATFORM_ROLE = "taskhub_platform"
APP_DATABASE = "taskhub"
# Variables copied from the test's environment into every child; nothing else leaks in
# (no DB_*, DATABASE_URL, REDIS_URL, PG* or SENTRY_DSN pointing at a shared service).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def find_binary(name: str) -> str | None:
    """Return the path of a server binary: on PATH, else the newest PostgreSQL's bin directory."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def missing_binaries() -> list[str]:
    """Name the binaries these servers need that this machine lacks."""
    needed = ["initdb", "pg_ctl", "redis-server"]
    if os.geteuid() == 0:
        needed.append("runuser")
    return [name for name in needed if find_binary(name) is None]


class FileEmailBackend(filebased.EmailBackend):
    """Django's file-based email backend, writing into ``$EMAIL_FILE_PATH``: a private server's outbox.

    Production settings read no ``EMAIL_FILE_PATH``; a test serving them sets
    ``EMAIL_BACKEND=tests.support.servers.FileEmailBackend`` and that variable to read the emails sent.
    """

    def __init__(self, fail_silently: bool = False, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(fail_silently, file_path=file_path or os.environ["EMAIL_FILE_PATH"], **kwargs)


# Ports free_port has handed out in this process. The kernel may offer a port again as soon as
# the probing socket closes, before the server it was for has bound it: a CI run once rendered
# nginx with the same port for HTTP and HTTPS (nginx refused the config).
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now and this process has not handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``check`` until it is true; return the seconds it took, raise TimeoutError after ``timeout``."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def child_environment(**extra: str) -> dict[str, str]:
    environment = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    environment.update(extra)
    return environment


def fresh_process_json(code: str, *, settings_module: str, environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a new Python process under ``settings_module`` and return the JSON it prints.

    A fresh process sees settings as a deployed worker does: nothing a test overrode, nothing a
    test imported. Production's required secrets get placeholder values; the database is no file.
    ``environment`` adds variables or replaces those placeholders.
    """
    placeholders = {
        "SECRET_KEY": "x" * 50,
        "JWT_SIGNING_KEY": "y" * 50,
        "ALLOWED_HOSTS": "api.example.com",
        "SQLITE_PATH": os.devnull,
    }
    environment = child_environment(DJANGO_SETTINGS_MODULE=settings_module, **{**placeholders, **(environment or {})})
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(command: list[str], *, timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else child_environment(),
        cwd=cwd,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class PostgresServer:
    """A private PostgreSQL cluster on a free port, its socket and log in its own directory."""

    def __init__(self, root: Path) -> None:
        self.data = root / "pgdata"
        self.run_dir = root / "pgrun"
        self.log = self.run_dir / "postgres.log"
        self.port = free_port()
        self.initialized = False

    def _as_postgres(self, command: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return [str(find_binary("runuser")), "-u", "postgres", "--", *command]
        return command

    def _pg_ctl(self, *args: str, timeout: float = 30) -> str:
        return run(self._as_postgres([str(find_binary("pg_ctl")), "-D", str(self.data), *args]), timeout=timeout)

    def init(self) -> None:
        for directory in (self.data, self.run_dir):
            directory.mkdir(mode=0o700)
            if os.geteuid() == 0:
                shutil.chown(directory, "postgres", "postgres")
        # --no-sync: a throwaway cluster need not survive a power cut (the server still syncs
        # its WAL at every commit, so committed rows survive a crash of the server).
        command = [str(find_binary("initdb")), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        run(self._as_postgres([*command, "-E", "UTF8", "--locale=C", "--no-sync"]), timeout=60)
        self.initialized = True

    def start(self, settings: dict[str, str] | None = None) -> None:
        """Start the server; ``settings`` are extra ``postgresql.conf`` parameters (name to value)."""
        options = f"-p {self.port} -k {self.run_dir} -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        self._pg_ctl("-l", str(self.log), "-o", options, "-w", "-t", "30", "start", timeout=40)

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server; ``immediate`` is a crash, as when the database host goes away."""
        self._pg_ctl("-m", mode, "-w", "-t", "20", "stop")

    def running(self) -> bool:
        if not self.initialized:
            return False
        command = self._as_postgres([str(find_binary("pg_ctl")), "-D", str(self.data), "status"])
        result = subprocess.run(command, capture_output=True, timeout=10, env=child_environment(), check=False)
        return result.returncode == 0

    def connect(self, *, user: str = "postgres", dbname: str = "postgres") -> Any:
        import psycopg  # noqa: PLC0415 - only where PostgreSQL is tested

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=user, dbname=dbname, autocommit=True, connect_timeout=5
        )

    def create_app_database(self) -> None:
        """The database and its owner, app and platform roles, made as production makes them."""
        run(
            [sys.executable, "manage.py", "setup_database_roles"],
            timeout=120,
            env=child_environment(
                DJANGO_SETTINGS_MODULE="config.settings.local",
                DATABASE_ADMIN_URL=f"postgres://postgres@127.0.0.1:{self.port}/postgres",
                **self.environment(),
            ),
            cwd=REPO,
        )

    def role_flags(self) -> tuple[bool, bool]:
        """Return (superuser, bypasses RLS) for the app role."""
        with self.connect() as connection:
            row = connection.execute(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [APP_ROLE]
            ).fetchone()
        return bool(row[0]), bool(row[1])

    def existing_ids(self, table: str, ids: list[str]) -> set[str]:
        """Read as the superuser (row-level security does not apply) which of ``ids`` exist."""
        with self.connect(dbname=APP_DATABASE) as connection:
            rows = connection.execute(f"SELECT id::text FROM {table} WHERE id::text = ANY(%s)", [ids]).fetchall()  # noqa: S608 - table names are the tests' own
        return {row[0] for row in rows}

    def environment(self) -> dict[str, str]:
        return {
            "DB_NAME": APP_DATABASE,
            "DB_USER": APP_ROLE,
            "DB_PASSWORD": APP_ROLE,
            "DB_MIGRATION_USER": OWNER_ROLE,
            "DB_MIGRATION_PASSWORD": OWNER_ROLE,
            "DB_PLATFORM_USER": PLATFORM_ROLE,
            "DB_PLATFORM_PASSWORD": PLATFORM_ROLE,
            "DB_HOST": "127.0.0.1",
            "DB_PORT": str(self.port),
        }

    def teardown(self) -> None:
        if not self.running():
            return
        with contextlib.suppress(Exception):
            self.stop()
        if self.running():
            # pg_ctl could not stop it: end this cluster's postmaster, by its own pid.
            with contextlib.suppress(Exception):
                os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)


class RedisServer:
    """A private redis-server on a free port, no persistence."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.log = self.dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        command = [
            str(find_binary("redis-server")),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.dir),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_environment())
        wait_until(self.ping, timeout=10, what=f"redis on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    text: str
    seconds: float


class Client:
    """HTTP/1.1 to the app on loopback, one connection per request; JSON in and out."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        api_key: str | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 15,
    ) -> Reply:
        headers = {"Accept": "application/json", "Connection": "close", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if api_key:
            headers["Authorization"] = f"Api-Key {api_key}"
        if request_id:
            headers["X-Request-ID"] = request_id
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            status = response.status
        finally:
            connection.close()
        text = raw.decode(errors="replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return Reply(status, reply_headers, parsed, text, time.monotonic() - started)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)


class LoggedProcess:
    """A child process of this repository, in its own session, writing stdout and stderr to ``log``."""

    # What a failed start calls it.
    title = "the process"

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self, command: list[str], environment: dict[str, str], *, ready: Callable[[], bool], what: str) -> None:
        """Start ``command``; wait until ``ready()``, failing at once (with the log's tail) if it exits."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def started() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.title} exited {self.process.returncode}:\n{self.log_tail()}")
            return ready()

        wait_until(started, timeout=30, what=what, interval=0.1)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)

    def terminate(self, *, timeout: float) -> int:
        """SIGTERM, as systemd and docker stop send it; SIGKILL to its session after ``timeout``. The exit code."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # It did not stop in time (gunicorn's master waiting on its workers): end its whole session.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.process = None
        return process.returncode


class AppServer(LoggedProcess):
    """A WSGI application (the app's unless told) under gunicorn with ``workers`` workers.

    ``config`` is a gunicorn config file (the benchmark uses deploy/gunicorn.conf.py); by
    default an empty one, so a gunicorn.conf.py in the working directory does not apply.
    ``application`` is gunicorn's ``module:callable``; ``extra_args`` are more gunicorn options
    (``--worker-class gthread --threads 4``, ``--preload``, ``--max-requests 0``...): on the
    command line, they win over the config file's values. ``name`` names the log file, so several
    servers can share ``root``.
    """

    title = "gunicorn"

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 2,
        config: Path | None = None,
        application: str = "config.wsgi:application",
        extra_args: Sequence[str] = (),
        name: str = "gunicorn",
    ) -> None:
        super().__init__(root / f"{name}.log")
        self.root = root
        self.workers = workers
        self.config = config
        self.application = application
        self.extra_args = tuple(extra_args)
        self.port = free_port()
        self.client = Client(self.port)

    def start(self, environment: dict[str, str]) -> None:
        config = self.config
        if config is None:
            config = self.root / "gunicorn.conf.py"
            config.write_text("")
        command = [
            sys.executable, "-m", "gunicorn", self.application,
            "--config", str(config),
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers),
            "--timeout", "30",
            "--graceful-timeout", "5",
            # Gunicorn's default control socket is one path per user: never touch another server's.
            "--no-control-socket",
            *self.extra_args,
        ]  # fmt: skip

        def live() -> bool:
            try:
                return self.client.get("/health/live/", timeout=2).status == 200
            except OSError:
                return False

        self.spawn(command, environment, ready=live, what="gunicorn to answer /health/live/")

    def stop(self) -> None:
        self.terminate(timeout=15)


class WorkerProcess(LoggedProcess):
    """``manage.py worker`` (the job queue) with the environment its app server has, as in production."""

    title = "the worker"

    def __init__(self, root: Path, *, name: str = "worker") -> None:
        super().__init__(root / f"{name}.log")
        self.root = root

    def start(self, environment: dict[str, str], *, concurrency: int = 2) -> None:
        command = [sys.executable, "manage.py", "worker", "--concurrency", str(concurrency)]
        self.spawn(command, environment, ready=lambda: "worker starting" in self.log_text(), what="the worker to start")

    def log_lines(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines (anything else it printed is left out)."""
        lines = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    lines.append(record)
        return lines

    def terminate(self, *, timeout: float = 60) -> int:
        return super().terminate(timeout=timeout)

    def stop(self) -> None:
        self.terminate()


@contextlib.contextmanager
def private_servers(
    *, prefix: str, workers: int = 2, config: Path | None = None
) -> Iterator[tuple[Path, PostgresServer, RedisServer, AppServer]]:
    """A temporary directory with a PostgreSQL, a Redis and a gunicorn, none started yet.

    On exit every server is stopped, each step on its own (one failing must not leave the others
    running), and the directory is removed, even when starting failed halfway.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    # The postgres user must reach its directories inside this one.
    root.chmod(0o755)
    postgres = PostgresServer(root)
    redis = RedisServer(root)
    app = AppServer(root, workers=workers, config=config)
    try:
        yield root, postgres, redis, app
    finally:
        for step in (app.stop, redis.stop, postgres.teardown):
            with contextlib.suppress(Exception):
                step()
        shutil.rmtree(root, ignore_errors=True)
