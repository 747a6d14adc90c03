"""Links to the account pages mailed to users (accept an invitation, verify an address, reset a password).

The pages are served by the app itself under ``/account/<page>/`` on ``SITE_URL``;
``FRONTEND_URL``, when set, sends the links to a separate frontend instead, which must serve
the same paths.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from django.conf import settings

AccountPage = Literal["accept-invitation", "verify-email", "reset-password"]
PAGES: tuple[str, ...] = ("accept-invitation", "verify-email", "reset-password")


def base_url() -> str:
    """The origin links point at: ``FRONTEND_URL`` when set, else the service's own ``SITE_URL``."""
    return str(settings.FRONTEND_URL or settings.SITE_URL).rstrip("/")


def account_link(page: str, token: str) -> str:
    """The absolute link to an account page carrying ``token``."""
    if page not in PAGES:
        raise ValueError(f"no account page {page!r}")
    return f"{base_url()}/account/{page}/?{urlencode({'token': token})}"
