"""Delete expired exports' files, and files no export names (docs/exports.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from taskhub.organizations.services.exports import exports_purge


class Command(BaseCommand):
    help = (
        "Delete the files of exports older than EXPORTS_RETENTION_HOURS in every organization (their status "
        "becomes expired) and any file in the exports storage that no ready export names. As the platform role."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        expired, leftovers = exports_purge()
        self.stdout.write(
            f"Expired {expired} export(s) older than {settings.EXPORTS_RETENTION_HOURS} hours; "
            f"deleted {leftovers} leftover file(s)."
        )
