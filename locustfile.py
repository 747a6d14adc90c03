"""Load and stress tests with Locust: a realistic mix of Taskhub users (docs/benchmarks.md).

Users are the ones ``python -m scripts.bench.seed`` creates: ``<prefix>-<n>-member`` in organizations 1..N,
all with one password. Each simulated user signs in to a random organization (a token obtain, the
costly request: a million PBKDF2 rounds), then mostly reads lists and details of projects and
tasks, sometimes creates or updates, and now and then rotates its tokens (token refresh).
Settings (environment variables):

    TASKHUB_PASSWORD        the seeded users' password (required)
    TASKHUB_ORGANIZATIONS   how many seeded organizations to spread over (default 10)
    TASKHUB_PREFIX          scripts.bench.seed's --prefix (default bench)

Ordinary runs: ``locust -f locustfile.py --host http://127.0.0.1:8000`` (web UI) or headless with
``--users``/``--spawn-rate``. Ramp to failure: set ``TASKHUB_RAMP=1`` and the RampToFailure shape
adds ``RAMP_STEP_USERS`` users (``RAMP_SPAWN_RATE`` a second) every ``RAMP_STEP_SECONDS`` until,
over the last step, the error rate passes ``RAMP_MAX_ERROR_RATE`` or the p99 of the API work
passes ``RAMP_MAX_P99_MS``, then stops and prints the breaking point (``make load`` does all of
this against a private stack).
"""

from __future__ import annotations

import json
import os
import random
import string
import time
from typing import Any

from locust import HttpUser, LoadTestShape, between, events, task

PASSWORD = os.environ.get("TASKHUB_PASSWORD", "")
ORGANIZATIONS = int(os.environ.get("TASKHUB_ORGANIZATIONS", "10"))
PREFIX = os.environ.get("TASKHUB_PREFIX", "bench")
API = "/api/v1"


def _new_key() -> str:
    return "L" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))  # noqa: S311 - test data


class TaskhubUser(HttpUser):
    """A member of one organization working through the API."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        if not PASSWORD:
            raise RuntimeError("Set TASKHUB_PASSWORD to the password given to scripts.bench.seed.")
        self.username = f"{PREFIX}-{random.randint(1, ORGANIZATIONS)}-member"  # noqa: S311 - test data
        self.refresh = ""
        self.project_ids: list[str] = []
        self.task_ids: list[str] = []
        self.sign_in()
        self.list_projects()

    def sign_in(self) -> None:
        with self.client.post(
            f"{API}/auth/token/",
            json={"username": self.username, "password": PASSWORD},
            name="auth/token/",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"sign-in answered {response.status_code}")
                return
            self._use(response.json())

    def _use(self, tokens: dict[str, str]) -> None:
        self.client.headers["Authorization"] = f"Bearer {tokens['access']}"
        self.refresh = tokens["refresh"]

    def _remember(self, response: Any, into: list[str]) -> None:
        if response.status_code == 200:
            into[:] = [row["id"] for row in response.json()["results"]][:50] or into

    @task(10)
    def list_projects(self) -> None:
        response = self.client.get(f"{API}/projects/?page_size=50", name="projects/ (50)")
        self._remember(response, self.project_ids)

    @task(6)
    def list_tasks_filtered(self) -> None:
        status = random.choice(["todo", "in_progress", "done"])  # noqa: S311 - test data
        response = self.client.get(f"{API}/tasks/?status={status}&page_size=50", name="tasks/?status= (50)")
        self._remember(response, self.task_ids)

    @task(8)
    def retrieve_project(self) -> None:
        if self.project_ids:
            project = random.choice(self.project_ids)  # noqa: S311 - test data
            self.client.get(f"{API}/projects/{project}/", name="projects/{id}/")

    @task(4)
    def retrieve_task(self) -> None:
        if self.task_ids:
            self.client.get(f"{API}/tasks/{random.choice(self.task_ids)}/", name="tasks/{id}/")  # noqa: S311

    @task(2)
    def create_task(self) -> None:
        if self.project_ids:
            project = random.choice(self.project_ids)  # noqa: S311 - test data
            self.client.post(f"{API}/tasks/", json={"project": project, "title": "Load test task"}, name="tasks/ POST")

    @task(2)
    def update_task(self) -> None:
        if self.task_ids:
            task_id = random.choice(self.task_ids)  # noqa: S311 - test data
            status = random.choice(["todo", "in_progress", "done"])  # noqa: S311 - test data
            self.client.patch(f"{API}/tasks/{task_id}/", json={"status": status}, name="tasks/{id}/ PATCH")

    @task(1)
    def create_project(self) -> None:
        self.client.post(
            f"{API}/projects/", json={"key": _new_key(), "name": "Load test project"}, name="projects/ POST"
        )

    @task(1)
    def refresh_tokens(self) -> None:
        """What a client does as its access token nears expiry: rotate, not sign in again."""
        with self.client.post(
            f"{API}/auth/token/refresh/",
            json={"refresh": self.refresh},
            name="auth/token/refresh/",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                self._use(response.json())
            else:
                response.failure(f"refresh answered {response.status_code}")


# Every request of the current ramp step: (name, milliseconds, failed).
_step: list[tuple[str, float, bool]] = []
SIGN_IN = "auth/token/"


@events.request.add_listener
def _record(name: str, response_time: float, exception: Any, **kwargs: Any) -> None:
    _step.append((name, response_time, exception is not None))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 1) if ordered else 0.0


if os.environ.get("TASKHUB_RAMP") == "1":

    class RampToFailure(LoadTestShape):
        """Add users step by step until errors or p99 cross their threshold; report that breaking point.

        The p99 is over the API work (lists, details, writes); sign-ins, slow by design (a password
        hash of a million PBKDF2 rounds), are reported on their own and count only in the error rate.
        """

        step_users = int(os.environ.get("RAMP_STEP_USERS", "5"))
        step_seconds = int(os.environ.get("RAMP_STEP_SECONDS", "15"))
        max_users = int(os.environ.get("RAMP_MAX_USERS", "300"))
        max_error_rate = float(os.environ.get("RAMP_MAX_ERROR_RATE", "0.01"))
        max_p99_ms = float(os.environ.get("RAMP_MAX_P99_MS", "1000"))
        # New users per second within a step: each signs in first, and sign-ins are the costly request.
        spawn_rate = float(os.environ.get("RAMP_SPAWN_RATE", "1"))

        def __init__(self) -> None:
            super().__init__()
            self.step = 0
            self.step_started = 0.0
            self.last: dict[str, Any] = {}

        def _step_figures(self) -> dict[str, Any]:
            seconds = max(self.get_run_time() - self.step_started, 1e-9)
            work = [milliseconds for name, milliseconds, _ in _step if name != SIGN_IN]
            sign_ins = [milliseconds for name, milliseconds, _ in _step if name == SIGN_IN]
            failures = sum(1 for _, _, failed in _step if failed)
            return {
                "users": self.step * self.step_users,
                "rps": round(len(_step) / seconds, 1),
                "error_rate": round(failures / len(_step), 4) if _step else 0.0,
                "p50_ms": _percentile(work, 0.5),
                "p99_ms": _percentile(work, 0.99),
                "sign_in_p50_ms": _percentile(sign_ins, 0.5),
                "requests": len(_step),
            }

        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time()
            if self.step == 0 or run_time - self.step_started >= self.step_seconds:
                if self.step:
                    figures = self._step_figures()
                    print(f"ramp: {json.dumps(figures)}", flush=True)
                    crossed = figures["error_rate"] > self.max_error_rate or figures["p99_ms"] > self.max_p99_ms
                    if crossed or self.step * self.step_users >= self.max_users:
                        breaking = {**figures, "crossed": crossed, "last_good": self.last}
                        print(f"ramp breaking point: {json.dumps(breaking)}", flush=True)
                        return None
                    self.last = figures
                _step.clear()
                self.step += 1
                self.step_started = run_time
            return self.step * self.step_users, self.spawn_rate


@events.quitting.add_listener
def _summary(environment: Any, **kwargs: Any) -> None:
    total = environment.stats.total
    print(
        f"locust total: {total.num_requests} requests, {total.num_failures} failures, "
        f"{total.total_rps:.1f} req/s, p50 {total.get_response_time_percentile(0.5)} ms, "
        f"p99 {total.get_response_time_percentile(0.99)} ms at {time.strftime('%H:%M:%S')}",
        flush=True,
    )
