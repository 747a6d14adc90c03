"""Reading the account emails a test caused (locmem backend: django.core.mail.outbox)."""

from __future__ import annotations

import re

from django.core import mail

LINK = re.compile(r"/account/(?P<page>[a-z-]+)/\?token=(?P<token>[A-Za-z0-9_-]+)")


def sent_to(address: str) -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if address.lower() in [to.lower() for to in message.to]]


def token_in(message: mail.EmailMessage, page: str) -> str:
    """The token of the link to ``page`` in the message's body."""
    match = LINK.search(str(message.body))
    assert match is not None, message.body
    assert match["page"] == page, message.body
    return match["token"]


def only_token(address: str, page: str) -> str:
    """The token of the one email sent to ``address``."""
    [message] = sent_to(address)
    return token_in(message, page)


def has_link(message: mail.EmailMessage) -> bool:
    return LINK.search(str(message.body)) is not None
