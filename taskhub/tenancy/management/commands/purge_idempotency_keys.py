"""``manage.py purge_idempotency_keys``: delete the Idempotency-Key records past their 24 hours.

Expired records are already ignored (a request with their key is treated as new), so this only
frees space. It runs as the platform role (``rls.bypass``), which sees every organization; run it
periodically, e.g. hourly (docs/operations.md, "Periodic jobs").
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from taskhub.core import rls
from taskhub.tenancy import idempotency


class Command(BaseCommand):
    help = "Delete Idempotency-Key records older than 24 hours, in every organization (platform role)."

    def handle(self, *args: Any, **options: Any) -> None:
        with rls.bypass("purge_idempotency_keys"):
            deleted = idempotency.purge()
        hours = int(idempotency.TTL.total_seconds() // 3600)
        self.stdout.write(f"Deleted {deleted} idempotency records older than {hours} hours.")
