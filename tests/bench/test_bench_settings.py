"""scripts/bench/settings.py: BENCH_WITHOUT_MIDDLEWARE leaves out the middleware it names, and only those."""

import subprocess
import sys

from tests.support.servers import REPO, child_environment, fresh_process_json

MIDDLEWARE = "import json; from django.conf import settings; print(json.dumps({'middleware': settings.MIDDLEWARE}))"
CSRF = "django.middleware.csrf.CsrfViewMiddleware"
LOG = "taskhub.core.observability.RequestLogMiddleware"


def _middleware(without: str) -> list[str]:
    probe = fresh_process_json(
        MIDDLEWARE, settings_module="scripts.bench.settings", environment={"BENCH_WITHOUT_MIDDLEWARE": without}
    )
    return list(probe["middleware"])


def test_the_named_middleware_are_left_out_and_the_rest_keep_their_order():
    production = fresh_process_json(MIDDLEWARE, settings_module="config.settings.production")["middleware"]

    assert _middleware("") == production
    assert _middleware(f"{CSRF}, {LOG}") == [name for name in production if name not in (CSRF, LOG)]


def test_a_name_not_in_middleware_is_refused():
    environment = child_environment(
        DJANGO_SETTINGS_MODULE="scripts.bench.settings",
        SECRET_KEY="x" * 50,
        JWT_SIGNING_KEY="y" * 50,
        ALLOWED_HOSTS="api.example.com",
        SQLITE_PATH="/dev/null",
        BENCH_WITHOUT_MIDDLEWARE="django.middleware.csrf.CsrfMiddleware",
    )
    command = [sys.executable, "-c", MIDDLEWARE]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO, timeout=60, check=False)

    assert result.returncode != 0
    assert "BENCH_WITHOUT_MIDDLEWARE names django.middleware.csrf.CsrfMiddleware, not in MIDDLEWARE" in result.stderr
