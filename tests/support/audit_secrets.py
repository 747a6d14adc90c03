"""Every audit event the test suite writes is checked for the secrets the suite has handled.

A pytest plugin (registered by the root conftest). For the whole session it remembers every
secret the product makes or is given, where it makes or checks them:

- every value of ``secrets.token_urlsafe`` (API keys' secrets, invitation, verification and
  reset tokens, replacement invitation hashes);
- every password hashed or checked (``make_password``/``check_password`` as the user model
  calls them: sign-up, password changes and resets, sign-in attempts, the fixtures' password);

and it checks each audit event as the chain appends it (``taskhub.audit.chain.append``, after
``audit_record`` redacted it): no remembered secret may appear in any of its string values, and
nothing may look like an API key, a webhook secret (``whsec_``) or a JSON Web Token. An event
that does fails the test that wrote it, whichever test that is: the check runs at write time in
the worker that runs the test, so it is deterministic under ``pytest -n 2 --dist loadfile`` and
needs no end-of-session pass. ``taskhub/audit/tests/test_redaction.py`` proves it catches a
leak.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

# Shorter values, or words without a digit or symbol ("password" used as a weak password in a
# test), are not secrets worth the false alarms: every realistic secret of the suite is longer.
MIN_LENGTH = 10
PATTERNS = {
    "an API key": re.compile(r"\b[a-z]{2,8}_[0-9a-f]{12}_[A-Za-z0-9_-]{16,}"),
    "a webhook secret": re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,}"),
    "a JSON Web Token": re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
}
_known: set[str] = set()
_leaks: list[str] = []


def remember(value: Any) -> None:
    """Count ``value`` as a secret from now on (when it is one worth looking for)."""
    if isinstance(value, str) and len(value) >= MIN_LENGTH and not value.isalpha():
        _known.add(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def leaks(event: Any) -> list[str]:
    """What of the remembered secrets (or what looks like a secret) the event's values hold."""
    values = [event.actor_label, event.target_label, event.request_id, *_strings(event.changes)]
    text = "\n".join(value for value in values if value)
    found = [f"a secret the suite handled ({secret[:4]}...)" for secret in _known if secret in text]
    found += [name for name, pattern in PATTERNS.items() if pattern.search(text)]
    return found


@pytest.fixture(scope="session", autouse=True)
def _watch_audit_events_for_secrets() -> Iterator[None]:
    from django.contrib.auth import base_user, hashers  # noqa: PLC0415 - Django is set up by now
    from django.contrib.auth import models as auth_models  # noqa: PLC0415

    from taskhub.audit import chain  # noqa: PLC0415

    patch = pytest.MonkeyPatch()
    token_urlsafe = secrets.token_urlsafe
    make_password, check_password = hashers.make_password, hashers.check_password
    append = chain.append

    def remembered_token(nbytes: int | None = None) -> str:
        value = token_urlsafe(nbytes)
        remember(value)
        return value

    def remembered_make(password: Any, *args: Any, **kwargs: Any) -> str:
        remember(password)
        return make_password(password, *args, **kwargs)

    def remembered_check(password: Any, *args: Any, **kwargs: Any) -> bool:
        remember(password)
        return check_password(password, *args, **kwargs)

    def check(event: Any) -> None:
        found = leaks(event)
        if found:
            message = f"audit event {event.action} on {event.target_type} holds {', '.join(found)}"
            _leaks.append(message)
            raise AssertionError(message)

    def checked_append(event: Any, **kwargs: Any) -> Any:
        check(event)
        appended = append(event, **kwargs)
        # Again once stored: append fills in the actor's label (label_of) with the chain's head.
        check(appended)
        return appended

    patch.setattr(secrets, "token_urlsafe", remembered_token)
    # Where Django calls them from: the user model's methods and its manager's create_user.
    for module in (hashers, base_user, auth_models):
        patch.setattr(module, "make_password", remembered_make)
    for module in (hashers, base_user):
        patch.setattr(module, "check_password", remembered_check)
    patch.setattr(chain, "append", checked_append)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _no_secret_in_this_tests_audit_events() -> Iterator[None]:
    """Fail the test whose code wrote a secret into an event, even if something caught the error."""
    _leaks.clear()
    yield
    found, _leaks[:] = list(_leaks), []
    assert not found, found
