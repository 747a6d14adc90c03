"""The OpenAPI schema reads as documentation: ReDoc and Swagger UI head each operation with its summary.

Without one they show the raw operation id (``auth_logout_create``, ``.well_known_jwks.json_retrieve``).
Every operation has a summary of its own and a description that says who may call it; every tag is
described; the schema's front page explains signing in, organizations, API keys, errors, pagination
and rate limits.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from taskhub.core.schema import _APP_TAGS

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
WHO = "**Who may call it:** "


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_the_schema_has_the_operations_of_every_app(schema):
    tags = {tag for _, operation in _operations(schema) for tag in operation["tags"]}
    assert {"auth", "organization", "members", "invitations", "api-keys", "projects", "tasks", "audit"} <= tags
    assert "GET /.well-known/jwks.json" in dict(_operations(schema))


def test_every_operation_has_a_summary_of_its_own(schema):
    summaries: dict[str, str] = {}
    for name, operation in _operations(schema):
        summary = operation.get("summary", "")
        assert summary.strip(), f"{name} has no summary"
        assert summary != operation["operationId"], f"{name}'s summary is its operation id"
        assert "_" not in summary.replace("`", ""), f"{name}'s summary looks like an identifier: {summary!r}"
        assert summary[0].isupper(), f"{name}: {summary!r} is not a heading"
        assert not summary.endswith("."), f"{name}: {summary!r} is not a heading"
        assert len(summary) <= 80, f"{name}'s summary is too long for a heading"
        assert summary not in summaries, f"{name} and {summaries.get(summary)} share the summary {summary!r}"
        summaries[summary] = name


def test_every_operation_says_who_may_call_it_and_what_it_does(schema):
    for name, operation in _operations(schema):
        description = operation.get("description", "")
        assert description.startswith(WHO), f"{name}'s description does not say who may call it"
        who, _, what = description.removeprefix(WHO).partition("\n\n")
        assert who.strip(), f"{name}: who may call it is empty"
        assert what.strip(), f"{name}: what it does is missing"
        assert operation["summary"] not in (who, what)


def test_every_tag_used_is_described_and_every_described_tag_is_used(schema):
    used = {tag for _, operation in _operations(schema) for tag in operation.get("tags", [])}
    described = {tag["name"]: tag.get("description", "") for tag in schema.get("tags", [])}
    assert used == set(described), f"undescribed: {used - set(described)}; unused: {set(described) - used}"
    for name, description in described.items():
        assert description.strip(), f"tag {name} has an empty description"
    # The settings name each of theirs once, in the order the docs list them; apps' own tags follow.
    listed = [tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]]
    assert list(described)[: len(listed)] == listed
    assert list(described)[len(listed) :] == [name for name in _APP_TAGS if name not in listed]


@pytest.mark.parametrize(
    ("flow", "phrases"),
    [
        ("sign-up and sign-in", ["/api/v1/auth/register/", "/api/v1/auth/token/", "Authorization: Bearer"]),
        ("a token bound to one organization", ["bound to one organization", "15 minutes"]),
        ("refresh rotation", ["/api/v1/auth/token/refresh/", "rotates", "blacklisted"]),
        ("switching organization", ["/api/v1/auth/switch/", '{"organization": "<id or slug>"}']),
        ("API keys", ["/api/v1/api-keys/", "Authorization: Api-Key thk_", "`member`", "`viewer`"]),
        ("the error shape", ['`{"detail", "code", "errors"?}`', "{message, code}"]),
        ("pagination", ["cursor-paginated", "`next`", "`page_size`"]),
        ("rate limits", ["429", "`throttled`", "Retry-After", "`locked_out`"]),
    ],
)
def test_the_front_page_explains(schema, flow, phrases):
    description = schema["info"]["description"]
    for phrase in phrases:
        assert phrase in description, f"the schema's description does not explain {flow}: no {phrase!r}"


@pytest.mark.django_db
def test_the_served_schema_heads_the_issue_s_operations_with_sentences(client):
    # The two headings issue #18 quotes, as ReDoc gets them from /api/schema/.
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert paths["/api/v1/auth/logout/"]["post"]["summary"] == "Sign out: blacklist a refresh token"
    assert paths["/.well-known/jwks.json"]["get"]["summary"].startswith("Get the public keys")
    assert response.json()["info"]["description"] == settings.SPECTACULAR_SETTINGS["DESCRIPTION"]
