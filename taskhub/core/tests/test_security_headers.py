"""Transport and browser security headers, under the real production settings."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json, django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
def summary(response):
    return {"status": response.status_code, "headers": dict(response.headers), "cookies": {
        name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"])} for name, m in response.cookies.items()}}
def get(path, **extra):
    return summary(client.get(path, **extra))
def page(path, **extra):
    response = client.get(path, **extra)
    return {**summary(response), "html": response.content.decode()}
get_user_model().objects.create_superuser("cookie-admin", "cookie-admin@example.com", "a-long-admin-password")
print(json.dumps({
    "live": get("/health/live/", HTTP_X_FORWARDED_PROTO="https"),
    "docs": get("/api/docs/", HTTP_X_FORWARDED_PROTO="https"),
    "account_page": page("/account/reset-password/?token=x", HTTP_X_FORWARDED_PROTO="https"),
    "plain_http": get("/api/v1/projects/"),
    "plain_http_health": get("/health/live/"),
    "admin_login": get("/admin/login/", HTTP_X_FORWARDED_PROTO="https"),
    # A real sign-in: the response that sets the session cookie, under the production settings.
    "admin_signed_in": summary(client.post(
        "/admin/login/?next=/admin/", {"username": "cookie-admin", "password": "a-long-admin-password"},
        HTTP_X_FORWARDED_PROTO="https")),
    "cookie_names": {"session": settings.SESSION_COOKIE_NAME, "csrf": settings.CSRF_COOKIE_NAME},
}))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_", "REDIS_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SIGNING_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="testserver",
        CORS_ALLOWED_ORIGINS="https://app.example.com",
        DEBUG="False",
        STATIC_ROOT=str(tmp_path_factory.mktemp("static")),
        # A database of its own (SQLite) for the admin sign-in, never the checkout's db.sqlite3.
        SQLITE_PATH=str(tmp_path_factory.mktemp("db") / "db.sqlite3"),
    )
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    # As the Docker image does at build time: hashed, compressed files and their manifest.
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert collected.returncode == 0, collected.stderr
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_responses_carry_hsts_and_the_browser_security_headers(production):
    headers = production["live"]["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp


def test_the_docs_page_loads_no_inline_script_under_the_policy(production):
    docs = production["docs"]
    assert docs["status"] == 200
    assert "script-src 'self'" in docs["headers"]["Content-Security-Policy"]


def test_an_account_page_renders_with_collected_static_files_under_its_own_strict_policy(production):
    page = production["account_page"]
    assert page["status"] == 400  # the invalid-link page: no such token
    assert "This link is invalid, used or expired" in page["html"]
    # The stylesheet's name from collectstatic's manifest (hashed), as nginx serves it.
    assert re.search(r'href="/static/accounts/pages/pages\.[0-9a-f]{12}\.css"', page["html"]), page["html"]
    headers = page["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_plain_http_redirects_to_https_except_health_checks(production):
    assert production["plain_http"]["status"] == 301
    assert production["plain_http"]["headers"]["Location"].startswith("https://")
    assert production["plain_http_health"]["status"] == 200


def test_cookies_are_secure_and_the_session_cookie_http_only(production):
    # The project's rule (deploy check taskhub.core.deploy_checks, docs/security.md): every cookie
    # Secure; the session cookie, the admin's credential, HttpOnly too. The CSRF cookie is not
    # HttpOnly (Django's default: it is no credential and hiding it from scripts protects nothing).
    names = production["cookie_names"]
    login_page = production["admin_login"]
    assert login_page["status"] == 200
    assert set(login_page["cookies"]) == {names["csrf"]}
    signed_in = production["admin_signed_in"]
    assert signed_in["status"] == 302, "the admin sign-in failed, so no session cookie was set"
    assert signed_in["headers"]["Location"] == "/admin/"
    assert names["session"] in signed_in["cookies"]
    for response in (login_page, signed_in):
        for name, flags in response["cookies"].items():
            assert flags["secure"] is True, name
    assert signed_in["cookies"][names["session"]]["httponly"] is True


@pytest.mark.django_db
def test_the_api_speaks_json_only_no_browsable_api(client):
    response = client.get("/api/v1/projects/", HTTP_ACCEPT="text/html")
    assert response["Content-Type"].startswith("application/json")
