"""One delivery attempt: the retry decision, timeouts, the disabling after a day of failures, the payload limit."""

import io
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from taskhub.core import rls
from taskhub.tenancy.roles import Role
from taskhub.webhooks.delivery import next_delay
from taskhub.webhooks.events import emit
from taskhub.webhooks.models import Delivery, Webhook
from taskhub.webhooks.tests.conftest import create_webhook, deliveries
from taskhub.webhooks.tests.receiver import receiving
from taskhub.webhooks.transport import Answer, retry_after_seconds
from tests.support.queue import queued_job_arguments

pytestmark = pytest.mark.django_db
SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")


def answer(status: int | None = None, error: str = "", retry_after: float | None = None) -> Answer:
    return Answer(status=status, body="", error=error, duration_ms=1, retry_after=retry_after)


@override_settings(WEBHOOK_RETRY_SCHEDULE_SECONDS=SCHEDULE)
def test_network_errors_timeouts_429_and_5xx_are_retried_on_the_schedule():
    for failed in (answer(error="network error: reset"), answer(error="timeout after 5 s"), answer(429), answer(503)):
        assert [next_delay(failed, retry) for retry in range(len(SCHEDULE) + 1)] == [*SCHEDULE, None]


@override_settings(WEBHOOK_RETRY_SCHEDULE_SECONDS=SCHEDULE)
def test_other_4xx_3xx_and_refused_addresses_are_not_retried():
    for final in (answer(400), answer(404), answer(410), answer(302), answer(error="refused: 10.0.0.1 is private")):
        assert next_delay(final, 0) is None


@override_settings(WEBHOOK_RETRY_SCHEDULE_SECONDS=SCHEDULE)
def test_retry_after_is_honoured_when_longer_than_the_schedule_and_capped_at_its_longest_wait():
    assert next_delay(answer(429, retry_after=120), 0) == 120
    assert next_delay(answer(503, retry_after=1), 1) == 300
    assert next_delay(answer(429, retry_after=10**9), 0) == 36000
    assert next_delay(answer(429, retry_after=120), None) is None  # a single attempt stays single


def test_retry_after_reads_seconds_and_http_dates():
    now = timezone.now().replace(microsecond=0)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds((now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == 90
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def _organization(clients_a) -> str:
    return str(clients_a[Role.ADMIN].get("/api/v1/organization/").json()["id"])


def test_a_failed_attempt_is_logged_with_its_next_attempt(clients_a):
    admin = clients_a[Role.ADMIN]
    with receiving([(503, {"Retry-After": "60"}, b"busy")]) as receiver:
        body = create_webhook(admin, receiver.url, events=["task.created"])
        before = timezone.now()

        emit(organization_id=_organization(clients_a), type="task.created", data={"id": "1"})

        receiver.wait_for(2)
    event = deliveries(admin, body["id"])[0]
    assert (event["response_status"], event["error"], event["response_body"]) == (503, "HTTP 503", "busy")
    # The schedule's first wait is 5 s; the receiver asked for 60.
    due = timezone.datetime.fromisoformat(event["next_attempt_at"])
    assert timedelta(seconds=59) < due - before < timedelta(seconds=62)
    with rls.bypass("test: read the webhook"):
        assert Webhook.objects.get(pk=body["id"]).failing_since is not None


@postgresql_only
@override_settings(WEBHOOK_RETRY_SCHEDULE_SECONDS=SCHEDULE)
def test_the_next_attempt_is_a_job_of_its_own_queued_for_later(job_queue, clients_a):
    admin = clients_a[Role.ADMIN]
    with receiving([(500, {}, b"")]) as receiver:
        body = create_webhook(admin, receiver.url, events=["task.created"])
        organization = _organization(clients_a)
        with rls.scoped(organization_id=organization):
            emit(organization_id=organization, type="task.created", data={"id": "1"})
        queued = [args for name, args in queued_job_arguments() if name == "webhooks.deliver"]
        (ping, first) = queued
        from taskhub.webhooks.delivery import delivery_attempt  # noqa: PLC0415

        with rls.scoped(organization_id=organization):
            delivery_attempt(
                organization_id=organization,
                webhook_id=first["webhook_id"],
                event_id=first["event_id"],
                number=first["attempt"],
                retry=first["retry"],
            )
    assert ping["retry"] is None
    assert (first["attempt"], first["retry"]) == (1, 0)
    retry = [args for name, args in queued_job_arguments() if name == "webhooks.deliver"][-1]
    assert (retry["event_id"], retry["attempt"], retry["retry"]) == (first["event_id"], 2, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT scheduled_at - now() FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver' ORDER BY id DESC"
        )
        wait = cursor.fetchone()[0]
    assert timedelta(seconds=3) < wait <= timedelta(seconds=5)
    assert body["id"] == retry["webhook_id"]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@override_settings(WEBHOOK_TIMEOUT_SECONDS=1)
def test_a_receiver_that_does_not_answer_times_out_and_is_retried(clients_a, silent_port):
    admin = clients_a[Role.ADMIN]

    body = create_webhook(admin, f"http://127.0.0.1:{silent_port}/hook", events=["task.created"])
    emit(organization_id=_organization(clients_a), type="task.created", data={"id": "1"})

    event, ping = deliveries(admin, body["id"])
    assert event["error"] == "timeout after 1 s"
    assert event["response_status"] is None
    assert 900 <= event["duration_ms"] < 3000
    assert event["next_attempt_at"] is not None
    assert ping["next_attempt_at"] is None  # a ping is one attempt


def test_a_closed_port_is_a_network_error_and_is_retried(clients_a):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    admin = clients_a[Role.ADMIN]

    body = create_webhook(admin, f"http://127.0.0.1:{port}/hook", events=["task.created"])
    emit(organization_id=_organization(clients_a), type="task.created", data={"id": "1"})

    event = deliveries(admin, body["id"])[0]
    assert event["error"].startswith("network error: cannot connect to 127.0.0.1")
    assert event["next_attempt_at"] is not None


def test_a_webhook_failing_for_a_day_is_disabled_and_its_admins_and_owners_are_emailed(clients_a, tenant_a):
    admin = clients_a[Role.ADMIN]
    with receiving([(500, {}, b"down")]) as receiver:
        body = create_webhook(admin, receiver.url, events=["task.created"])
        with rls.bypass("test: a day of failures"):
            Webhook.objects.filter(pk=body["id"]).update(failing_since=timezone.now() - timedelta(hours=24, minutes=1))
        mail.outbox.clear()

        emit(organization_id=_organization(clients_a), type="task.created", data={"id": "1"})
        emit(organization_id=_organization(clients_a), type="task.created", data={"id": "2"})

        assert len(receiver.wait_for(2)) == 2  # the ping and the first event; none after the disabling
    shown = admin.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert shown["active"] is False
    assert shown["disabled_at"] is not None
    assert shown["disabled_reason"] == "every delivery failed for 24 hours"
    assert deliveries(admin, body["id"])[0]["next_attempt_at"] is None
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        tenant_a.users[role].email for role in (Role.OWNER, Role.ADMIN)
    )
    assert all(len(message.to) == 1 for message in mail.outbox)
    assert receiver.url in mail.outbox[0].body
    assert "disabled" in mail.outbox[0].subject


def test_a_success_ends_the_failing_streak(clients_a):
    admin = clients_a[Role.ADMIN]
    with receiving([(500, {}, b""), (200, {}, b"")]) as receiver:
        body = create_webhook(admin, receiver.url)
        with rls.bypass("test: read the webhook"):
            assert Webhook.objects.get(pk=body["id"]).failing_since is not None

        admin.post(f"/api/v1/webhooks/{body['id']}/ping/")

        receiver.wait_for(2)
    assert admin.get(f"/api/v1/webhooks/{body['id']}/").json()["failing_since"] is None


def test_an_inactive_webhook_gets_no_events_and_a_queued_attempt_finds_it_inactive(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)
    admin.patch(f"/api/v1/webhooks/{body['id']}/", {"active": False}, format="json")

    emit(organization_id=_organization(clients_a), type="task.created", data={"id": "1"})

    assert len(receiver.hits) == 1  # the creation's ping only
    with rls.bypass("test: count attempts"):
        assert Delivery.objects.filter(webhook_id=body["id"]).count() == 1


@override_settings(WEBHOOK_MAX_PAYLOAD_BYTES=1024)
def test_data_above_the_payload_limit_is_sent_as_its_id_alone(clients_a, receiver):
    body = create_webhook(clients_a[Role.ADMIN], receiver.url, events=["task.created"])

    emit(
        organization_id=_organization(clients_a),
        type="task.created",
        data={"object": {"id": "big", "description": "x" * 2000}},
    )

    hit = receiver.wait_for(2)[-1]
    event = Verifier(body["secret"]).verify(hit.body, hit.headers)
    # The object's id, as every product event carries it, so the receiver can fetch the object.
    assert event["data"] == {"object": {"id": "big"}, "truncated": True}
    assert len(hit.body) < 1024


@override_settings(WEBHOOK_MAX_PAYLOAD_BYTES=2048)
def test_a_task_update_too_large_to_send_whole_still_names_the_task(clients_a, receiver):
    create_webhook(clients_a[Role.ADMIN], receiver.url, events=["task.updated"])
    project = clients_a[Role.MEMBER].post("/api/v1/projects/", {"key": "BIG", "name": "Big"}, format="json")
    assert project.status_code == 201, project.content
    task = clients_a[Role.MEMBER].post(
        "/api/v1/tasks/", {"project": project.json()["id"], "title": "long"}, format="json"
    )
    assert task.status_code == 201, task.content

    # Before and after of a long description, and the object itself: three copies of it.
    changed = clients_a[Role.MEMBER].patch(
        f"/api/v1/tasks/{task.json()['id']}/", {"description": "说" * 1000}, format="json"
    )
    assert changed.status_code == 200, changed.content

    event = json.loads(receiver.wait_for(2)[-1].body)
    assert event["type"] == "task.updated"
    assert event["data"] == {"object": {"id": task.json()["id"]}, "truncated": True}


def test_the_body_is_the_events_json_and_the_same_on_every_attempt(clients_a):
    admin = clients_a[Role.ADMIN]
    with receiving([(500, {}, b"")]) as receiver:
        body = create_webhook(admin, receiver.url, events=["task.created"])
        emit(organization_id=_organization(clients_a), type="task.created", data={"id": "1", "title": "Ünïcode"})
        event = deliveries(admin, body["id"])[0]
        admin.post(f"/api/v1/webhooks/{body['id']}/deliveries/{event['id']}/redeliver/")
        hits = receiver.wait_for(3)
    first, second = hits[1], hits[2]
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event["event"]
    assert first.headers["content-type"] == "application/json"
    assert first.headers["user-agent"] == "taskhub-webhooks/1"
    parsed = json.loads(first.body)
    assert parsed["data"] == {"id": "1", "title": "Ünïcode"}
    assert parsed["created_at"].endswith("Z")


def test_secrets_survive_a_key_rotation_with_the_old_key_as_fallback_then_reencryption(clients_a, receiver, settings):
    from django.core.management import call_command  # noqa: PLC0415

    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)  # encrypted under SECRET_KEY (no WEBHOOK_SECRET_KEY)
    old_key = settings.SECRET_KEY

    settings.WEBHOOK_SECRET_KEY = "a new key for webhook secrets"
    admin.post(f"/api/v1/webhooks/{body['id']}/ping/")  # the old key gone: nothing can sign
    settings.WEBHOOK_SECRET_KEY_FALLBACKS = [old_key]
    admin.post(f"/api/v1/webhooks/{body['id']}/ping/")  # the old key a fallback: it decrypts
    output = io.StringIO()
    call_command("reencrypt_webhook_secrets", stdout=output)
    settings.WEBHOOK_SECRET_KEY_FALLBACKS = []
    admin.post(f"/api/v1/webhooks/{body['id']}/ping/")  # re-encrypted: the new key alone decrypts

    unsigned, *signed = deliveries(admin, body["id"])[::-1][1:]
    assert unsigned["error"].startswith("not sent: no configured key decrypts this webhook secret")
    assert unsigned["next_attempt_at"] is None  # a ping; an event would be retried
    hits = receiver.wait_for(3)
    assert len(hits) == 3  # the creation's ping and the two signed ones; the unsigned one never left
    for hit in hits[1:]:
        assert Verifier(body["secret"]).verify(hit.body, hit.headers)
    assert [d["succeeded"] for d in signed] == [True, True]
    assert output.getvalue() == "Re-encrypted the secrets of 1 webhooks under the current key.\n"


def test_the_verification_snippet_in_the_docs_verifies_a_delivery(clients_a, receiver):
    text = (Path(settings.BASE_DIR) / "docs" / "webhooks.md").read_text()
    snippet = text.split("In Python, with the `standardwebhooks` package:", 1)[1].split("```python\n", 1)[1]
    snippet = snippet.split("```", 1)[0]
    body = create_webhook(clients_a[Role.ADMIN], receiver.url)
    (hit,) = receiver.wait_for(1)
    namespace: dict[str, Any] = {}

    exec(snippet.replace('"whsec_..."', repr(body["secret"])), namespace)  # noqa: S102 - the docs' own snippet

    assert namespace["verified_event"](hit.body, hit.headers)["type"] == "webhook.ping"
    with pytest.raises(WebhookVerificationError):
        namespace["verified_event"](hit.body.replace(b"ping", b"pong"), hit.headers)
