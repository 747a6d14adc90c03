"""Layer 3: walk every API route from the URL conf and try to cross from one tenant into another.

Nothing here names an endpoint: routes come from the URL resolver, request bodies from the
OpenAPI schema, ids from every tenant-owned table. A new endpoint is walked the day it is
routed. ``walk`` returns the problems it found; the tests assert there are none (and, with a
deliberately leaky URL conf, that it finds them).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from uuid import UUID

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from hypothesis import find, strategies
from hypothesis import settings as hypothesis_settings
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from taskhub.core import rls
from taskhub.tenancy.registry import tenant_models
from taskhub.tenancy.resources import TenantListApi
from taskhub.tenancy.roles import Role

METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
USER_FIELDS = {"assignee", "user", "owner", "created_by", "actor_user"}


@dataclass
class Route:
    template: str  # Django's route text, e.g. "api/v1/tasks/<uuid:id>/"
    view_class: type
    methods: list[str]

    @property
    def params(self) -> list[str]:
        return [match["name"] for match in PARAM.finditer(self.template)]

    @property
    def public(self) -> bool:
        return AllowAny in getattr(self.view_class, "permission_classes", [])

    @property
    def model_name(self) -> str | None:
        """The model whose rows the view serves, from its tenant selector."""
        selector = getattr(self.view_class, "selector", None)
        if selector is None:
            return None
        return selector(organization_id=UUID(int=0)).model._meta.model_name

    def param_model(self) -> str | None:
        """The model the route's last path parameter names: ``project_id`` → project, ``id`` → the view's."""
        if not self.params:
            return None
        name = self.params[-1]
        return name.removesuffix("_id") if name.endswith("_id") else self.model_name

    @property
    def schema_path(self) -> str:
        return "/" + PARAM.sub(lambda match: "{" + match["name"] + "}", self.template)

    def url(self, value: str) -> str:
        return "/" + PARAM.sub(value, self.template)


@dataclass
class Tenancy:
    """Ids of one organization's rows in every tenant-owned table."""

    organization_id: str
    user_ids: list[str]
    ids_by_model: dict[str, list[str]] = field(default_factory=dict)

    def all_ids(self) -> set[str]:
        ids = {self.organization_id, *self.user_ids}
        for values in self.ids_by_model.values():
            ids.update(values)
        return ids


def _iter_patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _iter_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def api_routes() -> list[Route]:
    """Return every route under api/v1/ of the current URL conf, with the methods its view serves."""
    routes = []
    for template, callback in _iter_patterns(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if not template.startswith("api/v1/") or view_class is None:
            continue
        methods = [m for m in METHODS if m in view_class.http_method_names and hasattr(view_class, m)]
        routes.append(Route(template=template, view_class=view_class, methods=methods))
    return routes


def populate(clients: dict[Role, Any], member_user_id: str) -> None:
    """Give an organization a row in every table, through the API.

    The rows below first, with the values the walks look for (``search=org``, a foreign
    assignee); then ``populate_the_rest`` fills every tenant table still empty.
    """
    admin = clients[Role.ADMIN]
    assert admin.post("/api/v1/api-keys/", {"name": "ci", "role": "viewer"}).status_code == 201
    assert admin.post("/api/v1/invitations/", {"email": "guest@example.com", "role": "viewer"}).status_code == 201
    # An export (owners only; a job, run inline in the tests): its routes are walked with a real id.
    assert clients[Role.OWNER].post("/api/v1/organization/exports/").status_code == 202
    project = admin.post("/api/v1/projects/", {"key": "ISO", "name": "Isolation", "description": "org data"})
    assert project.status_code == 201, project.content
    task = admin.post(
        "/api/v1/tasks/", {"project": project.json()["id"], "title": "Stay inside", "assignee": member_user_id}
    )
    assert task.status_code == 201, task.content
    populate_the_rest(admin, member_user_id)


def populate_the_rest(client: APIClient, member_user_id: str) -> None:
    """Create a row, through the API, in each tenant table that has none yet.

    Each comes from a route that creates its model (a ``TenantListApi`` with a POST), with a
    body built from the schema and the route's path parameter naming a row made before (a
    comment under a task): a resource added tomorrow gets its rows without an edit here. A
    table no route creates, a join table (a task's labels), fills from the writes that take a
    list of ids (``fill_id_lists``).
    """
    organization_id = UUID(client.get("/api/v1/organization/").json()["id"])
    routes = [
        route
        for route in api_routes()
        if "post" in route.methods
        and isinstance(route.view_class, type)
        and issubclass(route.view_class, TenantListApi)
    ]
    schema: dict[str, Any] | None = None
    while routes:
        own = tenancy_of(organization_id, [UUID(member_user_id)])
        ready = [
            route
            for route in routes
            if not own.ids_by_model.get(route.model_name or "")
            and (not route.params or own_reference(route.param_model(), own) is not None)
        ]
        if not ready:
            break  # every table has rows, or the rest wait for a parent nothing here creates
        route = ready[0]
        routes.remove(route)  # each route once: the next round sees the row it made
        parent = own_reference(route.param_model(), own) if route.params else ""
        schema = schema or SchemaGenerator().get_schema(request=None, public=True)
        component = _request_bodies(schema, route, "post") or {}
        response = client.post(route.url(parent or ""), body_for(component, own, schema), format="json")
        assert response.status_code == 201, (route.template, response.status_code, response.content[:300])
    own = tenancy_of(organization_id, [UUID(member_user_id)])
    if any(not ids for ids in own.ids_by_model.values()):
        fill_id_lists(client, own)


def fill_id_lists(client: APIClient, own: Tenancy) -> None:
    """PATCH each of the tenancy's rows whose detail route takes a list of ids with one id in each list.

    Rows of a join table are made by such a write (``{"labels": [<label id>]}`` on a task), not
    by a route of their own.
    """
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for route in api_routes():
        own_id = own_reference(route.param_model(), own) if route.params and "patch" in route.methods else None
        if own_id is None:
            continue
        component = _request_bodies(schema, route, "patch") or {}
        lists = {
            name: value
            for name, prop in component.get("properties", {}).items()
            if id_list(prop) and not prop.get("readOnly") and (value := _value(name, prop, own, schema))
        }
        if lists:
            response = client.patch(route.url(own_id), lists, format="json")
            assert response.status_code == 200, (route.template, response.status_code, response.content[:300])


def tenancy_of(organization_id: UUID, user_ids: list[UUID]) -> Tenancy:
    """Collect the ids of every row the organization owns, as the platform sees them."""
    tenancy = Tenancy(organization_id=str(organization_id), user_ids=[str(u) for u in user_ids])
    with rls.bypass("isolation walk: collect ids"):
        for model in tenant_models():
            ids = model._default_manager.filter(organization_id=organization_id).values_list("pk", flat=True)
            tenancy.ids_by_model[model._meta.model_name or ""] = [str(pk) for pk in ids]
    return tenancy


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Return every row of every tenant-owned table, for before/after comparisons."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with rls.bypass("isolation walk: snapshot"):
        for model in tenant_models():
            rows[model._meta.label_lower] = [
                {k: str(v) for k, v in row.items()} for row in model._default_manager.order_by("pk").values()
            ]
    return rows


def _request_bodies(schema: dict[str, Any], route: Route, method: str) -> dict[str, Any] | None:
    operation = schema.get("paths", {}).get(route.schema_path, {}).get(method)
    if not operation or "requestBody" not in operation:
        return None
    content = operation["requestBody"].get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    return schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})


def id_list(prop: dict[str, Any]) -> bool:
    """Whether a schema property is a list of ids (``labels``: ids of the model ``label``)."""
    return prop.get("type") == "array" and prop.get("items", {}).get("format") == "uuid"


def referred_model(name: str, prop: dict[str, Any]) -> str:
    """The model a uuid property's ids name: the property's own name, singular for a list of ids."""
    return name.removesuffix("s") if id_list(prop) else name


def _value(name: str, prop: dict[str, Any], own: Tenancy, schema: dict[str, Any]) -> Any:  # noqa: PLR0911
    """Return a valid value for one schema property: one answer per schema type."""
    if id_list(prop):
        found = own_reference(referred_model(name, prop), own)
        return [found] if found else None
    if "$ref" in prop or "allOf" in prop or "oneOf" in prop:
        variants = prop.get("allOf") or prop.get("oneOf") or [prop]
        ref = str(prop.get("$ref") or variants[0].get("$ref", "")).rsplit("/", 1)[-1]
        enum = schema["components"]["schemas"].get(ref, {}).get("enum")
        return enum[0] if enum else None
    if "enum" in prop:
        return prop["enum"][0]
    kind, fmt = prop.get("type"), prop.get("format")
    if fmt == "uuid":
        return own_reference(name, own)
    if fmt == "email":
        return "walker@example.com"
    if fmt == "date":
        return "2031-01-01"
    if fmt == "date-time":
        return "2031-01-01T00:00:00Z"
    if kind == "boolean":
        return False
    if kind == "integer":
        return 1
    if kind == "string":
        pattern = prop.get("pattern")
        if not pattern:
            return f"walk {name}"
        return "WALK" if re.fullmatch(pattern, "WALK") else matching(pattern)
    return None


@cache
def matching(pattern: str) -> str:
    """The simplest string the schema's ``pattern`` accepts (``#000000`` for a colour), always the same one."""
    return str(
        find(
            strategies.from_regex(pattern, fullmatch=True), lambda _: True, settings=hypothesis_settings(database=None)
        )
    )


def own_reference(name: str | None, tenancy: Tenancy) -> str | None:
    """Return one of the tenancy's ids that a uuid field called ``name`` could point at."""
    if name in USER_FIELDS:
        return tenancy.user_ids[-1] if tenancy.user_ids else None
    ids = tenancy.ids_by_model.get(name or "") or []
    return ids[0] if ids else None


def body_for(component: dict[str, Any], own: Tenancy, schema: dict[str, Any]) -> dict[str, Any]:
    """Build a request body the endpoint should accept, from its schema component."""
    body = {}
    for name, prop in component.get("properties", {}).items():
        if prop.get("readOnly"):
            continue
        value = _value(name, prop, own, schema)
        if value is not None:
            body[name] = value
    return body


def uuid_fields(component: dict[str, Any]) -> list[str]:
    """The writable properties that name rows by id: one id, or a list of ids."""
    return [
        name
        for name, prop in component.get("properties", {}).items()
        if (prop.get("format") == "uuid" or id_list(prop)) and not prop.get("readOnly")
    ]


def _leaks(response: Any, foreign: set[str]) -> set[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if body[:2] == b"\x1f\x8b":
        # A gzip download (an export): what it holds, not its compressed bytes.
        body = gzip.decompress(body)
    text = body.decode(errors="replace")
    return {value for value in foreign if value in text}


@dataclass
class Walk:
    client: APIClient
    own: Tenancy
    foreign: Tenancy
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    routes: int = 0

    def _send(self, method: str, url: str, body: dict[str, Any] | None = None, client: APIClient | None = None) -> Any:
        self.requests += 1
        sender = getattr(client or self.client, method)
        if method == "get":
            return sender(url)
        return sender(url, body or {}, format="json")

    def _problem(self, text: str) -> None:
        self.problems.append(text)

    def run(self) -> list[str]:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        routes = api_routes()
        self.routes = len(routes)
        for route in routes:
            if route.public:
                continue
            self.check_credentials(route)
            if route.params:
                self.walk_foreign_ids(route, schema)
            if "get" in route.methods:
                self.walk_list(route)
            if not route.params and "post" in route.methods:
                self.walk_foreign_references(route, "post", route.url(""), schema)
            if route.params:
                own_id = own_reference(route.param_model(), self.own)
                for method in ("put", "patch"):
                    if method in route.methods and own_id:
                        self.walk_foreign_references(route, method, route.url(own_id), schema)
        return self.problems

    def check_credentials(self, route: Route) -> None:
        anonymous = APIClient()
        url = (
            route.url(own_reference(route.param_model(), self.own) or self.own.organization_id)
            if route.params
            else (route.url(""))
        )
        for method in route.methods:
            response = self._send(method, url, client=anonymous)
            if response.status_code != 401:
                self._problem(f"{method.upper()} {url}: {response.status_code} without a credential")

    def walk_foreign_ids(self, route: Route, schema: dict[str, Any]) -> None:
        foreign_ids = self.foreign.all_ids()
        for foreign_id in sorted(foreign_ids):
            url = route.url(foreign_id)
            for method in route.methods:
                component = _request_bodies(schema, route, method)
                body = body_for(component, self.own, schema) if component else {}
                before = snapshot() if method != "get" else None
                response = self._send(method, url, body)
                if response.status_code != 404:
                    self._problem(f"{method.upper()} {url}: {response.status_code} for another organization's id")
                if leaked := _leaks(response, foreign_ids):
                    self._problem(f"{method.upper()} {url}: body shows foreign ids {sorted(leaked)[:3]}")
                if before is not None and snapshot() != before:
                    self._problem(f"{method.upper()} {url}: changed rows")

    def walk_list(self, route: Route) -> None:
        own_id = own_reference(route.param_model(), self.own) if route.params else ""
        if own_id is None:
            return
        base = route.url(own_id)
        for query in ("", "?page_size=100", "?search=org", "?ordering=-created_at"):
            response = self._send("get", base + query)
            if response.status_code >= 500:
                self._problem(f"GET {base}{query}: {response.status_code}")
            if leaked := _leaks(response, self.foreign.all_ids()):
                self._problem(f"GET {base}{query}: lists foreign ids {sorted(leaked)[:3]}")

    def walk_foreign_references(self, route: Route, method: str, url: str, schema: dict[str, Any]) -> None:
        component = _request_bodies(schema, route, method)
        references = uuid_fields(component) if component else []
        if not component or not references:
            return
        base = body_for(component, self.own, schema)
        for name in references:
            prop = component["properties"][name]
            foreign_value: Any = own_reference(referred_model(name, prop), self.foreign)
            if foreign_value is None:
                continue
            if id_list(prop):
                # One foreign id among the caller's own: the whole write must be refused.
                foreign_value = [*base.get(name, []), foreign_value]
            before = snapshot()
            response = self._send(method, url, {**base, name: foreign_value})
            if response.status_code != 400:
                self._problem(f"{method.upper()} {url} with a foreign {name}: {response.status_code}, expected 400")
            if snapshot() != before:
                self._problem(f"{method.upper()} {url} with a foreign {name}: changed rows")
        # The same body with the caller's own references must succeed, or the 400s above prove nothing.
        response = self._send(method, url, base)
        if not 200 <= response.status_code < 300:
            self._problem(
                f"{method.upper()} {url} with own references: {response.status_code} {response.content[:200]!r}"
            )


def walk(*, client: APIClient, own: Tenancy, foreign: Tenancy) -> Walk:
    """Walk every API route of the current URL conf as ``client`` (of ``own``) against ``foreign``'s rows."""
    walker = Walk(client=client, own=own, foreign=foreign)
    walker.run()
    return walker
