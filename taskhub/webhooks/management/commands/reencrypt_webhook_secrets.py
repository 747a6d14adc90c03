"""Re-encrypt every stored webhook secret under the current key (the last step of a key rotation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from taskhub.webhooks.services import webhook_secrets_reencrypt
from taskhub.webhooks.signing import SecretUnreadable


class Command(BaseCommand):
    help = (
        "Rewrite every webhook's signing secrets encrypted under WEBHOOK_SECRET_KEY (or SECRET_KEY), reading "
        "them with any key of WEBHOOK_SECRET_KEY_FALLBACKS (or SECRET_KEY_FALLBACKS); afterwards the old key can "
        "leave the fallbacks (docs/webhooks.md, 'Secrets at rest'). Runs as the platform role, in one transaction."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = webhook_secrets_reencrypt()
        except SecretUnreadable as exc:
            raise CommandError(f"{exc}; nothing was changed.") from exc
        self.stdout.write(f"Re-encrypted the secrets of {count} webhooks under the current key.")
