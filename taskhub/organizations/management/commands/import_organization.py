"""Recreate an organization from an export file (see taskhub.organizations.transfer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.accounts.links import base_url as account_link_base
from taskhub.organizations.transfer import TransferError, import_file


class Command(BaseCommand):
    help = (
        "Import an organization export (gzip NDJSON, or the earlier JSON document), streaming. Users are "
        "matched by username (missing ones are created without a usable password and with their address "
        "unverified: they set a password through a password reset); invitations arrive revoked; API keys are "
        "not imported. Every row must belong to the file's organization. The file's audit chain is verified and "
        "the import recorded in it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the file written by export_organization or downloaded from the API")
        parser.add_argument("--slug", help="import under this slug instead of the exported one")
        parser.add_argument(
            "--new-ids", action="store_true", help="give every row a new id (when the exported ids exist here)"
        )
        parser.add_argument(
            "--reason",
            help="why, recorded in the organization's audit log with the OS user (default: names the OS user only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with Path(options["file"]).open("rb") as source:
                organization = import_file(
                    source, slug=options["slug"], new_ids=options["new_ids"], reason=options["reason"]
                )
        except (TransferError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported organization '{organization.slug}' ({organization.pk}).")
        self.stdout.write(
            "Users this import created have no usable password. Each sets one with a password reset: "
            'POST /api/v1/auth/password/reset/ {"email": "<their address>"} mails a link to the '
            f"{account_link_base()}/account/reset-password/ page, where they choose it (the link also verifies "
            "the address)."
        )
