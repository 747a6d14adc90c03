"""Secrets never enter the audit log: redacted in ``audit_record`` whatever the caller passes.

The whole suite is the other half of the proof: every event any test writes is checked for the
secrets the suite handled (tests/support/audit_secrets.py); the last tests here show that check
catches a leak.
"""

from __future__ import annotations

import pytest

from taskhub.audit import chain
from taskhub.audit.models import AuditEvent
from taskhub.audit.redaction import REDACTED, redact, redact_text, secret_name
from taskhub.audit.services import audit_record
from taskhub.core.actor import Actor
from taskhub.tenancy.roles import Role
from tests.support import audit_secrets

API_KEY = "th_0123456789ab_" + "S" * 43
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0IGJ5dGVzIGZvciB0aGUgd2ViaG9vaw=="
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "new_password",
        "Current-Password",
        "token",
        "refresh_token",
        "secret",
        "webhook_secret",
        "previous_secret",
        "Authorization",
        "cookie",
        "signature",
        "credentials",
        "api_key",
        "signing_key",
        "private_key",
        "key_hash",
        "token_hash",
    ],
)
def test_a_field_that_names_a_secret_is_redacted(name):
    assert secret_name(name)
    assert redact({name: ["old value", "new value"]}) == {name: [REDACTED, REDACTED]}


@pytest.mark.parametrize("name", ["key", "token_version", "previous_secret_expires_at", "name", "keyboard", "author"])
def test_a_field_that_only_mentions_a_secret_is_kept(name):
    assert not secret_name(name)
    assert redact({name: ["a", "b"]}) == {name: ["a", "b"]}


def test_set_and_cleared_stay_visible_and_ids_are_not_secrets():
    key_id = "5d5e224b-05cb-415d-9944-4f1e62a17f97"
    assert redact({"password": [None, "hunter2hunter2"], "api_key": [None, key_id]}) == {
        "password": [None, REDACTED],
        "api_key": [None, key_id],
    }


def test_redaction_reaches_any_depth():
    nested = {"request": {"headers": {"Authorization": "Bearer abc.def.ghi", "Accept": "json"}}, "list": [{"token": 1}]}

    assert redact(nested) == {
        "request": {"headers": {"Authorization": REDACTED, "Accept": "json"}},
        "list": [{"token": REDACTED}],
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"key {API_KEY} used", f"key th_0123456789ab_{REDACTED} used"),
        (f"secret {WEBHOOK_SECRET}", f"secret whsec_{REDACTED}"),
        (f"token {JWT}", f"token {REDACTED}"),
        ("Authorization: Bearer abcdefgh12345678", f"Authorization: Bearer {REDACTED}"),
        ("https://alice:hunter22@hooks.example.com/x", f"https://{REDACTED}@hooks.example.com/x"),
        (
            "https://hooks.example.com/x?token=abc123&author=bo",
            f"https://hooks.example.com/x?token={REDACTED}&author=bo",
        ),
        (
            "https://hooks.example.com/x?api_key=abc&sig=1",
            f"https://hooks.example.com/x?api_key={REDACTED}&sig={REDACTED}",
        ),
        ("a design sign-up note", "a design sign-up note"),
    ],
)
def test_a_value_that_looks_like_a_secret_is_redacted_under_any_name(text, shown):
    assert redact_text(text) == shown
    assert redact({"description": [None, text]}) == {"description": [None, shown]}


@pytest.mark.django_db
def test_audit_record_redacts_whatever_the_caller_passes(tenant_a):
    organization = tenant_a.organization
    organization.name = f"Acme {API_KEY}"

    event = audit_record(
        organization_id=organization.pk,
        actor=Actor(user_id=None, label=f"ci {WEBHOOK_SECRET}"),
        action="webhook.created",
        target=organization,
        changes={"secret": [None, WEBHOOK_SECRET], "url": [None, "https://u:p4ssw0rd@example.com/?token=x1"]},
    )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.changes == {
        "secret": [None, REDACTED],
        "url": [None, f"https://{REDACTED}@example.com/?token={REDACTED}"],
    }
    assert stored.target_label == f"Acme th_0123456789ab_{REDACTED}"
    assert stored.actor_label == f"ci whsec_{REDACTED}"
    # Redacted before hashing: the chain holds over what is stored.
    assert chain.verify(organization.pk).ok


def test_an_api_key_created_through_the_api_never_reaches_its_event(clients_a, tenant_a):
    created = clients_a[Role.ADMIN].post("/api/v1/api-keys/", {"name": "ci", "role": "viewer"}).json()

    text = str(list(AuditEvent.objects.filter(organization=tenant_a.organization).values()))
    assert created["key"] not in text
    assert created["key"].split("_", 2)[2] not in text  # th_<prefix>_<secret>: the secret alone


# -- the suite-wide check catches a leak ------------------------------------------------------------


@pytest.mark.django_db
def test_the_suite_wide_check_refuses_an_event_holding_a_secret_the_suite_handled(tenant_a):
    secret = "correct-horse-battery-9"  # the fixtures' password, remembered when they hashed it
    leaked = AuditEvent(
        organization_id=tenant_a.organization.pk,
        action="x.leaked",
        target_type="organizations.organization",
        target_label="fine",
        changes={"note": [None, f"the password is {secret}"]},
    )

    assert audit_secrets.leaks(leaked) == ["a secret the suite handled (corr...)"]
    # Written through the chain (past audit_record's redaction, which a field called "note" escapes),
    # the event is refused and the test that wrote it would fail.
    with pytest.raises(AssertionError, match=r"x\.leaked on organizations\.organization holds a secret"):
        chain.append(leaked)
    audit_secrets._leaks.clear()  # this test's leak was on purpose
    assert not AuditEvent.objects.filter(action="x.leaked").exists()


def test_the_suite_wide_check_knows_secrets_by_their_look():
    for value, kind in ((API_KEY, "an API key"), (WEBHOOK_SECRET, "a webhook secret"), (JWT, "a JSON Web Token")):
        event = AuditEvent(actor_label="", target_label=f"x {value}", request_id="", changes={})
        assert kind in audit_secrets.leaks(event)
