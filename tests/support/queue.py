"""What the job queue holds, read the way the tests compare it."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection


def queued_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    """Every job in procrastinate's table, oldest first: (task name, status, keyword arguments)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT task_name, status::text, args FROM procrastinate_jobs ORDER BY id")
        return [(name, status, args if isinstance(args, dict) else json.loads(args)) for name, status, args in cursor]


def queued_job_arguments() -> list[tuple[str, dict[str, Any]]]:
    """(task name, keyword arguments) of every job in the queue, oldest first."""
    return [(name, args) for name, _, args in queued_jobs()]
