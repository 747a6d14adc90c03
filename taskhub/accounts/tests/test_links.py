"""Links mailed to users: the service's own /account/ pages on SITE_URL, or FRONTEND_URL when set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskhub.accounts.links import account_link

ROOT = Path(__file__).resolve().parents[3]


def test_links_point_at_the_service_own_pages_by_default(settings):
    settings.SITE_URL, settings.FRONTEND_URL = "https://api.example.com/", ""
    assert account_link("reset-password", "abc_-1") == "https://api.example.com/account/reset-password/?token=abc_-1"
    assert account_link("verify-email", "t") == "https://api.example.com/account/verify-email/?token=t"
    assert account_link("accept-invitation", "a b") == "https://api.example.com/account/accept-invitation/?token=a+b"


def test_frontend_url_when_set_takes_the_links(settings):
    settings.SITE_URL, settings.FRONTEND_URL = "https://api.example.com", "https://app.example.com/"
    assert account_link("verify-email", "t") == "https://app.example.com/account/verify-email/?token=t"


def test_an_unknown_page_is_a_programming_error():
    with pytest.raises(ValueError, match="no account page"):
        account_link("login", "t")


def _production_site_url(**variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "DATABASE_", "REDIS_", "JWT_", "DJANGO_", "SITE_URL", "FRONTEND_URL"))
        and k not in ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")
    }
    environment.update(
        SECRET_KEY="x" * 64,
        JWT_SIGNING_KEY="y" * 64,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        TASKHUB_ENV_FILE="",
        **variables,
    )
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; print(s.SITE_URL)",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [("API.example.com,other.example.com", "https://api.example.com"), ("localhost", "https://localhost")],
)
def test_production_site_url_defaults_to_https_on_the_first_allowed_host(hosts, expected):
    result = _production_site_url(ALLOWED_HOSTS=hosts)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("hosts", [".example.com", "*", "10.0.0.5", "[::1]"])
def test_production_needs_site_url_when_the_first_allowed_host_is_no_plain_name(hosts):
    result = _production_site_url(ALLOWED_HOSTS=hosts)
    assert result.returncode != 0
    assert "SITE_URL" in result.stderr
    assert _production_site_url(ALLOWED_HOSTS=hosts, SITE_URL="https://api.example.com").stdout.strip() == (
        "https://api.example.com"
    )
