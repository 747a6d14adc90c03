"""Wait until the database accepts connections, or give up after ``--timeout`` seconds.

The container entrypoint (deploy/docker/entrypoint.sh) runs it before migrations and
gunicorn, so a container that starts before its database waits instead of crash-looping,
and one whose database never comes fails with a clear message and exit status 1.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import InterfaceError, OperationalError


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Wait until the database answers SELECT 1; fail after --timeout seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout", type=_positive, default=60.0, help="Give up after this many seconds (default 60)."
        )
        parser.add_argument("--interval", type=_positive, default=1.0, help="Seconds between attempts (default 1).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database alias (default: default).")

    def handle(self, *args: Any, **options: Any) -> None:
        timeout: float = options["timeout"]
        interval: float = options["interval"]
        connection = connections[options["database"]]
        started = time.monotonic()
        deadline = started + timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    cursor.fetchone()
            except (OperationalError, InterfaceError) as exc:
                # Drop the broken connection so the next attempt opens a new one.
                connection.close()
                remaining = deadline - time.monotonic()
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if remaining <= 0:
                    raise CommandError(
                        f"Database {options['database']!r} unavailable after {attempts} attempt(s) "
                        f"in {time.monotonic() - started:.1f}s: {reason}"
                    ) from exc
                self.stderr.write(f"Database unavailable (attempt {attempts}): {reason}; retrying.")
                time.sleep(min(interval, remaining))
            else:
                elapsed = time.monotonic() - started
                self.stdout.write(f"Database available after {attempts} attempt(s) in {elapsed:.1f}s.")
                return
