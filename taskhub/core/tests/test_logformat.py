"""The development console: short human lines (local settings), marked emails; JSON stays the default."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage

from taskhub.core.logformat import ConsoleEmailBackend, HumanFormatter, JsonFormatter

ROOT = Path(__file__).resolve().parents[3]
HUMAN_LINE = re.compile(r"^\d\d:\d\d:\d\d INFO taskhub\.access GET /api/v1/projects/ 200 12ms$")


def access_record() -> logging.LogRecord:
    record = logging.LogRecord(
        "taskhub.access", logging.INFO, __file__, 1, "%s %s %s", ("GET", "/api/v1/projects/", 200), None
    )
    record.duration_ms = 12.34
    record.request_id = "req-12345678"
    record.sql_count = 3
    return record


def error_record(name: str) -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, "it failed", (), exc_info)


def test_human_formatter_renders_an_access_record_as_one_short_line():
    line = HumanFormatter().format(access_record())
    assert HUMAN_LINE.match(line), line
    assert "\n" not in line


def test_human_formatter_shows_sub_10ms_durations_with_a_decimal():
    record = access_record()
    record.duration_ms = 0.74
    assert HumanFormatter().format(record).endswith(" 200 0.7ms")


def test_human_formatter_keeps_tracebacks_of_errors():
    text = HumanFormatter().format(error_record("django.request"))
    assert text.splitlines()[0].endswith("ERROR django.request it failed")
    assert "Traceback" in text
    assert "ValueError: boom" in text


def test_human_formatter_drops_the_traceback_of_a_security_refusal_only_for_itself():
    record = error_record("django.security.DisallowedHost")
    assert HumanFormatter().format(record).endswith("ERROR django.security.DisallowedHost it failed")
    # Another handler (Sentry, a JSON file) still gets the traceback.
    assert record.exc_info is not None
    assert "ValueError: boom" in JsonFormatter().format(record)


def test_json_stays_the_default_of_the_base_settings():
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert set(settings.LOGGING["formatters"]) == {"json"}


def run_under_local_settings(code: str, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "DATABASE_", "REDIS_", "JWT_", "DJANGO_", "LOG_", "SQLITE_"))
    }
    environment.pop("DEBUG", None)
    # A key of its own, so the checkout's .local-secret-key is neither read nor written.
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings.local", SECRET_KEY="k" * 64, TASKHUB_ENV_FILE="", **variables
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


LOG_SOME_LINES = """
    import logging
    import django

    django.setup()
    logging.getLogger("taskhub.core.rls").info("platform access (row-level security bypassed): seed_demo")
    logging.getLogger("django.request").warning("Unauthorized: /api/v1/projects/")
    logging.getLogger("taskhub.access").info(
        "%s %s %s", "GET", "/api/v1/projects/", 200, extra={"duration_ms": 12.3, "sql_count": 3}
    )
"""


def test_local_settings_print_one_human_line_and_no_chatter():
    result = run_under_local_settings(LOG_SOME_LINES)
    assert result.returncode == 0, result.stderr
    # The RLS bypass line on SQLite (nothing is bypassed there) and Django's 4xx WARNING (the
    # access line has the status) are not printed.
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert HUMAN_LINE.match(result.stdout.strip()), result.stdout


def test_local_settings_keep_json_on_request():
    result = run_under_local_settings(LOG_SOME_LINES, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip())
    assert line["message"] == "GET /api/v1/projects/ 200"
    assert line["duration_ms"] == 12.3


def test_local_settings_refuse_an_unknown_log_format():
    result = run_under_local_settings("import django; django.setup()", LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'human' or 'json'" in result.stderr


def test_local_logging_config_quiets_chatter_and_sets_the_human_formatter():
    code = """
        import json
        from django.conf import settings

        logging = settings.LOGGING
        print(json.dumps({
            "formatter": logging["handlers"]["console"]["formatter"],
            "human": logging["formatters"]["human"],
            "loggers": logging["loggers"],
            "email": settings.EMAIL_BACKEND,
        }))
    """
    result = run_under_local_settings(code)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["formatter"] == "human"
    assert config["human"] == {"()": "taskhub.core.logformat.HumanFormatter"}
    assert config["loggers"]["taskhub.core.rls"] == {"level": "WARNING"}
    assert config["email"] == "taskhub.core.logformat.ConsoleEmailBackend"


def test_console_email_backend_prints_each_email_in_a_marked_block():
    stream = io.StringIO()
    message = EmailMessage("You're invited", "Paste this token: tok-123", "from@example.com", ["charles@example.com"])
    sent = ConsoleEmailBackend(stream=stream).send_messages([message])

    assert sent == 1
    lines = stream.getvalue().splitlines()
    bar = "=" * 79
    assert lines[0] == bar
    assert lines[1].startswith("EMAIL to charles@example.com")
    assert lines[2] == bar
    assert "Subject: You're invited" in lines
    assert "Paste this token: tok-123" in lines
    assert lines[-1] == bar
