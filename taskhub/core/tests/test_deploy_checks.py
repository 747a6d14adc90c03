"""The deploy checks: ``check --deploy`` in a subprocess per environment, and each check in-process."""

import os
import re
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from taskhub.core import deploy_checks

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / ".env.production.example"
NO_ISSUES = "System check identified no issues (0 silenced)."
# Only what the interpreter needs: nothing of the caller's DB_*, REDIS_URL or secrets leaks in.
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def example_variables() -> dict[str, str]:
    """Return the example's NAME=value lines, with fresh random keys where it leaves them empty."""
    variables = {}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            variables[name] = value
    return variables | {"SECRET_KEY": secrets.token_urlsafe(64), "JWT_SIGNING_KEY": secrets.token_urlsafe(64)}


def check_deploy(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``check --deploy`` on the example environment; an override of None removes the variable."""
    variables = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    variables |= example_variables()
    for name, value in overrides.items():
        variables.pop(name, None)
        if value is not None:
            variables[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], check_id: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"({check_id})" in result.stderr, result.stderr


PLACEHOLDER_KEY = "change-me" * 10
# Most failure modes at once: each check reads its own settings, so one boot proves them all.
MISCONFIGURED = {
    "SECRET_KEY": PLACEHOLDER_KEY,
    "JWT_SIGNING_KEY": PLACEHOLDER_KEY,
    "DEBUG": "True",
    "ALLOWED_HOSTS": "api.example.com,*",
    "CORS_ALLOWED_ORIGINS": "http://app.example.com,https://localhost:3000",
    "DB_SSLMODE": None,
    "REDIS_URL": None,
    "SECURE_HSTS_SECONDS": "60",
    "JWT_ACCESS_TOKEN_LIFETIME_MINUTES": "60",
    "JWT_REFRESH_TOKEN_LIFETIME_DAYS": "30",
    "FRONTEND_URL": "http://app.example.com",
}
# The modes that exclude those above: no database at all, short and repetitive keys.
MISCONFIGURED_OTHERWISE = {
    "SECRET_KEY": "Zq8#kP2m",
    "JWT_SIGNING_KEY": "ab" * 40,
    "ALLOWED_HOSTS": "0.0.0.0",  # noqa: S104 - the value refused
    "SITE_URL": "http://api.example.com",
    "FRONTEND_URL": None,
    **dict.fromkeys(("DB_NAME", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_SSLMODE")),
}


@pytest.fixture(scope="module")
def misconfigured() -> subprocess.CompletedProcess[str]:
    return check_deploy(**MISCONFIGURED)


@pytest.fixture(scope="module")
def misconfigured_otherwise() -> subprocess.CompletedProcess[str]:
    return check_deploy(**MISCONFIGURED_OTHERWISE)


def test_check_deploy_passes_the_example_environment_with_fresh_keys():
    result = check_deploy()
    assert result.returncode == 0, result.stderr
    assert NO_ISSUES in result.stdout


def test_example_environment_leaves_every_secret_empty():
    secret_lines = [line for line in EXAMPLE.read_text().splitlines() if re.match(r"(\w*KEY|\w*PASSWORD)=", line)]
    assert secret_lines
    assert all(line.endswith("=") for line in secret_lines), secret_lines


def test_example_environment_names_every_configuration_variable():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([A-Z_]+)`", row.split("|")[1])
    }
    example = set(re.findall(r"^(?:# )?([A-Z_]+)=", EXAMPLE.read_text(), flags=re.MULTILINE))
    assert documented
    assert documented <= example, sorted(documented - example)


def test_check_deploy_fails_on_placeholder_secret_key(misconfigured):
    assert_refused(misconfigured, "taskhub.E102")


def test_check_deploy_fails_on_short_secret_key(misconfigured_otherwise):
    assert_refused(misconfigured_otherwise, "taskhub.E101")


def test_check_deploy_fails_on_repetitive_jwt_signing_key(misconfigured_otherwise):
    assert_refused(misconfigured_otherwise, "taskhub.E103")


def test_check_deploy_fails_on_jwt_signing_key_equal_to_secret_key(misconfigured):
    assert_refused(misconfigured, "taskhub.E105")


def test_check_deploy_fails_on_debug(misconfigured):
    assert_refused(misconfigured, "taskhub.E107")


def test_check_deploy_fails_on_wildcard_allowed_host(misconfigured, misconfigured_otherwise):
    assert_refused(misconfigured, "taskhub.E109")
    assert "'0.0.0.0'" in misconfigured_otherwise.stderr
    assert_refused(misconfigured_otherwise, "taskhub.E109")


def test_check_deploy_fails_on_plain_http_cors_origin(misconfigured):
    assert_refused(misconfigured, "taskhub.E111")
    assert "'http://app.example.com'" in misconfigured.stderr


def test_check_deploy_fails_on_localhost_cors_origin(misconfigured):
    assert_refused(misconfigured, "taskhub.E112")
    assert "'https://localhost:3000'" in misconfigured.stderr


def test_check_deploy_fails_on_sqlite(misconfigured_otherwise):
    assert_refused(misconfigured_otherwise, "taskhub.E113")


def test_check_deploy_fails_on_remote_database_without_sslmode(misconfigured):
    assert_refused(misconfigured, "taskhub.E114")


def test_check_deploy_fails_without_redis(misconfigured):
    assert_refused(misconfigured, "taskhub.E115")


def test_check_deploy_fails_on_short_hsts(misconfigured):
    assert_refused(misconfigured, "taskhub.E116")


def test_check_deploy_fails_on_long_token_lifetimes(misconfigured):
    assert_refused(misconfigured, "taskhub.E118")
    assert_refused(misconfigured, "taskhub.E119")


def test_check_deploy_fails_on_a_plain_http_frontend_url(misconfigured):
    assert_refused(misconfigured, "taskhub.E121")
    assert "FRONTEND_URL is not an https:// URL ('http://app.example.com')" in misconfigured.stderr


def test_check_deploy_fails_on_a_plain_http_site_url(misconfigured_otherwise):
    assert_refused(misconfigured_otherwise, "taskhub.E121")
    assert "SITE_URL is not an https:// URL ('http://api.example.com')" in misconfigured_otherwise.stderr


def test_check_deploy_passes_without_frontend_url_links_going_to_the_apps_own_pages():
    result = check_deploy(FRONTEND_URL=None, SITE_URL="https://api.example.com")
    assert result.returncode == 0, result.stderr
    assert NO_ISSUES in result.stdout


def test_check_deploy_says_how_to_fix_each_finding(misconfigured):
    findings = re.findall(r"^\?: \(taskhub\.E1\d\d\)", misconfigured.stderr, flags=re.MULTILINE)
    hints = re.findall(r"^\tHINT: ", misconfigured.stderr, flags=re.MULTILINE)
    assert len(findings) >= 12
    assert len(hints) >= len(findings)


def test_check_deploy_accepts_long_token_lifetimes_when_allowed():
    result = check_deploy(
        JWT_ACCESS_TOKEN_LIFETIME_MINUTES="60", JWT_REFRESH_TOKEN_LIFETIME_DAYS="30", JWT_ALLOW_LONG_LIFETIMES="True"
    )
    assert result.returncode == 0, result.stderr
    assert NO_ISSUES in result.stdout


def ids(messages) -> list[str]:
    return [message.id for message in messages]


RANDOM_KEY = secrets.token_urlsafe(64)


def random_key_id(value: object) -> str | None:
    """A parameter's test id with ``RANDOM_KEY`` named, not spelled: every pytest-xdist worker collects the same ids."""
    return value.replace(RANDOM_KEY, "<random>") if isinstance(value, str) else None


@pytest.mark.parametrize(
    "key",
    [
        "django-insecure-" + RANDOM_KEY,
        "please-change-me-" + RANDOM_KEY,
        "CHANGEME" + RANDOM_KEY,
        "your-production-secret-key-" + RANDOM_KEY,
        "<your secret here>" + RANDOM_KEY,
        "my-secret-key-" + RANDOM_KEY,
    ],
    ids=random_key_id,
)
def test_placeholder_secret_keys_are_refused(settings, key):
    settings.SECRET_KEY = key
    assert ids(deploy_checks.check_secret_key()) == ["taskhub.E102"]


@pytest.mark.parametrize("key", ["", "k" * 49, "abcd" * 20])
def test_missing_short_or_repetitive_secret_keys_are_refused(settings, key):
    settings.SECRET_KEY = key
    assert ids(deploy_checks.check_secret_key()) == ["taskhub.E101"]


def test_random_secret_key_passes(settings):
    settings.SECRET_KEY = secrets.token_urlsafe(64)
    assert deploy_checks.check_secret_key() == []


def hs256(signing_key: str) -> dict[str, object]:
    return {"ALGORITHM": "HS256", "SIGNING_KEY": signing_key, "VERIFYING_KEY": ""}


def test_jwt_signing_key_derived_from_secret_key_is_refused(settings):
    settings.SECRET_KEY = RANDOM_KEY
    settings.SIMPLE_JWT = hs256(f"jwt:{RANDOM_KEY}")
    assert ids(deploy_checks.check_jwt_keys()) == ["taskhub.E105"]


@pytest.mark.parametrize(
    ("key", "check_id"), [("", "taskhub.E103"), ("replace-me-" + RANDOM_KEY, "taskhub.E104")], ids=random_key_id
)
def test_missing_or_placeholder_jwt_signing_key_is_refused(settings, key, check_id):
    settings.SIMPLE_JWT = hs256(key)
    assert ids(deploy_checks.check_jwt_keys()) == [check_id]


def test_distinct_random_jwt_signing_key_passes(settings):
    settings.SIMPLE_JWT = hs256(secrets.token_urlsafe(64))
    assert deploy_checks.check_jwt_keys() == []


@pytest.mark.parametrize(("signing", "verifying"), [("", "PUBLIC"), ("PRIVATE", ""), ("", "")])
def test_rs256_without_both_keys_is_refused(settings, signing, verifying):
    settings.SIMPLE_JWT = {"ALGORITHM": "RS256", "SIGNING_KEY": signing, "VERIFYING_KEY": verifying}
    assert ids(deploy_checks.check_jwt_keys()) == ["taskhub.E106"]


def test_rs256_with_a_key_pair_passes(settings):
    settings.SIMPLE_JWT = {"ALGORITHM": "RS256", "SIGNING_KEY": "PRIVATE PEM", "VERIFYING_KEY": "PUBLIC PEM"}
    assert deploy_checks.check_jwt_keys() == []


def test_empty_allowed_hosts_is_refused(settings):
    settings.ALLOWED_HOSTS = []
    assert ids(deploy_checks.check_allowed_hosts()) == ["taskhub.E108"]


def test_subdomain_allowed_host_is_not_a_wildcard(settings):
    settings.ALLOWED_HOSTS = [".example.com", "api.example.com"]
    assert deploy_checks.check_allowed_hosts() == []


def test_cors_allowing_every_origin_is_refused(settings):
    settings.CORS_ALLOW_ALL_ORIGINS = True
    assert ids(deploy_checks.check_cors()) == ["taskhub.E110"]


def test_cors_regex_matching_every_origin_is_refused(settings):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://.*$"]
    assert ids(deploy_checks.check_cors()) == ["taskhub.E110"]


def test_cors_regex_for_own_subdomains_passes(settings):
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://\w+\.example\.com$"]
    assert deploy_checks.check_cors() == []


@pytest.mark.parametrize("origin", ["https://127.0.0.1:8443", "https://[::1]", "https://app.localhost"])
def test_local_cors_origins_are_refused(origin):
    assert ids(deploy_checks.origin_errors([origin])) == ["taskhub.E112"]


def postgresql(host: str, **options: str) -> dict[str, dict[str, object]]:
    return {"default": {"ENGINE": "django.db.backends.postgresql", "HOST": host, "OPTIONS": options}}


@pytest.mark.parametrize("host", ["", "localhost", "127.0.0.1", "::1", "/var/run/postgresql"])
def test_local_database_needs_no_sslmode(host):
    assert deploy_checks.database_errors(postgresql(host)) == []


@pytest.mark.parametrize("sslmode", ["require", "verify-ca", "verify-full"])
def test_remote_database_with_required_tls_passes(sslmode):
    assert deploy_checks.database_errors(postgresql("db.example.com", sslmode=sslmode)) == []


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer"])
def test_remote_database_with_optional_tls_is_refused(sslmode):
    assert ids(deploy_checks.database_errors(postgresql("db.example.com", sslmode=sslmode))) == ["taskhub.E114"]


def test_sqlite_default_database_is_refused():
    databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
    assert ids(deploy_checks.database_errors(databases)) == ["taskhub.E113"]


def test_redis_cache_passes(settings):
    settings.USES_REDIS = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://"}}
    assert deploy_checks.check_cache_backend() == []


def test_in_process_cache_is_refused(settings):
    settings.USES_REDIS = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert ids(deploy_checks.check_cache_backend()) == ["taskhub.E115"]


@pytest.mark.parametrize("name", ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY"])
def test_insecure_cookie_setting_is_refused(settings, name):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_HTTPONLY = True
    setattr(settings, name, False)
    errors = deploy_checks.check_cookies()
    assert ids(errors) == ["taskhub.E117"]
    assert name in str(errors[0].msg)


def test_hsts_of_a_year_passes(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    assert deploy_checks.check_hsts() == []


def test_token_lifetimes_at_the_limits_pass(settings):
    settings.SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(minutes=15), "REFRESH_TOKEN_LIFETIME": timedelta(days=7)}
    assert deploy_checks.check_token_lifetimes() == []


def test_every_check_id_is_unique_and_documented():
    check_ids = [check_id for item in deploy_checks.CHECKLIST for check_id in item.ids]
    assert len(check_ids) == len(set(check_ids))
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert [check_id for check_id in check_ids if f"`{check_id}`" not in operations] == []


@pytest.mark.parametrize(
    ("site_url", "frontend_url"),
    [
        ("https://api.example.com", ""),
        ("https://api.example.com", "https://app.example.com"),
        ("https://api.example.com:8443/", "https://app.example.com/base"),
    ],
)
def test_https_link_bases_pass(settings, site_url, frontend_url):
    settings.SITE_URL, settings.FRONTEND_URL = site_url, frontend_url
    assert deploy_checks.check_link_urls() == []


@pytest.mark.parametrize(
    ("site_url", "frontend_url", "named"),
    [
        ("http://api.example.com", "", "SITE_URL is not an https:// URL"),
        ("api.example.com", "", "SITE_URL is not an https:// URL"),
        ("", "", "SITE_URL is not an https:// URL"),
        ("https://", "", "SITE_URL is not an https:// URL"),
        ("https://127.0.0.1:8000", "", "SITE_URL names a local host"),
        ("https://api.example.com", "http://app.example.com", "FRONTEND_URL is not an https:// URL"),
        ("https://api.example.com", "https://localhost:3000", "FRONTEND_URL names a local host"),
        ("https://api.example.com", "https://app.localhost", "FRONTEND_URL names a local host"),
    ],
)
def test_plain_http_or_local_link_bases_are_refused(settings, site_url, frontend_url, named):
    settings.SITE_URL, settings.FRONTEND_URL = site_url, frontend_url
    errors = deploy_checks.check_link_urls()
    assert ids(errors) == ["taskhub.E121"]
    assert named in str(errors[0].msg)
    assert errors[0].hint


def test_both_link_bases_are_reported_when_both_are_wrong(settings):
    settings.SITE_URL, settings.FRONTEND_URL = "http://api.example.com", "http://app.example.com"
    messages = [str(error.msg) for error in deploy_checks.check_link_urls()]
    assert [message.split(" ", 1)[0] for message in messages] == ["SITE_URL", "FRONTEND_URL"]
