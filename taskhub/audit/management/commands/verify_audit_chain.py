"""``manage.py verify_audit_chain [--organization SLUG]``: walk each organization's audit chain.

Reads as the platform role (every organization, deleted ones included: their events are kept).
Exit 0 with the number of events verified, or exit 1 naming the first broken link of each
broken chain: the organization, the ``seq`` and id of the event, and what does not hold.
Verifying only reads; it appends nothing (so monitoring can run it daily without growing
the chains). docs/audit.md.
"""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.audit import chain
from taskhub.core import rls


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chains (every organization's, or one's) as the platform role: exit 0 with "
        "the count of events verified, exit 1 with the first broken link of each broken chain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organization", help="slug or id of one organization (a deleted one: its id)")

    def handle(self, *args: Any, **options: Any) -> None:
        with rls.bypass("verify_audit_chain"):
            organizations = (
                [_organization_id(options["organization"])]
                if options["organization"]
                else chain.organizations_with_events()
            )
            results = [chain.verify(organization) for organization in organizations]
        broken = [result for result in results if not result.ok]
        for result in broken:
            self.stderr.write(f"organization {result.organization_id}: broken at {result.broken}")
        events = sum(result.count for result in results)
        if broken:
            raise CommandError(
                f"{len(broken)} of {len(results)} audit chains broken ({events} events read).", returncode=1
            )
        self.stdout.write(f"Verified {events} audit events in {len(results)} chains: every link holds.")


def _organization_id(reference: str) -> str:
    from taskhub.organizations.models import Organization, slug_matches  # noqa: PLC0415

    found = Organization.objects.filter(slug_matches(reference)).values_list("pk", flat=True).first()
    if found is None:
        with contextlib.suppress(ValueError):
            found = UUID(reference)
    if found is None:
        raise CommandError(f"No organization with slug or id {reference!r}.")
    return str(found)
