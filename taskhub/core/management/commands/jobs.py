"""What is in the job queue, and a hand to retry what failed."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from taskhub.core import jobs


class Command(BaseCommand):
    help = "Show the job queue (`jobs`, `jobs list --status failed`) or retry a failed job (`jobs retry ID`)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action")
        sub.add_parser("status", help="counts and ages (the default)")
        listing = sub.add_parser("list", help="jobs, newest first")
        listing.add_argument("--status", choices=["todo", "doing", "failed", "succeeded", "cancelled", "aborted"])
        listing.add_argument("--task", help="only jobs of this name")
        listing.add_argument("--limit", type=int, default=50)
        retry = sub.add_parser("retry", help="run failed jobs again, now")
        retry.add_argument("ids", nargs="*", type=int, help="job ids")
        retry.add_argument("--all-failed", action="store_true", help="every failed job")

    def handle(self, *args: Any, **options: Any) -> None:
        if not jobs.queue_enabled():
            raise CommandError("JOBS_INLINE is on (no PostgreSQL): jobs run inline and nothing is queued.")
        from procrastinate.contrib.django import app  # noqa: PLC0415 - needs the app registry ready

        action = options["action"] or "status"
        if action == "status":
            state = jobs.queue_state()
            self.stdout.write(json.dumps(state.__dict__))
            return
        if action == "list":
            rows = app.job_manager.list_jobs(status=options["status"], task=options["task"])
            for row in sorted(rows, key=lambda job: job.id or 0, reverse=True)[: options["limit"]]:
                # Through Django's connection jsonb arrives as text.
                kwargs = json.loads(row.task_kwargs) if isinstance(row.task_kwargs, str) else row.task_kwargs
                self.stdout.write(
                    json.dumps(
                        {
                            "id": row.id,
                            "task": row.task_name,
                            "status": row.status,
                            "attempts": row.attempts,
                            "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
                            "organization_id": kwargs.get("organization_id"),
                            "request_id": kwargs.get("request_id"),
                        }
                    )
                )
            return
        ids = list(options["ids"])
        if options["all_failed"]:
            ids += [job.id for job in app.job_manager.list_jobs(status="failed") if job.id is not None]
        if not ids:
            raise CommandError("Name the jobs to retry, or --all-failed.")
        for job_id in ids:
            try:
                app.job_manager.retry_job_by_id(job_id, retry_at=timezone.now())
            except Exception as exc:
                raise CommandError(f"job {job_id}: {' '.join(str(exc).split())}") from exc
            self.stdout.write(f"job {job_id}: queued to run again")
