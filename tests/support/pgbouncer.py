"""A throwaway pgbouncer for black-box tests, configured from deploy/pgbouncer/pgbouncer.ini.

The template is rendered with ``string.Template`` (the same ``${NAME}`` syntax as envsubst),
into a temporary directory of its own, listening on a free port on 127.0.0.1. pgbouncer
refuses to run as root, so as root it runs as the ``postgres`` OS user (``runuser``), like
throwaway runs initdb. ``stop`` ends it by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from string import Template
from typing import Any

from tests.support import throwaway

TEMPLATE = throwaway.REPO / "deploy" / "pgbouncer" / "pgbouncer.ini"


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(path, os.X_OK)), None
    )


def missing_binaries() -> list[str]:
    missing = [] if find_pgbouncer() else ["pgbouncer"]
    return missing + throwaway.missing_binaries()


def render(values: dict[str, str], *, extra_databases: list[str] = ()) -> str:  # type: ignore[assignment]
    """Return the template with every placeholder filled; a missing value raises KeyError."""
    text = Template(TEMPLATE.read_text()).substitute(values)
    if extra_databases:
        text = text.replace("[databases]\n", "[databases]\n" + "".join(f"{line}\n" for line in extra_databases), 1)
    return text


class PgBouncer:
    """pgbouncer in transaction mode in front of ``target_port``, in its own directory."""

    def __init__(
        self,
        root: Path,
        *,
        target_port: int,
        database: str,
        users: dict[str, str],
        default_pool_size: int,
        extra_databases: list[str] = (),  # type: ignore[assignment]
        max_client_conn: int = 100,
    ) -> None:
        self.dir = root / "pgbouncer"
        self.dir.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = throwaway.free_port()
        self.log = self.dir / "pgbouncer.log"
        self.config = self.dir / "pgbouncer.ini"
        auth_file = self.dir / "userlist.txt"
        auth_file.write_text("".join(f'"{name}" "{secret}"\n' for name, secret in users.items()))
        stats = ",".join(users)
        self.config.write_text(
            render(
                {
                    "DB_NAME": database,
                    "DB_HOST": "127.0.0.1",
                    "DB_PORT": str(target_port),
                    "LISTEN_ADDR": "127.0.0.1",
                    "LISTEN_PORT": str(self.port),
                    "UNIX_SOCKET_DIR": str(self.dir),
                    "LOG_FILE": str(self.log),
                    "PID_FILE": str(self.dir / "pgbouncer.pid"),
                    "AUTH_TYPE": "trust",
                    "AUTH_FILE": str(auth_file),
                    "ADMIN_USERS": stats,
                    "STATS_USERS": stats,
                    "MAX_CLIENT_CONN": str(max_client_conn),
                    "DEFAULT_POOL_SIZE": str(default_pool_size),
                    "RESERVE_POOL_SIZE": "0",
                },
                extra_databases=extra_databases,
            )
        )
        if os.geteuid() == 0:
            for path in (auth_file, self.config):
                shutil.chown(path, "postgres", "postgres")
        self.process: subprocess.Popen[bytes] | None = None

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited {self.process.returncode}:\n{self.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> None:
        command = [str(find_pgbouncer()), str(self.config)]
        if os.geteuid() == 0:
            command = [str(throwaway.find_binary("runuser")), "-u", "postgres", "--", *command]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "stderr.log").open("ab"),
            env=throwaway.child_environment(),
            start_new_session=True,
        )
        throwaway.wait_until(self._listening, timeout=10, what=f"pgbouncer on port {self.port}")

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self.log, self.dir / "stderr.log"):
            with contextlib.suppress(OSError):
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def connect(self, *, user: str, dbname: str) -> Any:
        """A psycopg connection through pgbouncer: autocommit, no prepared statements."""
        import psycopg  # noqa: PLC0415 - only where PostgreSQL is tested

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=user,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
            prepare_threshold=None,
        )

    def show(self, what: str, *, user: str) -> list[dict[str, Any]]:
        """Return SHOW POOLS / SHOW STATS from the admin console as dictionaries."""
        with self.connect(user=user, dbname="pgbouncer") as connection:
            cursor = connection.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            # runuser passes SIGTERM on to pgbouncer; both are this process group, started here.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.process = None
