""".github/workflows/ci.yml: GitHub runs .ci/run, the same script as CI, against PostgreSQL 15 and Redis 7."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def job(workflow) -> dict[str, Any]:
    jobs = workflow["jobs"]
    assert len(jobs) == 1, f"one job, as .ci/run is one run: {sorted(jobs)}"
    return next(iter(jobs.values()))


def options(service: dict[str, Any]) -> dict[str, str]:
    """Docker options of a service container: ``--name value`` pairs, values unquoted."""
    pairs = re.findall(r'--([\w-]+)[ =]("[^"]*"|\S+)', service.get("options", ""))
    return {name: value.strip('"') for name, value in pairs}


def test_it_runs_on_every_push_and_pull_request(workflow):
    # YAML 1.1 reads a bare "on" key as True.
    triggers = workflow.get("on", workflow.get(True))
    names = set(triggers) if isinstance(triggers, dict | list) else {triggers}
    assert {"push", "pull_request"} <= names


def test_postgresql_15_with_trust_authentication_on_the_port_ci_run_uses(job):
    postgres = job["services"]["postgres"]
    assert postgres["image"] in {"postgres:15", "postgres:15-bookworm", "postgres:15-alpine"}
    # .ci/run connects as postgres without a password (psql -U postgres, DATABASE_ADMIN_URL).
    assert postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert postgres["env"].get("POSTGRES_USER", "postgres") == "postgres"
    assert "5432:5432" in postgres["ports"]
    health = options(postgres)
    assert health["health-cmd"].startswith("pg_isready")
    assert {"health-interval", "health-timeout", "health-retries"} <= set(health)


def test_redis_7_on_the_port_ci_run_uses(job):
    redis = job["services"]["redis"]
    assert redis["image"] in {"redis:7", "redis:7-bookworm", "redis:7-alpine"}
    assert "6379:6379" in redis["ports"]
    health = options(redis)
    assert health["health-cmd"] == "redis-cli ping"
    assert {"health-interval", "health-timeout", "health-retries"} <= set(health)


def test_the_job_runs_ci_run_itself_and_nothing_else(job):
    assert job["runs-on"] == "ubuntu-latest"
    commands = [step["run"].strip() for step in job["steps"] if "run" in step]
    # The same steps as CI because it is the same file: no copy of them to drift apart.
    assert commands == ["bash .ci/run"]
    assert CI_RUN.is_file()
    assert CI_RUN.read_text().startswith("#!/usr/bin/env bash")


def test_ci_run_sees_ci_and_the_service_addresses(job):
    variables = {name: str(value) for name, value in job["env"].items()}
    # CI=true: end-to-end tests missing a program fail instead of skipping (tests/support/e2e.py).
    assert variables["CI"] == "true"
    assert (variables["PGHOST"], variables["PGPORT"]) == ("127.0.0.1", "5432")
    script = CI_RUN.read_text()
    assert "PGHOST=127.0.0.1 PGPORT=5432" in script
    assert "-p 6379" in script


def test_python_is_3_11_as_in_python_version(job):
    setup = [step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@")]
    assert len(setup) == 1
    assert str(setup[0]["with"]["python-version"]) == "3.11"
    assert (ROOT / ".python-version").read_text().strip() == "3.11"
    # Checked out before anything runs.
    assert job["steps"][0]["uses"].startswith("actions/checkout@")
