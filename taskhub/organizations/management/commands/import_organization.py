"""Recreate an organization from an export_organization file (see taskhub.organizations.transfer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.organizations.transfer import TransferError, import_json


class Command(BaseCommand):
    help = (
        "Import an organization export. Users are matched by username (missing ones are created "
        "without a usable password); invitations arrive revoked; API keys are not imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the JSON written by export_organization")
        parser.add_argument("--slug", help="import under this slug instead of the exported one")
        parser.add_argument(
            "--new-ids", action="store_true", help="give every row a new id (when the exported ids exist here)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            organization = import_json(
                Path(options["file"]).read_text(), slug=options["slug"], new_ids=options["new_ids"]
            )
        except (TransferError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported organization '{organization.slug}' ({organization.pk}).")
