"""The deployment files: read and checked here, since CI machines have no Docker engine.

The Dockerfile and docker-compose.yml are parsed, not built; what the image and the platforms
run is compared with what CI runs natively, so the two cannot drift apart. ``wait_for_db``
(the container entrypoint's first step) runs against the test database and an unreachable one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
PROCFILE = ROOT / "Procfile"
UNIT = ROOT / "deploy" / "systemd" / "taskhub.service"
WORKER_UNIT = ROOT / "deploy" / "systemd" / "taskhub-worker.service"
# THE way to start the app, everywhere: image, Heroku, systemd.
GUNICORN_ARGS = ["config.wsgi:application", "-c", "deploy/gunicorn.conf.py"]
MIGRATE = ["manage.py", "migrate", "--noinput"]
# THE way to run the job queue's worker, everywhere: make, Heroku, compose, systemd.
WORKER = ["manage.py", "worker"]
# SIGTERM lets a worker finish its running jobs, with no limit of its own: give it this long at least.
WORKER_STOP_SECONDS = 300
COLLECTSTATIC = ["manage.py", "collectstatic", "--noinput"]
SECRET_NAMES = re.compile(r"(SECRET|PASSWORD|_KEY$|TOKEN|DSN|AUTH)", re.IGNORECASE)
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


# ---- Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"not the exec (JSON) form: {arguments}"
    return [str(item) for item in value]


def test_dockerfile_is_multi_stage_on_python_311_slim():
    froms = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2, froms
    assert froms[-1].split()[0] == "python:3.11-slim", froms[-1]
    # The runtime stage copies the builder's virtualenv instead of installing anything itself.
    runtime = dockerfile_instructions()
    last_from = max(index for index, (keyword, _) in enumerate(runtime) if keyword == "FROM")
    copies = [arguments for keyword, arguments in runtime[last_from:] if keyword == "COPY"]
    assert any(arguments.startswith("--from=builder /opt/venv") for arguments in copies), copies
    assert not any("pip install" in arguments for keyword, arguments in runtime[last_from:] if keyword == "RUN")


def test_dockerfile_runs_as_a_non_root_user_before_its_command():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    users = [(index, arguments) for index, (keyword, arguments) in enumerate(instructions) if keyword == "USER"]
    assert users, "no USER: the app would run as root"
    index, user = users[-1]
    assert index < keywords.index("CMD")
    assert user.split(":")[0] not in {"root", "0"}, user
    assert user.split(":")[0] in {"10001", "taskhub"}, user
    assert "--uid 10001" in " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")


@pytest.mark.parametrize("path", [DOCKERFILE, ENTRYPOINT, COMPOSE], ids=lambda path: path.name)
def test_nothing_is_made_world_writable(path: Path):
    text = " ".join(path.read_text().split())
    assert not re.search(r"chmod\s+(-\w+\s+)*(0?777|a\+w|o\+w)", text), path


def test_dockerfile_healthcheck_gets_health_with_the_standard_library():
    checks = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, checks
    command = exec_form(checks[0].split(" CMD ", 1)[1])
    assert command[:2] == ["python", "deploy/docker/healthcheck.py"], command
    assert command[2] == "http://127.0.0.1:8000/health/", command
    assert "urllib.request" in HEALTHCHECK.read_text()
    assert ("EXPOSE", "8000") in dockerfile_instructions()


def test_dockerfile_collects_static_files_at_build_with_throwaway_values_only_there():
    instructions = dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    collect = [arguments for arguments in runs if "collectstatic" in arguments]
    assert len(collect) == 1, collect
    words = shlex.split(collect[0])
    assert words[words.index("manage.py") - 1 : words.index("manage.py") + 3] == ["python", *COLLECTSTATIC]
    # The build-only values live in that RUN's environment and say what they are.
    assignments = dict(word.split("=", 1) for word in words if re.fullmatch(r"[A-Z_]+=.*", word))
    assert {"SECRET_KEY", "JWT_SIGNING_KEY"} <= assignments.keys()
    assert all("build-only" in assignments[name] for name in ("SECRET_KEY", "JWT_SIGNING_KEY"))
    for keyword, arguments in instructions:
        if keyword in {"ENV", "ARG", "LABEL"}:
            for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)[= ]([^\s]*)", arguments):
                assert not (SECRET_NAMES.search(name) and value), f"{keyword} {arguments}: a secret in the image"


def test_dockerfile_entrypoint_waits_for_the_database_and_execs_the_command():
    instructions = dockerfile_instructions()
    entrypoints = [exec_form(arguments) for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints == [["deploy/docker/entrypoint.sh"]]
    assert ("WORKDIR", "/app") in instructions
    script = ENTRYPOINT.read_text()
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert lines[0] == "set -eu"
    assert lines[-1] == 'exec "$@"'
    assert "python manage.py wait_for_db --timeout" in script
    assert f"python {' '.join(MIGRATE)}" in script
    assert 'if [ "${RUN_MIGRATIONS:-0}" = "1" ]' in script
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)  # noqa: S607


def test_entrypoint_is_executable_in_git_and_on_disk():
    assert os.access(ENTRYPOINT, os.X_OK)
    try:
        staged = subprocess.run(
            ["git", "ls-files", "-s", "--", "deploy/docker/entrypoint.sh"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if not staged:
        pytest.skip("entrypoint.sh is not committed yet")
    assert staged.split()[0] == "100755", staged


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "db.sqlite3", ".env", "staticfiles", "**/__pycache__", ".local-secret-key"} <= ignored


# ---- one command to start the app, everywhere ----------------------------------------------


def procfile() -> dict[str, str]:
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def unit_values(key: str, unit: Path = UNIT) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith(f"{key}=")]


def gunicorn_arguments(words: list[str]) -> list[str]:
    position = next(index for index, word in enumerate(words) if Path(word).name == "gunicorn")
    return words[position + 1 :]


def test_the_image_heroku_and_systemd_start_the_app_the_same_way():
    commands = [exec_form(arguments) for keyword, arguments in dockerfile_instructions() if keyword == "CMD"]
    assert commands == [["gunicorn", *GUNICORN_ARGS]]
    assert gunicorn_arguments(shlex.split(procfile()["web"])) == GUNICORN_ARGS
    (exec_start,) = unit_values("ExecStart")
    assert gunicorn_arguments(shlex.split(exec_start)) == GUNICORN_ARGS
    assert (ROOT / "deploy" / "gunicorn.conf.py").is_file()


def test_migrate_and_collectstatic_are_the_commands_ci_runs():
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"manage.py {' '.join(MIGRATE[1:])}" in makefile
    assert f"manage.py {' '.join(MIGRATE[1:])}" in ci
    release = [part.strip() for part in procfile()["release"].split("&&")]
    assert release == [f"python {' '.join(MIGRATE)}", "python manage.py check --deploy"]
    # CI collects static files with the same arguments (the production headers test).
    collected_in_ci = any(
        '"manage.py", "collectstatic", "--noinput"' in path.read_text()
        for path in (ROOT / "taskhub" / "core" / "tests").glob("*.py")
        if path.name != Path(__file__).name
    )
    assert collected_in_ci


def test_systemd_unit_is_hardened_and_reads_its_environment_file():
    values = {key: unit_values(key) for key in ("User", "EnvironmentFile", "Restart", "RuntimeDirectory")}
    assert values == {
        "User": ["taskhub"],
        "EnvironmentFile": ["/etc/taskhub/taskhub.env"],
        "Restart": ["on-failure"],
        "RuntimeDirectory": ["taskhub"],
    }
    for setting in ("NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true", "ReadWritePaths=/run/taskhub"):
        assert setting in UNIT.read_text().splitlines(), setting
    assert "Environment=PROMETHEUS_MULTIPROC_DIR=/run/taskhub/metrics" in UNIT.read_text()
    (exec_start,) = unit_values("ExecStart")
    assert exec_start.startswith("/srv/taskhub/app/.venv/bin/gunicorn ")


def hardening(unit: Path) -> set[str]:
    """The settings below a unit's "# Hardening" comment, except the paths it may write."""
    section = unit.read_text().split("# Hardening", 1)[1].split("\n[", 1)[0]
    return {line for line in section.splitlines()[1:] if "=" in line and not line.startswith(("#", "ReadWritePaths="))}


def make_dry_run(target: str) -> list[list[str]]:
    """The commands ``make -n target`` prints, each split into words."""
    try:
        result = subprocess.run(
            ["make", "-n", target],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except FileNotFoundError:
        pytest.skip("no make on this machine")
    return [shlex.split(line) for line in result.stdout.splitlines() if line.strip()]


def after_python(words: list[str]) -> list[str]:
    """The arguments after the Python interpreter (``python``, ``.venv/bin/python``...)."""
    position = next(index for index, word in enumerate(words) if re.fullmatch(r"python3?", Path(word).name))
    return words[position + 1 :]


def test_make_runs_the_worker_with_the_python_and_settings_of_make_run():
    (worker,) = [words for words in make_dry_run("worker") if "manage.py" in words]
    assert after_python(worker) == WORKER, worker
    (runserver,) = [words for words in make_dry_run("run") if "runserver" in words]
    # The same interpreter, and no settings module of its own: both take manage.py's default.
    assert worker[: worker.index("manage.py")] == runserver[: runserver.index("manage.py")]
    assert not [word for word in worker if "DJANGO_SETTINGS_MODULE" in word or word.startswith("--settings")]


def test_heroku_compose_and_systemd_run_the_worker_the_same_way(compose: dict[str, Any]):
    assert after_python(shlex.split(procfile()["worker"])) == WORKER
    assert after_python(compose["services"]["worker"]["command"]) == WORKER
    (exec_start,) = unit_values("ExecStart", WORKER_UNIT)
    assert after_python(shlex.split(exec_start)) == WORKER
    assert exec_start.startswith("/srv/taskhub/app/.venv/bin/python ")
    formation = json.loads((ROOT / "app.json").read_text())["formation"]
    assert set(formation) == {"web", "worker"}
    assert formation["worker"]["quantity"] >= 1


def test_systemd_worker_unit_is_the_apps_unit_with_the_workers_command_and_stop():
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile", "ExecStartPre"):
        assert unit_values(key, WORKER_UNIT) == unit_values(key), key
    settings_module = "DJANGO_SETTINGS_MODULE=config.settings.production"
    assert settings_module in unit_values("Environment", WORKER_UNIT)
    assert settings_module in unit_values("Environment")
    assert hardening(WORKER_UNIT) == hardening(UNIT)
    assert {"NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true"} <= hardening(WORKER_UNIT)
    assert unit_values("KillSignal", WORKER_UNIT) == ["SIGTERM"]
    (timeout,) = unit_values("TimeoutStopSec", WORKER_UNIT)
    assert int(timeout) >= WORKER_STOP_SECONDS, timeout
    assert unit_values("Restart", WORKER_UNIT) == ["always"]
    assert unit_values("WantedBy", WORKER_UNIT) == unit_values("WantedBy")


def test_systemd_app_and_worker_share_the_exports_directory():
    # The worker writes an organization's export, the app serves it: one directory for both,
    # made by systemd for the taskhub user and writable under ProtectSystem=strict.
    for unit in (UNIT, WORKER_UNIT):
        assert unit_values("StateDirectory", unit) == ["taskhub/exports"], unit.name
        assert "EXPORTS_DIR=/var/lib/taskhub/exports" in unit_values("Environment", unit), unit.name


def test_python_version_is_the_same_everywhere():
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (ROOT / ".python-version").read_text().strip() == version
    assert re.fullmatch(rf"python-{re.escape(version)}\.\d+", (ROOT / "runtime.txt").read_text().strip())
    froms = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert all(arguments.startswith(f"python:{version}-") for arguments in froms), froms


# ---- docker-compose.yml ------------------------------------------------------------------------


def _scalar(text: str) -> Any:
    if text.startswith(("[", '"')):
        return json.loads(text)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in {"true", "false"}:
        return text == "true"
    return None if text in {"", "null", "~"} else text


def _block(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[Any, int]:
    """Parse the block at ``indent`` from ``start``: a mapping, or a list of scalars."""
    if lines[start][1].startswith("- "):
        items = []
        index = start
        while index < len(lines) and lines[index][0] == indent and lines[index][1].startswith("- "):
            items.append(_scalar(lines[index][1][2:].strip()))
            index += 1
        return items, index
    mapping: dict[str, Any] = {}
    index = start
    while index < len(lines) and lines[index][0] == indent:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+):(?:\s+(.*))?", lines[index][1])
        assert match, f"unsupported YAML: {lines[index][1]!r}"
        key, value = match.group(1), match.group(2)
        index += 1
        if value is not None:
            mapping[key] = _scalar(value.strip())
        elif index < len(lines) and lines[index][0] > indent:
            mapping[key], index = _block(lines, index, lines[index][0])
        else:
            mapping[key] = None
    return mapping, index


def mini_yaml(text: str) -> Any:
    """Parse the YAML subset docker-compose.yml keeps to (block mappings, scalar lists, JSON
    flow lists and strings), so these checks need no YAML library in the test environment."""
    lines = [
        (len(raw) - len(raw.lstrip(" ")), raw.strip())
        for raw in text.splitlines()
        if raw.strip() and not raw.strip().startswith("#")
    ]
    value, end = _block(lines, 0, 0)
    assert end == len(lines), f"unparsed YAML from {lines[end][1]!r}"
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = COMPOSE.read_text()
    parsed = mini_yaml(text)
    try:
        import yaml  # noqa: PLC0415 - optional: not in requirements-dev.txt
    except ImportError:
        return parsed
    assert yaml.safe_load(text) == parsed, "docker-compose.yml left the subset mini_yaml reads"
    return parsed


def test_compose_has_the_seven_services(compose: dict[str, Any]):
    # db-init and migrate are one-shots (test_compose_roles.py); their healthcheck is disabled.
    assert set(compose["services"]) == {"db", "db-init", "migrate", "redis", "api", "worker", "nginx"}
    for name, service in compose["services"].items():
        assert service.get("healthcheck") or name == "nginx", f"{name} has no healthcheck"


def test_compose_database_is_postgres_15_on_a_named_volume(compose: dict[str, Any]):
    db = compose["services"]["db"]
    assert db["image"] == "postgres:15"
    named = [volume.split(":")[0] for volume in db["volumes"] if not volume.startswith((".", "/", "$"))]
    assert named, db["volumes"]
    assert set(named) <= set(compose["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${DB_ADMIN_PASSWORD")
    assert compose["services"]["redis"]["image"] == "redis:7"


def test_compose_api_starts_after_healthy_db_and_redis_and_the_migrations(compose: dict[str, Any]):
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert api["env_file"] == ".env"
    assert api["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert "/health/" in " ".join(api["healthcheck"]["test"])
    # The image's own entrypoint and command run, as on every other platform.
    assert "command" not in api
    assert "entrypoint" not in api


def seconds(duration: str) -> float:
    """A compose duration (``300s``, ``5m``, ``1m30s``, ``1h``) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts, duration
    assert "".join(number + unit for number, unit in parts) == duration, duration
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def test_compose_worker_is_the_api_image_after_the_migrations_with_time_to_finish_its_jobs(
    compose: dict[str, Any],
):
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    for key in ("build", "image", "env_file", "depends_on", "restart"):
        assert worker[key] == api[key], key
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert seconds(worker["stop_grace_period"]) >= WORKER_STOP_SECONDS
    assert "entrypoint" not in worker
    assert not worker.get("ports")
    # Its health check is the queue's own status command (exit 0: the database answers as the
    # app role and the queue's tables are readable).
    assert worker["healthcheck"]["test"] == ["CMD", "python", "manage.py", "jobs", "status"]
    assert seconds(worker["healthcheck"]["interval"]) >= 30
    assert seconds("5m") == seconds("300s") == 300


def test_compose_api_and_worker_share_the_exports_volume_the_image_prepares(compose: dict[str, Any]):
    mounts = {}
    for name in ("api", "worker"):
        service = compose["services"][name]
        directory = service["environment"]["EXPORTS_DIR"]
        (volume,) = [mount.split(":")[0] for mount in service["volumes"] if mount.split(":")[1] == directory]
        assert ":ro" not in " ".join(service["volumes"]), name
        mounts[name] = (volume, directory)
    assert mounts["api"] == mounts["worker"], mounts
    volume, directory = mounts["api"]
    assert volume in compose["volumes"]
    # A new named volume takes the owner of the image's directory: the app user's, so it can write.
    runs = " ".join(arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN")
    assert re.search(rf"install -d -o taskhub -g taskhub -m 07[0-5]0 {re.escape(directory)}(\s|$)", runs), runs


def test_compose_publishes_only_nginx_on_80_and_443(compose: dict[str, Any]):
    for name, service in compose["services"].items():
        ports = [str(port) for port in service.get("ports", [])]
        if name == "nginx":
            assert sorted(ports) == ["443:443", "80:80"]
        else:
            assert all(port.startswith("127.0.0.1:") for port in ports), f"{name} publishes {ports}"
    nginx = compose["services"]["nginx"]
    assert nginx["image"] == "nginx:1.27"
    mounts = " ".join(nginx["volumes"])
    assert "./deploy/nginx/" in mounts
    assert "static:" in mounts
    assert "static" in compose["volumes"]


def test_compose_nginx_renders_deploy_nginx_with_every_variable_it_needs(compose: dict[str, Any]):
    nginx = compose["services"]["nginx"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in nginx["volumes"]}
    template = "./deploy/nginx/taskhub.conf"
    assert mounts.get(template) == "/etc/nginx/templates/taskhub.conf.template", mounts
    assert (
        mounts.get("./deploy/nginx/taskhub-proxy.conf")
        == f"{nginx['environment']['TASKHUB_CONF_DIR']}/taskhub-proxy.conf"
    )
    for source in mounts:
        assert not source.startswith("./") or (ROOT / source).is_file(), f"{source} does not exist"
    code = [line for line in (ROOT / template).read_text().splitlines() if not line.lstrip().startswith("#")]
    needed = set(re.findall(r"\$\{(TASKHUB_[A-Z_]+)\}", "\n".join(code)))
    assert needed, "the nginx template names no TASKHUB_* variable"
    assert needed <= set(nginx["environment"]), needed - set(nginx["environment"])
    assert nginx["environment"]["NGINX_ENVSUBST_FILTER"] == "^TASKHUB_"
    assert nginx["environment"]["TASKHUB_STATIC_ROOT"] in " ".join(nginx["volumes"])
    assert nginx["environment"]["TASKHUB_UPSTREAM_SERVERS"] == "server api:8000;"


def test_compose_has_no_literal_secrets(compose: dict[str, Any]):
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            text = "" if value is None else str(value)
            # A secret's value is ${...} from .env, the path of a file holding it, or emptied
            # (a service that must not have a secret .env holds).
            if SECRET_NAMES.search(key) and text and not text.startswith("/"):
                assert re.fullmatch(r"\$\{[A-Z_]+(:?[-?][^}]*)?\}", text), f"{name}.{key}={text!r} is not ${{...}}"
            # Credentials inside URLs come from the environment too.
            for credential in re.findall(r"://([^@/]*)@", text):
                assert "${" in credential, f"{name}.{key} has literal credentials"


# ---- the container health check ------------------------------------------------------------


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[str]]]:
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers.get("Host", ""))
            self.send_response(200 if self.path == "/health/" else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hosts
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ} | env
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), url], env=variables, capture_output=True, text=True, timeout=30, check=False
    )


def test_healthcheck_names_an_allowed_host_and_needs_a_200(health_server: tuple[str, list[str]]):
    base, hosts = health_server
    assert run_healthcheck(f"{base}/health/", ALLOWED_HOSTS="api.example.com,.example.org").returncode == 0
    assert hosts == ["api.example.com"]
    assert run_healthcheck(f"{base}/health/live/other").returncode == 1
    assert run_healthcheck(f"http://127.0.0.1:{closed_port()}/health/").returncode == 1


# ---- wait_for_db --------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.django_db
def test_wait_for_db_returns_at_once_when_the_database_answers():
    out = StringIO()
    started = time.monotonic()
    call_command("wait_for_db", "--timeout", "2", stdout=out)
    assert time.monotonic() - started < 2
    assert "Database available after 1 attempt(s)" in out.getvalue()


def test_wait_for_db_gives_up_after_its_timeout_when_the_database_is_unreachable():
    variables = {name: os.environ[name] for name in PASSTHROUGH if name in os.environ}
    variables |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(closed_port()),
        "DB_NAME": "x",
        "DB_USER": "x",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "wait_for_db", "--timeout", "2", "--interval", "0.5"],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "unavailable after" in result.stderr
    assert "retrying" in result.stderr
    assert 2 <= elapsed < 10, elapsed
