"""What a browser could be tricked into: stored markup, cookie-borne requests, server-side fetches.

- Markup stored in a project name or task title comes back as JSON data, never as a page: a
  JSON content type, ``nosniff``, and the characters escaped only as JSON requires.
- The API takes no session cookie as a credential (every view authenticates by header only),
  so a forged cross-site request carries nothing; the Django admin, the one cookie-authenticated
  path, refuses an unsafe request without its CSRF token.
- No request field is a URL the server would fetch (OWASP API7, SSRF), but a webhook's ``url``,
  which every delivery sends through the SSRF guard (taskhub/webhooks/transport.py; its tests
  are taskhub/webhooks/tests/test_ssrf.py, with the guard switched on).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authentication import SessionAuthentication
from rest_framework.settings import api_settings

from taskhub.accounts.models import User
from taskhub.projects.models import Project
from taskhub.tenancy.roles import Role
from tests.support.isolation import api_routes

MARKUP = [
    "<script>alert(document.cookie)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><svg onload=alert(1)>",
    "javascript:alert(1)//\u2028x\u2029y",
    "{{constructor.constructor('alert(1)')()}}",
]


def assert_inert_json(response: Any) -> Any:
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    return json.loads(response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("markup", MARKUP)
def test_stored_markup_comes_back_as_json_data_only(clients_a, markup):
    client = clients_a[Role.MEMBER]
    project = client.post("/api/v1/projects/", {"key": "XSS", "name": markup, "description": markup})
    assert project.status_code == 201, project.content
    project_id = project.json()["id"]
    task = client.post("/api/v1/tasks/", {"project": project_id, "title": markup, "description": markup})
    assert task.status_code == 201, task.content
    for url, field in (
        (f"/api/v1/projects/{project_id}/", "name"),
        (f"/api/v1/tasks/{task.json()['id']}/", "title"),
    ):
        response = client.get(url)
        body = assert_inert_json(response)
        # Stored and returned exactly: not HTML-escaped, not stripped; escaping is the renderer's job.
        assert body[field] == markup
        assert body["description"] == markup
        assert b"&lt;" not in response.content
        # Line separators are escaped too, so the JSON is safe even inside a <script> block.
        assert "\u2028" not in response.content.decode()
    listed = client.get("/api/v1/tasks/", {"search": markup[:20]})
    assert assert_inert_json(listed)["results"][0]["title"] == markup


@pytest.mark.django_db
def test_markup_in_a_rejected_value_is_echoed_only_inside_json(clients_a):
    client = clients_a[Role.MEMBER]
    for response in (
        client.get("/api/v1/projects/", {"ordering": MARKUP[0]}),
        client.post("/api/v1/projects/", {"key": MARKUP[0], "name": "x"}),
        client.get("/api/v1/" + MARKUP[1]),
    ):
        assert response.status_code in (400, 404)
        assert assert_inert_json(response)["code"]


def test_no_api_view_accepts_a_session_cookie_as_a_credential():
    assert not any(issubclass(cls, SessionAuthentication) for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    routes = api_routes()
    assert len(routes) >= 20
    for route in routes:
        classes = getattr(route.view_class, "authentication_classes", [])
        assert not any(issubclass(cls, SessionAuthentication) for cls in classes), route.template


@pytest.mark.django_db
def test_a_signed_in_admin_session_is_no_credential_for_the_api(tenant_a):
    # The owner of organization A is also platform staff, signed in to the admin.
    owner = tenant_a.owner
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get("/admin/").status_code == 200
    csrf = browser.get("/admin/accounts/user/add/").cookies.get("csrftoken")
    headers = {"HTTP_X_CSRFTOKEN": csrf.value} if csrf else {}
    for method, url in (("get", "/api/v1/auth/me/"), ("get", "/api/v1/projects/"), ("post", "/api/v1/projects/")):
        # Even with the CSRF token a page on our origin would have: the cookie is not a credential.
        if method == "post":
            body = json.dumps({"key": "CSRF", "name": "x"})
            response = browser.post(url, body, content_type="application/json", **headers)
        else:
            response = browser.get(url, **headers)
        assert response.status_code == 401, (url, response.status_code)
        assert response.json()["code"] == "not_authenticated"
    assert not Project.objects.filter(key="CSRF").exists()


@pytest.mark.django_db
def test_the_admin_refuses_an_unsafe_request_without_its_csrf_token(tenant_a):
    staff = User.objects.create_superuser(username="root", email="root@example.com", password="a-strong-pass-42")
    victim = tenant_a.users[Role.MEMBER]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    # What a cross-site form would send: the session cookie rides along, the token cannot.
    response = browser.post(
        f"/admin/accounts/user/{victim.pk}/change/",
        {"username": victim.username, "email": victim.email, "is_superuser": "on", "is_staff": "on"},
    )
    assert response.status_code == 403
    victim.refresh_from_db()
    assert not victim.is_staff
    assert not victim.is_superuser
    assert browser.post("/admin/logout/").status_code == 403
    # Login CSRF: signing a victim's browser in to the attacker's account is refused too.
    assert (
        Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "root", "password": "x"}).status_code == 403
    )


URL_FORMATS = {"uri", "url", "iri", "uri-reference", "iri-reference", "hostname"}
URL_WORDS = ("url", "uri", "webhook", "callback", "href", "link", "host")
# The URL fields there are on purpose: a webhook's URL, judged at creation (scheme, literal
# addresses) and at every delivery (each resolved address, no redirects) by taskhub.webhooks.transport.
GUARDED_URL_FIELDS = ["PatchedWebhookUpdateInputRequest.url", "WebhookCreateInputRequest.url"]


def _request_components(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema components that request bodies use."""
    names = {
        content["schema"]["$ref"].rsplit("/", 1)[-1]
        for operations in schema["paths"].values()
        for operation in operations.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
    }
    return {name: schema["components"]["schemas"][name] for name in names}


def _url_fields(components: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"{name}.{field}"
        for name, component in components.items()
        for field, prop in component.get("properties", {}).items()
        if prop.get("format") in URL_FORMATS or any(word in field.lower() for word in URL_WORDS)
    ]


def test_no_request_field_takes_a_url_the_server_could_be_made_to_fetch():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = _request_components(schema)
    assert len(components) >= 15
    assert sorted(_url_fields(components)) == GUARDED_URL_FIELDS
    # Query parameters too: a filter or search never names a URL.
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert parameter["schema"].get("format") not in URL_FORMATS, (path, parameter["name"])
