"""``manage.py purge_audit_events``: remove audit events past ``AUDIT_RETENTION_DAYS`` (400), recorded.

The only way audit events go. Runs as the platform role, the one role the append-only trigger
lets delete them, and only in this command's transactions (docs/audit.md). In each chain it
trims, it appends ``audit.purged`` naming the last event removed (its ``seq`` and ``hash``):
the anchor from which ``verify_audit_chain`` accepts the shorter chain. Run it periodically,
e.g. daily (docs/operations.md, "Periodic jobs").
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from taskhub.audit.services import audit_purge, os_actor


class Command(BaseCommand):
    help = (
        "Remove audit events older than AUDIT_RETENTION_DAYS (default 400) as the platform role; each chain "
        "trimmed records an audit.purged event naming the last event removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help=f"retention in days (default {settings.AUDIT_RETENTION_DAYS})")
        parser.add_argument("--reason", help="why, recorded in each chain (default: the retention period)")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] or settings.AUDIT_RETENTION_DAYS
        person = os_actor()
        reason = options["reason"] or f"retention: events older than {days} days (run by {person.label})"
        purged = audit_purge(person=person, reason=reason, retention_days=days)
        events = sum(result.events for result in purged)
        removed = sum(result.chain_removed for result in purged)
        self.stdout.write(
            f"Purged {events} audit events older than {days} days from {len(purged)} chains"
            + (f" ({removed} of deleted organizations removed whole)." if removed else ".")
        )
