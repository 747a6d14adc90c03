"""Cross-tenant checks for the schemathesis run, loaded by its CLI through ``SCHEMATHESIS_HOOKS``.

The run acts as organization A; organization B is seeded before it starts, and every id and
unique value B owns is listed in the JSON file named by ``TASKHUB_FOREIGN_TENANT``:
``{"values": [...], "objects": {"<path template>": [ids]}}``. Two checks use it:

- ``no_foreign_tenant_data``: no response to A carries any of B's values (unless A sent it
  in that very request: a validation error may echo the id it refused).
- ``foreign_objects_not_found``: for every operation with an object in its path, A's request
  replayed with each of B's objects in its place answers 404 (exactly: not 400, not 403).

The module only imports schemathesis and the standard library: it runs in the CLI's process,
not in Django's.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import schemathesis

FOREIGN_TENANT_FILE = "TASKHUB_FOREIGN_TENANT"


@cache
def _foreign() -> dict[str, Any]:
    with open(os.environ[FOREIGN_TENANT_FILE], encoding="utf-8") as file:
        return dict(json.load(file))


def _request_text(response: schemathesis.Response) -> str:
    request = response.request
    body = request.body or b""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    return f"{request.url}\n{body}"


@schemathesis.check
def no_foreign_tenant_data(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Any) -> None:
    """Fail when a response shows any id or unique value of the other organization."""
    text = response.text or ""
    sent = _request_text(response)
    leaked = sorted(value for value in _foreign()["values"] if value in text and value not in sent)
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
        replay = requests.request(request.method, url, headers=headers, data=request.body, timeout=10)
        if replay.status_code != 404:
            raise AssertionError(
                f"{request.method} {path} with organization A's credential answered {replay.status_code}, "
                f"not 404, for organization B's object: {replay.text[:300]}"
            )
