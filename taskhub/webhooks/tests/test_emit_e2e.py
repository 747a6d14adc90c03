"""A task created over HTTP reaches a webhook receiver once, signed: gunicorn takes the request, a worker delivers.

A private stack (PostgreSQL, Redis, gunicorn under production settings, ``manage.py worker``)
with ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` on, so the worker may deliver to the receiver this
module runs on 127.0.0.1. The receiver checks each delivery with the ``standardwebhooks``
package's own verifier, as any receiver would. Runs only in the PostgreSQL pass, like every
test that starts servers (``running_stack``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from standardwebhooks.webhooks import Webhook as StandardWebhook

from taskhub.webhooks.tests.receiver import Hit, receiving
from tests.support import e2e, throwaway

pytestmark = e2e.marks(throwaway.missing_binaries())

DELIVER_JOB = "webhooks.deliver"


def _types(hits: list[Hit]) -> list[str]:
    return [json.loads(hit.body)["type"] for hit in hits]


def _deliveries_done(stack: throwaway.Stack) -> int:
    assert stack.worker is not None
    return sum(
        line.get("message") == "job done" and line.get("job") == DELIVER_JOB for line in stack.worker.log_lines()
    )


def test_emit_a_task_created_over_http_reaches_the_receiver_once_signed():
    environment = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}
    with receiving() as receiver, throwaway.running_stack(server_environment=environment, worker=True) as stack:
        username = f"hook{secrets.token_hex(4)}"
        registered = stack.client.post(
            "/api/v1/auth/register/",
            {
                "username": username,
                "email": f"{username}@example.com",
                "password": f"hooks-{secrets.token_urlsafe(12)}",
                "organization_name": "Hooked",
            },
        )
        assert registered.status == 201, registered.text
        token, organization = registered.body["access"], registered.body["organization"]["id"]
        created = stack.client.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["task.created"]}, token=token)
        assert created.status == 201, created.text
        verifier = StandardWebhook(created.body["secret"])
        # Every new webhook is pinged: the worker delivers to this receiver.
        throwaway.wait_until(lambda: len(receiver.hits) >= 1, timeout=30, what="the ping")
        project = stack.client.post("/api/v1/projects/", {"key": "WEB", "name": "Website"}, token=token)
        assert project.status == 201, project.text

        task = stack.client.post("/api/v1/tasks/", {"project": project.body["id"], "title": "Ship"}, token=token)

        assert task.status == 201, task.text
        throwaway.wait_until(lambda: len(receiver.hits) >= 2, timeout=30, what="the task.created delivery")
        # Both delivery jobs are done: no attempt of either is left to come.
        throwaway.wait_until(lambda: _deliveries_done(stack) >= 2, timeout=30, what="the worker to finish")
        deliveries = stack.client.get(f"/api/v1/webhooks/{created.body['id']}/deliveries/", token=token)
        assert deliveries.status == 200, deliveries.text
        logged = deliveries.body["results"]

    hits = receiver.hits
    # The ping, then the task: the project was created too, but the webhook is not subscribed to it.
    assert _types(hits) == ["webhook.ping", "task.created"]
    delivered = hits[1]
    payload: dict[str, Any] = verifier.verify(delivered.body, delivered.headers)
    assert payload["type"] == "task.created"
    assert payload["id"] == delivered.headers["webhook-id"]
    assert payload["organization"] == organization
    assert payload["data"] == {"object": task.body}
    # The log agrees: one attempt at that event, answered 200.
    attempts = [row for row in logged if row["event"] == payload["id"]]
    assert len(attempts) == 1, logged
    assert attempts[0]["response_status"] == 200
    assert attempts[0]["next_attempt_at"] is None
