"""Write one organization's export (every row it owns, secrets excluded) to a JSON file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.organizations.transfer import TransferError, export_json


class Command(BaseCommand):
    help = "Export an organization (by slug or id) to JSON, for import_organization on another instance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="slug or id")
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            text = export_json(organization=options["organization"])
        except TransferError as exc:
            raise CommandError(str(exc)) from exc
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
            self.stderr.write(f"Wrote {options['output']}.")
        else:
            self.stdout.write(text)
