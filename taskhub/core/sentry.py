"""Error reporting to Sentry, started only when SENTRY_DSN is set; secrets never leave the process."""

from __future__ import annotations

import json
import re
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.types import Event, Hint

from taskhub.core import env

FILTERED = "[Filtered]"
# Matched anywhere in a key name, any case: "password", "new_password", "api_key", "refresh"...
_SENSITIVE_KEY = re.compile(r"passw|token|secret|key|refresh|access|authorization|cookie|session|csrf", re.IGNORECASE)
# In free text (a repr, an exception message): a sensitive query parameter, or a credential
# after its Authorization scheme.
_SENSITIVE_PARAMETER = re.compile(
    r"(?P<name>[?&;][^=&;\s'\"]*(?:" + _SENSITIVE_KEY.pattern + r")[^=&;\s'\"]*=)[^&;\s'\"]*", re.IGNORECASE
)
_CREDENTIAL = re.compile(r"\b(?P<name>Bearer|Api-Key|Basic) +[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-csrftoken", "x-forwarded-for"}
)


def init_sentry(**options: Any) -> bool:
    """Start the Sentry SDK when SENTRY_DSN is set and return whether it did.

    ``options`` go to ``sentry_sdk.init`` as they are (tests pass a transport).
    """
    dsn = env.string("SENTRY_DSN", "")
    if not dsn:
        return False
    # send_default_pii is left unset: unset means off, and the pinned sentry-sdk deprecates
    # the option (it warns when given at all). scrub() masks what the SDK still collects.
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration()],
        traces_sample_rate=traces_sample_rate(),
        environment=env.string("SENTRY_ENVIRONMENT", "production"),
        release=env.string("SENTRY_RELEASE", None),
        before_send=scrub,
        before_send_transaction=scrub,
        **options,
    )
    # Access lines carry client addresses; Sentry has no use for them as breadcrumbs.
    ignore_logger("taskhub.access")
    return True


def traces_sample_rate() -> float:
    """Return SENTRY_TRACES_SAMPLE_RATE, a share of requests between 0 and 1 (default 0)."""
    raw = env.string("SENTRY_TRACES_SAMPLE_RATE", "0")
    try:
        rate = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"SENTRY_TRACES_SAMPLE_RATE={raw!r} is not a number.") from exc
    if not 0.0 <= rate <= 1.0:
        raise ImproperlyConfigured(f"SENTRY_TRACES_SAMPLE_RATE={raw!r} must be between 0 and 1.")
    return rate


def scrub(event: Event, hint: Hint) -> Event:
    """Mask credentials and personal data in ``event`` before it is sent."""
    data = cast(dict[str, Any], event)
    request = data.get("request")
    if isinstance(request, dict):
        _scrub_request(request)
    _scrub_user(data)
    if "extra" in data:
        data["extra"] = _scrub_value(data["extra"])
    if isinstance(data.get("message"), str):
        data["message"] = _scrub_text(data["message"])
    if isinstance(data.get("logentry"), dict):
        data["logentry"] = _scrub_value(data["logentry"])
    for container in ("exception", "threads"):
        for value in _values(data.get(container)):
            _scrub_exception(value)
    for crumb in _values(data.get("breadcrumbs")):
        if "data" in crumb:
            crumb["data"] = _scrub_value(crumb["data"])
        if isinstance(crumb.get("message"), str):
            crumb["message"] = _scrub_text(crumb["message"])
    return event


def _scrub_user(data: dict[str, Any]) -> None:
    user = data.get("user")
    if not isinstance(user, dict):
        return
    if user.get("id") is None:
        del data["user"]
    else:
        data["user"] = {"id": user["id"]}


def _scrub_exception(value: dict[str, Any]) -> None:
    if isinstance(value.get("value"), str):
        value["value"] = _scrub_text(value["value"])
    for frame in (value.get("stacktrace") or {}).get("frames") or []:
        if "vars" in frame:
            frame["vars"] = _scrub_value(frame["vars"])


def _values(container: Any) -> list[dict[str, Any]]:
    """Return the items of a Sentry interface that is either ``{"values": [...]}`` or a list."""
    items = container.get("values") if isinstance(container, dict) else container
    return [item for item in items or [] if isinstance(item, dict)]


def _is_sensitive(key: object) -> bool:
    return isinstance(key, str) and _SENSITIVE_KEY.search(key) is not None


def _scrub_text(text: str) -> str:
    text = _SENSITIVE_PARAMETER.sub(lambda match: match["name"] + FILTERED, text)
    return _CREDENTIAL.sub(lambda match: f"{match['name']} {FILTERED}", text)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: FILTERED if _is_sensitive(key) else _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def _scrub_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_is_sensitive(key) for key, _ in pairs):
        return query
    return urlencode([(key, FILTERED if _is_sensitive(key) else item) for key, item in pairs], safe="[]")


def _scrub_body(body: Any) -> Any:
    if not isinstance(body, str):
        return _scrub_value(body)
    try:
        parsed = json.loads(body)
    except ValueError:
        # Not JSON: a form or raw body is dropped whole if it names anything sensitive.
        return FILTERED if _SENSITIVE_KEY.search(body) else body
    return json.dumps(_scrub_value(parsed)) if isinstance(parsed, dict | list) else body


def _scrub_request(request: dict[str, Any]) -> None:
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            name: FILTERED if str(name).lower() in _SENSITIVE_HEADERS or _is_sensitive(name) else value
            for name, value in headers.items()
        }
    request.pop("cookies", None)
    if "data" in request:
        request["data"] = _scrub_body(request["data"])
    query = request.get("query_string")
    if isinstance(query, str):
        request["query_string"] = _scrub_query(query)
    elif query is not None:
        request["query_string"] = _scrub_value(query)
    url = request.get("url")
    if isinstance(url, str) and "?" in url:
        base, _, query = url.partition("?")
        request["url"] = f"{base}?{_scrub_query(query)}"
    env_vars = request.get("env")
    if isinstance(env_vars, dict):
        env_vars.pop("REMOTE_ADDR", None)
