"""taskhub/core/env.py's .env file: values the real environment does not set, never over it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskhub.core import env

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def env_file(tmp_path, monkeypatch):
    """Write a .env file, point TASKHUB_ENV_FILE at it and load it as taskhub/core/env.py does at import."""

    def write(text: str) -> Path:
        path = tmp_path / ".env"
        path.write_text(text)
        monkeypatch.setenv(env.ENV_FILE_VARIABLE, str(path))
        monkeypatch.setattr(env, "_env_file", env.read_env_file())
        return path

    return write


def test_values_come_from_the_env_file(env_file, monkeypatch):
    monkeypatch.delenv("TASKHUB_EXAMPLE", raising=False)
    monkeypatch.delenv("TASKHUB_EXAMPLE_COUNT", raising=False)
    env_file("TASKHUB_EXAMPLE=from-the-file\nTASKHUB_EXAMPLE_COUNT=7\n")
    assert env.string("TASKHUB_EXAMPLE") == "from-the-file"
    assert env.integer("TASKHUB_EXAMPLE_COUNT", 1) == 7
    assert env.is_set("TASKHUB_EXAMPLE")


def test_a_real_environment_variable_wins_over_the_file(env_file, monkeypatch):
    env_file("TASKHUB_EXAMPLE=from-the-file\n")
    monkeypatch.setenv("TASKHUB_EXAMPLE", "from-the-environment")
    assert env.string("TASKHUB_EXAMPLE") == "from-the-environment"
    # Set, even empty, is the environment's word: the file does not fill it in.
    monkeypatch.setenv("TASKHUB_EXAMPLE", "")
    assert env.string("TASKHUB_EXAMPLE", "default") == "default"


def test_a_secret_file_in_the_environment_wins_over_a_value_in_the_file(env_file, monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-the-secret-file\n")
    env_file("TASKHUB_EXAMPLE=from-the-file\n")
    monkeypatch.delenv("TASKHUB_EXAMPLE", raising=False)
    monkeypatch.setenv("TASKHUB_EXAMPLE_FILE", str(secret))
    assert env.string("TASKHUB_EXAMPLE") == "from-the-secret-file"


def test_name_file_works_in_the_env_file(env_file, monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.delenv("TASKHUB_EXAMPLE", raising=False)
    monkeypatch.delenv("TASKHUB_EXAMPLE_FILE", raising=False)
    env_file(f"TASKHUB_EXAMPLE_FILE={secret}\n")
    assert env.string("TASKHUB_EXAMPLE") == "s3cret"
    env_file(f"TASKHUB_EXAMPLE=plain\nTASKHUB_EXAMPLE_FILE={secret}\n")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.string("TASKHUB_EXAMPLE")


def test_comments_blank_lines_export_and_quotes_parse():
    text = """
# a comment
   # an indented comment

export EXPORTED=yes
PLAIN = spaced out   # a trailing comment
HASH_INSIDE=pass#word
EMPTY=
SINGLE='kept $literally # and \\n'
DOUBLE="line one\\nline \\"two\\" # not a comment"  # a comment
EQUALS=a=b=c
export	TABBED=tab
"""
    assert env.parse_env_file(text) == {
        "EXPORTED": "yes",
        "PLAIN": "spaced out",
        "HASH_INSIDE": "pass#word",
        "EMPTY": "",
        "SINGLE": "kept $literally # and \\n",
        "DOUBLE": 'line one\nline "two" # not a comment',
        "EQUALS": "a=b=c",
        "TABBED": "tab",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("NO_EQUALS_SIGN", "line 2: expected NAME=value"),
        ("1BAD=x", "line 2: expected NAME=value"),
        ("OPEN='never closed", r"line 2 \(OPEN\): no closing '"),
        ('TRAILING="x" y', r"line 2 \(TRAILING\): unexpected text"),
    ],
)
def test_a_malformed_line_is_refused_with_its_line_number(line, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env.parse_env_file(f"OK=1\n{line}\n", source=".env")


def test_the_file_is_the_projects_dotenv_outside_pytest_and_explicit_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv(env.ENV_FILE_VARIABLE, raising=False)
    monkeypatch.delenv("PYTEST_VERSION", raising=False)
    monkeypatch.setattr(env, "DEFAULT_ENV_FILE", tmp_path / ".env")
    assert env.env_file_path() is None  # no file: nothing to read
    (tmp_path / ".env").write_text("X=1\n")
    assert env.env_file_path() == tmp_path / ".env"
    # Under pytest the project's file is left alone; an explicit one is still read.
    monkeypatch.setenv("PYTEST_VERSION", "9")
    assert env.env_file_path() is None
    other = tmp_path / "other.env"
    other.write_text("X=2\n")
    monkeypatch.setenv(env.ENV_FILE_VARIABLE, str(other))
    assert env.env_file_path() == other
    # Pointing nowhere, or empty: no file.
    monkeypatch.setenv(env.ENV_FILE_VARIABLE, str(tmp_path / "missing.env"))
    assert env.env_file_path() is None
    monkeypatch.setenv(env.ENV_FILE_VARIABLE, "")
    assert env.env_file_path() is None


def test_the_default_file_is_dot_env_in_the_project_root():
    assert env.DEFAULT_ENV_FILE == ROOT / ".env"


def test_dot_env_is_never_committed_nor_copied_into_the_image():
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()


def test_settings_read_the_env_file_at_startup_under_the_real_environment(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# local overrides\n"
        'export FRONTEND_URL="https://app.from-dotenv.example.com"\n'
        "INVITATION_LIFETIME_DAYS=3\n"
        "INVITATIONS_PER_HOUR=1\n"
    )
    variables = {
        k: v
        for k, v in os.environ.items()
        if k not in {"FRONTEND_URL", "INVITATION_LIFETIME_DAYS"} and "_FILE" not in k
    }
    variables.update(
        TASKHUB_ENV_FILE=str(dotenv), DJANGO_SETTINGS_MODULE="config.settings.test", INVITATIONS_PER_HOUR="9"
    )
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.FRONTEND_URL, s.INVITATION_LIFETIME_DAYS, s.INVITATIONS_PER_HOUR)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=variables, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "https://app.from-dotenv.example.com 3 9"
