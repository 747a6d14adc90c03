"""Webhooks through the real queue: gunicorn takes the requests, ``manage.py worker`` delivers.

A private PostgreSQL, Redis, gunicorn (production settings) and one worker (throwaway), with
receivers on loopback (``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` on for them, as in development). Each
test signs up an organization of its own. Deliveries are verified with the ``standardwebhooks``
package's own verifier, as a receiver would.

Skipped in CI's SQLite pass (TASKHUB_TEST_SQLITE=1); outside CI, when a server binary is missing.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from standardwebhooks import Webhook as Verifier

from taskhub.webhooks.tests.receiver import Hit, Receiver, receiving
from tests.support import e2e, throwaway
from tests.support.servers import APP_DATABASE

pytestmark = e2e.marks(throwaway.missing_binaries())

PASSWORD = "webhooks-worker-test-password"
UNTHROTTLED = {f"THROTTLE_{scope}_RATE": "100000/min" for scope in ("ANON", "USER", "ORGANIZATION", "SIGN_IN")}
# The worker polls for jobs scheduled for later every 5 s, so each wait may run up to 5 s late:
# 1 then 8 seconds keep the second gap longer than the first whatever the poll's timing.
ENVIRONMENT = {**UNTHROTTLED, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "True", "WEBHOOK_RETRY_SCHEDULE_SECONDS": "1,8"}
organizations = count(1)


@pytest.fixture(scope="module")
def stack() -> Iterator[throwaway.Stack]:
    with throwaway.running_stack(server_environment=ENVIRONMENT, worker=True) as running:
        yield running


def _sign_up(stack: throwaway.Stack) -> tuple[str, str]:
    """A new organization and its owner's token: (token, organization id)."""
    n = next(organizations)
    reply = stack.client.post(
        "/api/v1/auth/register/",
        {
            "username": f"hooks-{n}",
            "email": f"hooks-{n}@example.com",
            "password": PASSWORD,
            "organization_name": f"Hooks {n}",
        },
    )
    assert reply.status == 201, reply.text
    organization = reply.body["organization"]
    return reply.body["access"], organization["id"] if isinstance(organization, dict) else organization


def _webhook(stack: throwaway.Stack, token: str, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    reply = stack.client.post("/api/v1/webhooks/", {"url": receiver.url, "events": events}, token=token)
    assert reply.status == 201, reply.text
    # The creation's ping, through the worker.
    (ping,) = receiver.wait_for(1)
    assert json.loads(ping.body)["type"] == "webhook.ping"
    return dict(reply.body)


def _of_type(hits: list[Hit], event_type: str) -> list[Hit]:
    return [hit for hit in hits if json.loads(hit.body)["type"] == event_type]


def _idle(stack: throwaway.Stack, webhook_id: str) -> bool:
    """No attempt for this webhook waits in the queue or runs."""
    with stack.postgres.connect(dbname=APP_DATABASE) as connection:
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver'"
            " AND status IN ('todo', 'doing') AND args->>'webhook_id' = %s",
            [webhook_id],
        ).fetchone()
    return bool(row[0] == 0)


def _project(stack: throwaway.Stack, token: str, key: str) -> dict[str, Any]:
    reply = stack.client.post("/api/v1/projects/", {"key": key, "name": f"Project {key}"}, token=token)
    assert reply.status == 201, reply.text
    return dict(reply.body)


def _deliveries(stack: throwaway.Stack, token: str, webhook_id: str) -> list[dict[str, Any]]:
    reply = stack.client.get(f"/api/v1/webhooks/{webhook_id}/deliveries/?page_size=100", token=token)
    assert reply.status == 200, reply.text
    return list(reply.body["results"])


def test_creating_a_task_delivers_exactly_one_signed_task_created_and_redeliver_sends_it_again(stack):
    token, organization = _sign_up(stack)
    with receiving() as receiver:
        webhook = _webhook(stack, token, receiver, ["task.created"])
        project = _project(stack, token, "HOOK")

        created = stack.client.post("/api/v1/tasks/", {"project": project["id"], "title": "Ship it"}, token=token)

        assert created.status == 201, created.text
        throwaway.wait_until(
            lambda: len(_of_type(receiver.hits, "task.created")) == 1, timeout=30, what="the task.created delivery"
        )
        throwaway.wait_until(lambda: _idle(stack, webhook["id"]), timeout=30, what="the worker to finish")
        (hit,) = _of_type(receiver.hits, "task.created")
        event = Verifier(webhook["secret"]).verify(hit.body, hit.headers)
        assert event["organization"] == organization
        assert event["data"]["object"]["id"] == created.body["id"]
        assert hit.headers["webhook-id"] == event["id"]
        (delivery,) = [d for d in _deliveries(stack, token, webhook["id"]) if d["event_type"] == "task.created"]
        assert (delivery["event"], delivery["response_status"], delivery["attempt"]) == (event["id"], 200, 1)

        again = stack.client.post(
            f"/api/v1/webhooks/{webhook['id']}/deliveries/{delivery['id']}/redeliver/", {}, token=token
        )

        assert again.status == 202, again.text
        throwaway.wait_until(
            lambda: len(_of_type(receiver.hits, "task.created")) == 2, timeout=30, what="the redelivery"
        )
        second = _of_type(receiver.hits, "task.created")[1]
        assert second.headers["webhook-id"] == event["id"]
        assert Verifier(webhook["secret"]).verify(second.body, second.headers)["id"] == event["id"]
        throwaway.wait_until(lambda: _idle(stack, webhook["id"]), timeout=30, what="the worker to finish")
    attempts = [d for d in _deliveries(stack, token, webhook["id"]) if d["event"] == event["id"]]
    assert [d["attempt"] for d in attempts] == [2, 1]


def test_a_receiver_failing_twice_gets_three_attempts_with_growing_gaps_and_one_success(stack):
    token, _ = _sign_up(stack)
    # The creation's ping takes the first answer.
    answers = [(200, {}, b"pong"), (500, {}, b"down"), (503, {}, b"still down"), (200, {}, b"ok")]
    with receiving(answers) as receiver:
        webhook = _webhook(stack, token, receiver, ["project.created"])

        _project(stack, token, "RETRY")

        hits = receiver.wait_for(4, timeout=60)
        throwaway.wait_until(lambda: _idle(stack, webhook["id"]), timeout=30, what="the worker to finish")
    attempts = _of_type(hits, "project.created")
    assert len(attempts) == 3
    assert len({hit.headers["webhook-id"] for hit in attempts}) == 1
    assert len({hit.body for hit in attempts}) == 1
    first_gap, second_gap = attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at
    assert first_gap >= 1
    assert second_gap >= 8
    assert second_gap > first_gap
    logged = [d for d in _deliveries(stack, token, webhook["id"]) if d["event_type"] == "project.created"]
    assert [(d["attempt"], d["response_status"], d["succeeded"]) for d in logged] == [
        (3, 200, True),
        (2, 503, False),
        (1, 500, False),
    ]
    assert logged[0]["next_attempt_at"] is None
    assert all(d["next_attempt_at"] is not None for d in logged[1:])
    shown = stack.client.get(f"/api/v1/webhooks/{webhook['id']}/", token=token).body
    assert (shown["active"], shown["failing_since"]) == (True, None)
    print(f"\nretry gaps: {first_gap:.1f} s, {second_gap:.1f} s")  # noqa: T201


def test_a_rolled_back_write_sends_nothing_and_a_committed_one_is_delivered(stack):
    token, organization = _sign_up(stack)
    project = _project(stack, token, "TXN")
    with receiving() as receiver:
        webhook = _webhook(stack, token, receiver, ["task.created"])
        # task_create, the service the API calls, in a transaction that fails after it; then once more, committed.
        script = textwrap.dedent(
            f"""
            from django.db import transaction
            from taskhub.core import rls
            from taskhub.core.actor import Actor
            from taskhub.tasks.services import task_create

            def create(title):
                task_create(
                    organization_id="{organization}", actor=Actor(user_id=None, label="test"),
                    project_id="{project["id"]}", title=title,
                )

            try:
                with transaction.atomic(), rls.scoped(organization_id="{organization}"):
                    create("rolled back")
                    raise RuntimeError("the change fails after the task was written")
            except RuntimeError:
                pass
            with rls.scoped(organization_id="{organization}"):
                create("committed")
            """
        )
        throwaway.run(
            [sys.executable, "manage.py", "shell", "-c", script], timeout=60, env=stack.environment, cwd=throwaway.REPO
        )

        throwaway.wait_until(
            lambda: len(_of_type(receiver.hits, "task.created")) == 1, timeout=30, what="the committed task's event"
        )
        throwaway.wait_until(lambda: _idle(stack, webhook["id"]), timeout=30, what="the worker to finish")
        titles = [json.loads(hit.body)["data"]["object"]["title"] for hit in _of_type(receiver.hits, "task.created")]
    assert titles == ["committed"]
    with stack.postgres.connect(dbname=APP_DATABASE) as connection:
        written = connection.execute(
            "SELECT data->'object'->>'title' FROM webhooks_event WHERE organization_id = %s AND type = 'task.created'",
            [organization],
        ).fetchall()
    assert [row[0] for row in written] == ["committed"]
