"""Cross-tenant checks for the schemathesis run, loaded by its CLI (``hooks`` in the run's config).

The run acts as organization A; organization B is seeded before it starts, and every id and
unique value B owns is listed in the JSON file named by ``TASKHUB_FOREIGN_TENANT``:
``{"values": [...], "objects": {"<path template>": [ids]}}``. Two checks use it:

- ``no_foreign_tenant_data``: no response to A carries any of B's values, except one A sent in
  that request (a 400 may echo the id it refused) or a name A stored itself (never an id).
- ``foreign_objects_not_found``: for every operation with an object in its path, A's request
  replayed with each of B's objects in its place answers 404 (exactly: not 400, not 403).

A third, ``run_figures``, checks nothing: it records which test case went out in which phase,
to the JSON file named by ``TASKHUB_SCHEMATHESIS_FIGURES``, for the test to report.

One hook, ``fresh_idempotency_keys``, changes what is sent: a well-formed ``Idempotency-Key``
(docs/idempotency.md) becomes a fresh UUID. Generated keys are short and repeat ("0" on every
tenant POST), and a repeated key is, by design, a 422 (another body or path) or a replay of an
object the run may have deleted since; those are the feature's rules, tested in
``taskhub/tenancy/tests/test_idempotency.py``, not schema violations. Malformed keys (negative
cases) are sent as generated, and must be 400s.

The module imports only schemathesis (and its hypothesis), requests and the standard library: it
runs in the CLI's process, not in Django's.

It also works around a CPython 3.11.7 bug: ``ast.parse`` deep in hypothesis's recursion can raise
``SystemError: AST constructor recursion depth mismatch`` (fixed in later CPython releases) while
hypothesis merely names a lambda for an event label. The run then reported a "Runtime Error"
that says nothing about the API (seen once in three CI runs). Naming the lambda ``<unknown>``
there, as hypothesis itself does when it cannot read a source, changes no generated case.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
import uuid
from functools import cache
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import requests
import schemathesis
from hypothesis.internal import lambda_sources

_describe_lambda = lambda_sources._lambda_description


def _lambda_description(f: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError:
        return "lambda ...: <unknown>"


lambda_sources._lambda_description = _lambda_description

FOREIGN_TENANT_FILE = "TASKHUB_FOREIGN_TENANT"
FIGURES_FILE = "TASKHUB_SCHEMATHESIS_FIGURES"
IDEMPOTENCY_KEY = "Idempotency-Key"
# taskhub.tenancy.idempotency.KEY_PATTERN: 1 to 255 visible ASCII characters.
WELL_FORMED_KEY = re.compile(r"[!-~]{1,255}")


@cache
def _foreign() -> dict[str, Any]:
    with open(os.environ[FOREIGN_TENANT_FILE], encoding="utf-8") as file:
        return dict(json.load(file))


def _request_text(response: schemathesis.Response) -> str:
    request = response.request
    body = request.body or b""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    # Decoded: a value sent in the query string comes back unquoted in a 400 that names it.
    return f"{unquote_plus(request.url or '')}\n{body}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def carries(text: str, value: str) -> bool:
    """Return whether ``value`` appears in ``text`` as a whole token, not inside a longer one.

    A's own organization named like B's gets the slug ``<B's slug>-2``: that is A's value, which
    merely starts with B's. Ids, slugs, usernames and emails are made of word characters, dots,
    hyphens and at signs, so those are what may not touch a match on either side (a dot may
    follow when it ends a sentence).
    """
    return re.search(rf"(?<![\w.@-]){re.escape(value)}(?![\w@-]|\.[\w@-])", text) is not None


_known_to_a: set[str] = set()
_known_lock = threading.Lock()


def _text_of(response: schemathesis.Response) -> str:
    """The body as text; a gzip body (an export's download) unpacked first, so its rows are read too."""
    content = response.content or b""
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return content.decode("utf-8", errors="replace")


@schemathesis.check
def no_foreign_tenant_data(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """Fail when a response shows any id or unique value of the other organization."""
    text = _text_of(response)
    sent = _request_text(response)
    with _known_lock:
        # A name A stored itself is A's from then on: the pool may hand A a value it saw in B's
        # answers to the object_level_authorization probes, and A may name a project so. Never an
        # id: a write that stores B's id (a task in B's project) is exactly the leak to catch.
        if response.status_code < 300 and str(response.request.method) in ("POST", "PUT", "PATCH"):
            _known_to_a.update(value for value in _foreign()["values"] if carries(sent, value) and not _is_uuid(value))
        known = set(_known_to_a)
    # A value in this very request may come back in its answer: a 400 naming the id it refused.
    leaked = sorted(
        value
        for value in _foreign()["values"]
        if carries(text, value) and value not in known and not carries(sent, value)
    )
    if leaked:
        raise AssertionError(f"The response carries organization B's data: {', '.join(leaked[:5])}")


_replayed: set[tuple[str, str]] = set()
_replayed_lock = threading.Lock()


def _claim(label: str, object_id: str) -> bool:
    with _replayed_lock:
        if (label, object_id) in _replayed:
            return False
        _replayed.add((label, object_id))
        return True


@schemathesis.check
def foreign_objects_not_found(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """Replay the request once per object of the other organization in its path: each must answer 404."""
    if case.method.upper() != case.operation.method.upper():
        # A probe with a method the operation does not have (unsupported_method's): a 405 before any lookup.
        return
    template = case.operation.path
    foreign_ids = _foreign()["objects"].get(template)
    if not foreign_ids or not case.path_parameters:
        return
    (name,) = case.path_parameters
    request = response.request
    parts = urlsplit(request.url)
    headers = {key: value for key, value in request.headers.items() if key.lower() in ("authorization", "content-type")}
    for object_id in foreign_ids:
        if not _claim(case.operation.label, object_id):
            continue
        # The schema's paths are absolute (/api/v1/...): no base path to prepend.
        path = template.replace("{" + name + "}", object_id)
        url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        replay = requests.request(str(request.method), url, headers=headers, data=request.body, timeout=10)
        if replay.status_code == 401:
            # A's token died meanwhile (its organization deleted, a logout everywhere): try again later.
            with _replayed_lock:
                _replayed.discard((case.operation.label, object_id))
            continue
        if replay.status_code != 404:
            raise AssertionError(
                f"{request.method} {path} with organization A's credential answered {replay.status_code}, "
                f"not 404, for organization B's object: {replay.text[:300]}"
            )


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """fresh_idempotency_keys: every well-formed Idempotency-Key sent is a new one (module doc)."""
    headers = case.headers or {}
    key = headers.get(IDEMPOTENCY_KEY)
    if isinstance(key, str) and WELL_FORMED_KEY.fullmatch(key):
        headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())


@schemathesis.check
class run_figures:  # lower case: it is the check's name in schemathesis's output
    """Record the test cases each phase sent and the status codes they got; fail never."""

    def __init__(self) -> None:
        self.cases: dict[str, set[str]] = {}
        self.statuses: dict[str, set[tuple[str, int]]] = {}
        self.operations: set[str] = set()
        self.lock = threading.Lock()

    def after_response(self, ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
        phase = case.meta.phase.name.value if case.meta is not None else "other"
        with self.lock:
            self.cases.setdefault(phase, set()).add(case.id)
            self.statuses.setdefault(str(response.status_code), set()).add((phase, case.id))
            self.operations.add(case.operation.label)

    def after_run(self, ctx: schemathesis.CheckContext) -> None:
        figures = {
            "cases_per_phase": {phase: len(ids) for phase, ids in sorted(self.cases.items())},
            "responses_per_status": {code: len(ids) for code, ids in sorted(self.statuses.items())},
            "operations_answered": len(self.operations),
        }
        with open(os.environ[FIGURES_FILE], "w", encoding="utf-8") as file:
            json.dump(figures, file, indent=1)
