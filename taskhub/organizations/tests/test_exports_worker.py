"""An export through the real queue: gunicorn takes the request, ``manage.py worker`` writes the file.

A private PostgreSQL, Redis, gunicorn (production settings) and one worker (throwaway), two
organizations seeded big enough that writing one's export takes a while. Over HTTP the owner
of the first asks for an export; the worker (the app role: no BYPASSRLS) runs it in that
organization's tenant context; SIGTERM reaches the worker while it writes, and the worker
finishes the export before it exits 0. The file, downloaded over HTTP, holds the first
organization's rows only, every one of them.

Skipped in CI's SQLite pass (TASKHUB_TEST_SQLITE=1); outside CI, when a server binary is missing.
"""

from __future__ import annotations

import gzip
import http.client
import json
import sys
import time
from pathlib import Path

from tests.support import e2e, throwaway

pytestmark = e2e.marks(throwaway.missing_binaries())

PROJECTS = 30
TASKS = 1000  # per project: 30,000 tasks per organization
PASSWORD = "export-worker-test-password"
UNTHROTTLED = {f"THROTTLE_{scope}_RATE": "100000/min" for scope in ("ANON", "USER", "ORGANIZATION", "SIGN_IN")}


def _token(stack: throwaway.Stack, username: str) -> str:
    reply = stack.client.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD})
    assert reply.status == 200, reply.text
    return str(reply.body["access"])


def _export_started(stack: throwaway.Stack) -> bool:
    assert stack.worker is not None
    return any(
        line.get("message") == "job started" and line.get("job") == "organizations.export"
        for line in stack.worker.log_lines()
    )


def test_worker_writes_the_export_and_finishes_it_on_sigterm(tmp_path: Path):
    environment = {**UNTHROTTLED, "EXPORTS_DIR": str(tmp_path / "exports")}
    with throwaway.running_stack(server_environment=environment, worker=True) as stack:
        assert stack.worker is not None
        throwaway.run(
            [
                sys.executable,
                "-m",
                "scripts.bench.seed",
                "--organizations=2",
                f"--projects={PROJECTS}",
                f"--tasks={TASKS}",
                f"--password={PASSWORD}",
                "--prefix=wk",
            ],
            timeout=120,
            env=stack.environment,
            cwd=throwaway.REPO,
        )
        assert stack.postgres.role_flags() == (False, False)  # the worker's role: no superuser, no BYPASSRLS
        token = _token(stack, "wk-1-owner")
        organization = stack.client.get("/api/v1/organization/", token=token).body["id"]
        other = stack.client.get("/api/v1/organization/", token=_token(stack, "wk-2-owner")).body["id"]

        queued = stack.client.post("/api/v1/organization/exports/", {}, token=token)
        assert queued.status == 202, queued.text
        location = queued.headers["location"]
        assert location.endswith(f"/api/v1/organization/exports/{queued.body['id']}/")
        detail = location.split("127.0.0.1", 1)[-1].split("/", 1)[-1]
        throwaway.wait_until(lambda: _export_started(stack), timeout=20, what="the worker to start the export")
        # A worker holds the job: the export reads running.
        assert stack.client.get(f"/{detail}", token=token).body["status"] == "running"
        started = time.monotonic()

        code = stack.worker.terminate(timeout=60)

        assert code == 0, stack.worker.log_tail()
        body = stack.client.get(f"/{detail}", token=token).body
        assert body["status"] == "ready", body
        records = stack.worker.log_lines()
        done = [r for r in records if r.get("message") == "job done" and r.get("job") == "organizations.export"]
        assert done, "the export job did not finish before the worker exited"
        assert done[0]["organization_id"] == organization
        assert records[-1]["message"] == "worker stopped"
        print(f"\nworker stopped {time.monotonic() - started:.1f}s after SIGTERM; export {body['size']} bytes")  # noqa: T201

        status, headers, raw = _download(stack.client.port, body["download_url"], token)
        assert status == 200, raw[:300]
        assert headers["content-type"] == "application/gzip"

    rows = [json.loads(line) for line in gzip.decompress(raw).splitlines()]
    assert rows[0]["organization"]["id"] == organization
    tables = [line for line in rows if "table" in line]
    assert {line["row"]["organization_id"] for line in tables} == {organization}
    assert sum(line["table"] == "tasks.task" for line in tables) == PROJECTS * TASKS
    assert sum(line["table"] == "projects.project" for line in tables) == PROJECTS
    assert other.encode() not in gzip.decompress(raw)
    assert rows[-1]["end"]["counts"]["tasks.task"] == PROJECTS * TASKS


def _download(port: int, url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (absolute, from ``download_url``) from the app on ``port``; the body as bytes."""
    path = "/" + url.split("//", 1)[-1].split("/", 1)[-1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()
