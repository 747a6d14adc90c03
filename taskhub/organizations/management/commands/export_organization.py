"""Write one organization's export (every row it owns, secrets excluded) as gzip NDJSON."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.organizations.transfer import TransferError, export_file


class Command(BaseCommand):
    help = (
        "Export an organization (by slug or id) as gzip-compressed NDJSON (docs/exports.md), "
        "for import_organization on another instance. Reads as the platform role, streaming; records "
        "organization.exported in the organization's audit log first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organization", help="slug or id")
        parser.add_argument("--output", "-o", help="file to write, e.g. acme.ndjson.gz (default: stdout)")
        parser.add_argument(
            "--reason",
            help="why, recorded in the organization's audit log with the OS user (default: names the OS user only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            written = export_file(options["output"], organization=options["organization"], reason=options["reason"])
        except TransferError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(written.counts.values())
        self.stderr.write(
            f"Wrote {options['output'] or 'stdout'}: {rows} rows, {written.size} bytes, sha256 {written.sha256}."
        )
