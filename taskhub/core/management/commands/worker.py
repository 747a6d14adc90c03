"""Run a worker of the job queue (taskhub.core.jobs): as many as you like, on any machine."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.core import jobs

logger = logging.getLogger("taskhub.worker")


class Command(BaseCommand):
    help = (
        "Take jobs from the queue and run them, each in its organization's tenant context, as the app's "
        "database role. SIGTERM or SIGINT: stop taking jobs, finish the running ones, exit 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.JOBS_WORKER_CONCURRENCY,
            help="jobs run at once (default JOBS_WORKER_CONCURRENCY)",
        )
        parser.add_argument("--queue", action="append", dest="queues", help="take jobs only from this queue (repeat)")
        parser.add_argument("--once", action="store_true", help="run the jobs due now, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if not jobs.queue_enabled():
            raise CommandError(
                "JOBS_INLINE is on (no PostgreSQL configured): jobs run inside the request that makes them, "
                "so there is no queue for a worker. Set the DB_* variables to use PostgreSQL."
            )
        from procrastinate.contrib.django import app  # noqa: PLC0415 - needs the app registry ready

        # Behind pgbouncer in transaction mode LISTEN does not reach the worker: poll instead.
        pgbouncer = settings.DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False)
        logger.info(
            "worker starting",
            extra={
                "concurrency": options["concurrency"],
                "queues": options["queues"] or "all",
                "once": options["once"],
            },
        )
        with app.replace_connector(app.connector.get_worker_connector()):  # type: ignore[attr-defined]
            app.run_worker(
                queues=options["queues"],
                concurrency=options["concurrency"],
                wait=not options["once"],
                # Succeeded jobs leave the table (their log lines stay); failed ones stay for operators.
                delete_jobs="successful",
                listen_notify=not pgbouncer,
                fetch_job_polling_interval=1.0 if pgbouncer else 5.0,
            )
        logger.info("worker stopped")
