"""The webhooks endpoints: secrets shown once, the event catalog, limits, rotation, pings, deliveries, redelivery."""

import base64
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from taskhub.audit.models import AuditEvent
from taskhub.core import rls
from taskhub.tenancy.roles import Role
from taskhub.webhooks.catalog import EVENT_TYPES
from taskhub.webhooks.models import Webhook
from taskhub.webhooks.tests.conftest import URL, create_webhook, deliveries

pytestmark = pytest.mark.django_db


def test_creating_a_webhook_shows_its_secret_once_in_the_standard_webhooks_format(clients_a, receiver):
    response = clients_a[Role.ADMIN].post(URL, {"url": receiver.url, "events": ["task.created"]}, format="json")

    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) >= 24
    assert body["events"] == ["task.created"]
    assert body["active"] is True
    shown = clients_a[Role.ADMIN].get(f"{URL}{body['id']}/").json()
    listed = clients_a[Role.ADMIN].get(URL).json()["results"]
    assert "secret" not in shown
    assert body["secret"] not in json.dumps(listed) + json.dumps(shown)
    assert {key: value for key, value in body.items() if key != "secret"} == shown


def test_the_secret_is_stored_encrypted_and_decrypts_to_the_one_shown(clients_a, receiver):
    from taskhub.webhooks import signing  # noqa: PLC0415

    body = create_webhook(clients_a[Role.ADMIN], receiver.url)

    with rls.bypass("test: read the stored secret"):
        stored = Webhook.objects.get(pk=body["id"]).secret_encrypted
    assert body["secret"] not in stored
    assert body["secret"].removeprefix("whsec_") not in stored
    assert signing.decrypt(stored) == body["secret"]


def test_a_webhook_without_events_receives_every_type(clients_a, receiver):
    assert create_webhook(clients_a[Role.ADMIN], receiver.url)["events"] == ["*"]


def test_events_are_kept_once_each_in_catalog_order(clients_a, receiver):
    body = create_webhook(
        clients_a[Role.ADMIN], receiver.url, events=["task.deleted", "project.created", "task.deleted"]
    )

    assert body["events"] == ["project.created", "task.deleted"]


@pytest.mark.parametrize(
    ("events", "code"),
    [
        (["task.exploded"], "unknown_event_type"),
        (["webhook.ping"], "unknown_event_type"),
        (["*", "task.created"], "invalid"),
        ([], "required"),
    ],
)
def test_events_outside_the_catalog_are_refused(clients_a, receiver, events, code):
    response = clients_a[Role.ADMIN].post(URL, {"url": receiver.url, "events": events}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert "events" in json.dumps(response.json())
    assert not Webhook.objects.exists()


def test_the_catalog_is_the_one_the_issue_names():
    assert set(EVENT_TYPES) == {
        "project.created",
        "project.updated",
        "project.deleted",
        "task.created",
        "task.updated",
        "task.deleted",
        "member.added",
        "member.role_changed",
        "member.removed",
        "invitation.accepted",
    }


@override_settings(WEBHOOKS_PER_ORGANIZATION=2)
def test_an_organization_has_at_most_webhooks_per_organization(clients_a, clients_b, receiver):
    for _ in range(2):
        create_webhook(clients_a[Role.ADMIN], receiver.url)

    response = clients_a[Role.ADMIN].post(URL, {"url": receiver.url}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "webhook_limit_reached"
    assert "WEBHOOKS_PER_ORGANIZATION" in response.json()["detail"]
    # Per organization: another one still has room.
    create_webhook(clients_b[Role.ADMIN], receiver.url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://hooks.example.com/x", "invalid"),
        ("hooks.example.com/x", "invalid"),
        ("https://user:pass@hooks.example.com/x", "invalid"),
        ("https://hooks.example.com:99999/x", "invalid"),
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("https://[fd00:ec2::254]/", "address_not_allowed"),
        ("https://0.0.0.0/", "address_not_allowed"),
        ("https://224.0.0.1/", "address_not_allowed"),
    ],
)
def test_urls_that_cannot_receive_webhooks_are_refused_even_with_private_networks_allowed(clients_a, url, code):
    response = clients_a[Role.ADMIN].post(URL, {"url": url}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not Webhook.objects.exists()


def test_patch_changes_the_fields_sent_and_a_refused_url_changes_nothing(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)

    updated = admin.patch(f"{URL}{body['id']}/", {"events": ["task.updated"], "description": "CI"}, format="json")
    with override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False):
        refused = admin.patch(
            f"{URL}{body['id']}/", {"url": "https://10.0.0.1/", "description": "changed"}, format="json"
        )

    assert updated.status_code == 200
    assert updated.json()["events"] == ["task.updated"]
    assert refused.status_code == 400
    assert refused.json()["code"] == "address_not_allowed"
    shown = admin.get(f"{URL}{body['id']}/").json()
    assert (shown["url"], shown["description"]) == (receiver.url, "CI")


def test_creating_a_webhook_pings_it_and_the_ping_verifies_with_standardwebhooks(clients_a, receiver):
    body = create_webhook(clients_a[Role.ADMIN], receiver.url, active=False)

    (hit,) = receiver.wait_for(1)
    event = Verifier(body["secret"]).verify(hit.body, hit.headers)
    assert event["type"] == "webhook.ping"
    assert event["data"]["webhook"]["id"] == body["id"]
    assert event["organization"] == str(clients_a[Role.ADMIN].get("/api/v1/organization/").json()["id"])
    assert hit.headers["webhook-id"] == event["id"]
    assert set(event) == {"id", "type", "created_at", "organization", "data"}


def test_ping_sends_a_webhook_ping_to_that_webhook_only(clients_a, receiver):
    from taskhub.webhooks.tests.receiver import receiving  # noqa: PLC0415

    admin = clients_a[Role.ADMIN]
    with receiving() as other:
        create_webhook(admin, other.url)
        body = create_webhook(admin, receiver.url)

        response = admin.post(f"{URL}{body['id']}/ping/")

        assert response.status_code == 202
        assert response.json()["type"] == "webhook.ping"
        hits = receiver.wait_for(2)
        assert len(other.hits) == 1  # its own creation ping only
    assert [json.loads(hit.body)["id"] for hit in hits][-1] == response.json()["id"]
    assert Verifier(body["secret"]).verify(hits[-1].body, hits[-1].headers)["type"] == "webhook.ping"


def test_deliveries_list_every_attempt_newest_first_with_what_came_back(clients_a):
    from taskhub.webhooks.tests.receiver import receiving  # noqa: PLC0415

    admin = clients_a[Role.ADMIN]
    answers = [(200, {}, b"created"), (404, {}, b"x" * 5000)]
    with receiving(answers) as receiver:
        body = create_webhook(admin, receiver.url)
        ping = admin.post(f"{URL}{body['id']}/ping/").json()
        receiver.wait_for(2)

    listed = deliveries(admin, body["id"])

    assert [d["response_status"] for d in listed] == [404, 200]
    newest = listed[0]
    assert newest["event"] == ping["id"]
    assert newest["event_type"] == "webhook.ping"
    assert newest["attempt"] == 1
    assert newest["succeeded"] is False
    assert newest["error"] == "HTTP 404"
    assert newest["response_body"] == "x" * 2048
    assert newest["next_attempt_at"] is None  # a ping is one attempt; and a 404 is never retried
    assert newest["duration_ms"] is not None
    assert listed[1]["succeeded"] is True
    assert listed[1]["response_body"] == "created"


def test_deliveries_are_cursor_paginated(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)
    for _ in range(2):
        admin.post(f"{URL}{body['id']}/ping/")

    first = admin.get(f"{URL}{body['id']}/deliveries/", {"page_size": 2}).json()
    second = admin.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert "cursor=" in first["next"]
    assert second["next"] is None


def test_redeliver_sends_the_same_event_id_again_as_the_next_attempt(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)
    (first,) = deliveries(admin, body["id"])

    response = admin.post(f"{URL}{body['id']}/deliveries/{first['id']}/redeliver/")

    assert response.status_code == 202
    assert response.json() == {"event": first["event"], "event_type": "webhook.ping", "attempt": 2}
    hits = receiver.wait_for(2)
    assert [hit.headers["webhook-id"] for hit in hits] == [first["event"], first["event"]]
    assert hits[0].body == hits[1].body
    assert Verifier(body["secret"]).verify(hits[1].body, hits[1].headers)["id"] == first["event"]
    assert [d["attempt"] for d in deliveries(admin, body["id"])] == [2, 1]


def test_rotation_signs_with_both_secrets_for_a_day_then_with_the_new_one(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)

    rotated = admin.post(f"{URL}{body['id']}/rotate-secret/")

    assert rotated.status_code == 200
    assert rotated["Cache-Control"] == "no-store"
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != body["secret"]
    admin.post(f"{URL}{body['id']}/ping/")
    hit = receiver.wait_for(2)[-1]
    assert hit.headers["webhook-signature"].count("v1,") == 2
    assert Verifier(new).verify(hit.body, hit.headers)
    assert Verifier(body["secret"]).verify(hit.body, hit.headers)

    with rls.bypass("test: end the overlap"):
        Webhook.objects.filter(pk=body["id"]).update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    admin.post(f"{URL}{body['id']}/ping/")
    hit = receiver.wait_for(3)[-1]
    assert hit.headers["webhook-signature"].count("v1,") == 1
    assert Verifier(new).verify(hit.body, hit.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(body["secret"]).verify(hit.body, hit.headers)


def test_a_second_rotation_within_the_overlap_drops_the_oldest_secret(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)
    second = admin.post(f"{URL}{body['id']}/rotate-secret/").json()["secret"]
    third = admin.post(f"{URL}{body['id']}/rotate-secret/").json()["secret"]

    admin.post(f"{URL}{body['id']}/ping/")

    hit = receiver.wait_for(2)[-1]
    assert hit.headers["webhook-signature"].count("v1,") == 2
    assert Verifier(third).verify(hit.body, hit.headers)
    assert Verifier(second).verify(hit.body, hit.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(body["secret"]).verify(hit.body, hit.headers)


def test_webhook_changes_are_audited_without_any_secret(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)
    rotated = admin.post(f"{URL}{body['id']}/rotate-secret/").json()["secret"]
    admin.patch(f"{URL}{body['id']}/", {"description": "renamed"}, format="json")
    with rls.bypass("test: read the stored secrets"):
        stored = Webhook.objects.get(pk=body["id"])
    admin.delete(f"{URL}{body['id']}/")

    with rls.bypass("test: read the audit log"):
        rows = list(AuditEvent.objects.filter(target_type="webhooks.webhook").order_by("created_at"))
    assert [row.action for row in rows] == [
        "webhook.created",
        "webhook.secret_rotated",
        "webhook.updated",
        "webhook.deleted",
    ]
    assert rows[0].changes["url"] == [None, receiver.url]
    text = json.dumps([{k: str(v) for k, v in row.__dict__.items()} for row in rows])
    for secret in (body["secret"], rotated, stored.secret_encrypted, stored.previous_secret_encrypted):
        assert secret not in text
        assert secret.removeprefix("whsec_") not in text
    events = admin.get("/api/v1/audit-events/", {"page_size": 100}).content.decode()
    assert body["secret"] not in events
    assert rotated not in events


def test_delete_removes_the_webhook_and_its_deliveries(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)

    assert admin.delete(f"{URL}{body['id']}/").status_code == 204

    assert admin.get(f"{URL}{body['id']}/").status_code == 404
    assert admin.get(f"{URL}{body['id']}/deliveries/").status_code == 404


def test_another_organizations_webhook_and_deliveries_are_not_found(clients_a, clients_b, receiver):
    theirs = create_webhook(clients_b[Role.ADMIN], receiver.url)
    (their_delivery,) = deliveries(clients_b[Role.ADMIN], theirs["id"])
    ours = create_webhook(clients_a[Role.ADMIN], receiver.url)
    admin = clients_a[Role.OWNER]
    hits = len(receiver.wait_for(2))

    answers = [
        admin.get(f"{URL}{theirs['id']}/"),
        admin.patch(f"{URL}{theirs['id']}/", {"active": False}, format="json"),
        admin.delete(f"{URL}{theirs['id']}/"),
        admin.post(f"{URL}{theirs['id']}/rotate-secret/"),
        admin.post(f"{URL}{theirs['id']}/ping/"),
        admin.get(f"{URL}{theirs['id']}/deliveries/"),
        admin.post(f"{URL}{theirs['id']}/deliveries/{their_delivery['id']}/redeliver/"),
        # Their delivery under our own webhook's path.
        admin.post(f"{URL}{ours['id']}/deliveries/{their_delivery['id']}/redeliver/"),
    ]

    assert [answer.status_code for answer in answers] == [404] * len(answers)
    assert theirs["id"] not in admin.get(URL).content.decode()
    assert len(receiver.hits) == hits
    assert clients_b[Role.ADMIN].get(f"{URL}{theirs['id']}/").json()["active"] is True


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_cannot_see_or_manage_webhooks(clients_a, receiver, role):
    body = create_webhook(clients_a[Role.OWNER], receiver.url)
    client = clients_a[role]

    answers = [
        client.get(URL),
        client.post(URL, {"url": receiver.url}, format="json"),
        client.get(f"{URL}{body['id']}/"),
        client.post(f"{URL}{body['id']}/ping/"),
        client.get(f"{URL}{body['id']}/deliveries/"),
    ]

    assert [answer.status_code for answer in answers] == [403] * len(answers)


def test_turning_a_disabled_webhook_back_on_clears_its_failure_state(clients_a, receiver):
    admin = clients_a[Role.ADMIN]
    body = create_webhook(admin, receiver.url)
    with rls.bypass("test: disable"):
        Webhook.objects.filter(pk=body["id"]).update(
            active=False, disabled_at=timezone.now(), disabled_reason="failing", failing_since=timezone.now()
        )

    shown = admin.patch(f"{URL}{body['id']}/", {"active": True}, format="json").json()

    assert (shown["active"], shown["disabled_at"], shown["disabled_reason"], shown["failing_since"]) == (
        True,
        None,
        "",
        None,
    )
    assert not mail.outbox


def test_seeding_gives_each_organization_an_inactive_webhook_with_a_logged_delivery_and_sends_nothing():
    from django.core.management import call_command  # noqa: PLC0415

    from taskhub.webhooks.models import Delivery, Event  # noqa: PLC0415

    call_command("seed_tenants", organizations=2, projects=1, tasks=2, prefix="hook")

    with rls.bypass("test: read the seeded rows"):
        webhooks = list(Webhook.objects.all())
        assert len(webhooks) == 2
        assert not any(webhook.active for webhook in webhooks)
        for webhook in webhooks:
            assert Event.objects.filter(organization_id=webhook.organization_id).count() == 1
            assert Delivery.objects.filter(webhook=webhook).count() == 1
