"""Invitation services where HTTP cannot reach: cache outages, the email job, concurrent accepts."""

from __future__ import annotations

import logging
import re
import smtplib
import threading
import time
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection, connections, transaction
from django.utils import timezone

from taskhub.audit.models import AuditEvent
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError
from taskhub.organizations import jobs as organization_jobs
from taskhub.organizations.models import Invitation, InvitationDeliveryStatus, Membership
from taskhub.organizations.services import invitations
from taskhub.organizations.services.invitations import (
    invitation_accept,
    invitation_create,
    invitation_email_send,
    invitation_revoke,
)
from taskhub.tenancy.roles import Role


def _create(tenant: Any, email: str = "guest@example.com", role: str = "member") -> Invitation:
    admin = tenant.users[Role.ADMIN]
    # Services run inside a request's tenant scope; called directly, they get one here.
    with rls.scoped(organization_id=tenant.organization.pk):
        return invitation_create(
            organization_id=tenant.organization.pk,
            actor=Actor(user_id=admin.pk),
            actor_role=Role.ADMIN,
            email=email,
            role=role,
        )


def _token() -> str:
    match = re.search(r"token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match
    return match.group(1)


class BrokenCache:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("redis is down")

        return fail


@pytest.mark.django_db
def test_invitations_are_allowed_and_a_warning_logged_when_the_cache_is_down(tenant_a, settings, monkeypatch, caplog):
    settings.INVITATIONS_PER_HOUR = 1
    monkeypatch.setattr(invitations, "cache", BrokenCache())
    with caplog.at_level(logging.WARNING, logger=invitations.__name__):
        _create(tenant_a, "one@example.com")
        _create(tenant_a, "two@example.com")
    assert Invitation.objects.count() == 2
    assert any("rate limit not enforced" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_rate_limit_counts_in_a_cache_key_namespaced_by_organization(tenant_a):
    _create(tenant_a)
    window = int(time.time() // invitations.RATE_WINDOW_SECONDS)
    key = invitations.invitation_rate_cache_key(organization_id=tenant_a.organization.pk, window=window)
    assert key == f"org:{tenant_a.organization.pk}:invitations:{window}"
    assert cache.get(key) == 1


def _send(invitation: Invitation) -> bool:
    with rls.scoped(organization_id=invitation.organization_id):
        return invitation_email_send(organization_id=invitation.organization_id, invitation_id=invitation.pk)


@pytest.mark.django_db
def test_an_invitation_whose_email_cannot_be_sent_is_kept_failed_with_no_usable_token(tenant_a, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise smtplib.SMTPServerDisconnected("mail server gone")

    monkeypatch.setattr(invitations, "send_mail", refuse)
    invitation = _create(tenant_a, "unlucky@example.com")
    assert invitation.delivery_status == InvitationDeliveryStatus.FAILED
    assert invitation.delivery_error == "SMTPServerDisconnected: mail server gone"
    assert invitation.sent_at is None
    assert AuditEvent.objects.filter(action="invitation.created").count() == 1
    # The job's transaction rolled back: the hash is still the one of a token nobody was given.
    placeholder = invitation.token_hash
    monkeypatch.undo()
    assert _send(invitation)
    invitation.refresh_from_db()
    assert invitation.delivery_status == InvitationDeliveryStatus.SENT
    assert invitation.token_hash not in (placeholder, "")
    assert invitation.token_hash == invitations.hash_token(_token())


@pytest.mark.django_db
def test_each_send_makes_a_new_token_and_the_previous_link_stops_working(tenant_a):
    invitation = _create(tenant_a)
    first = _token()
    assert _send(invitation)
    second = _token()
    assert second != first
    invitation.refresh_from_db()
    assert invitation.token_hash == invitations.hash_token(second)


@pytest.mark.django_db
def test_the_job_sends_nothing_for_an_invitation_no_longer_pending(tenant_a):
    invitation = _create(tenant_a)
    with rls.scoped(organization_id=tenant_a.organization.pk):
        invitation_revoke(
            organization_id=tenant_a.organization.pk, invitation_id=invitation.pk, actor=Actor(user_id=None)
        )
    token_hash = Invitation.objects.get(pk=invitation.pk).token_hash
    # As the queue runs it: returns (no retry, no failure), no email, the invitation untouched.
    with rls.scoped(organization_id=tenant_a.organization.pk):
        organization_jobs.send_invitation_email(
            organization_id=tenant_a.organization.pk, invitation_id=str(invitation.pk)
        )
    assert len(mail.outbox) == 1
    assert Invitation.objects.get(pk=invitation.pk).token_hash == token_hash


@pytest.mark.django_db
def test_a_refused_address_fails_the_job_for_good(tenant_a, monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise smtplib.SMTPRecipientsRefused({"guest@example.com": (550, b"no such user")})

    monkeypatch.setattr(invitations, "send_mail", refuse)
    invitation = _create(tenant_a)
    assert invitation.delivery_status == InvitationDeliveryStatus.FAILED
    assert invitation.delivery_error == "PermanentJobError: the mail server refused the invitation's address"


@pytest.mark.django_db
def test_invitation_email_is_stored_with_a_lowercased_domain(tenant_a):
    invitation = _create(tenant_a, "  Mixed.Case@EXAMPLE.Org ")
    assert invitation.email == "Mixed.Case@example.org"


@pytest.mark.django_db
def test_a_role_without_invitation_manage_is_refused_by_the_service(tenant_a):
    member = tenant_a.users[Role.MEMBER]
    with pytest.raises(DomainError) as refused:
        invitation_create(
            organization_id=tenant_a.organization.pk,
            actor=Actor(user_id=member.pk),
            actor_role=Role.MEMBER,
            email="x@example.com",
            role="viewer",
        )
    assert refused.value.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_accept_waits_for_the_lock_and_is_refused_once_used(tenant_a, tenant_b):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serializes whole transactions")
    _create(tenant_a)
    token = _token()
    with rls.bypass("test"):
        invitation = Invitation.objects.get()
    late_user = tenant_b.users[Role.VIEWER]
    outcome: dict[str, Any] = {}

    def accept_in_thread() -> None:
        try:
            invitation_accept(token=token, user_id=late_user.pk, actor=Actor(user_id=late_user.pk))
            outcome["result"] = "accepted"
        except DomainError as exc:
            outcome["result"] = exc.code
        finally:
            connections.close_all()

    # The test body is the platform role (conftest.py): it sees the invitation without a context.
    with transaction.atomic():
        # Another accept holds the row: lock it here and use it up before letting go.
        Invitation.objects.select_for_update().get(pk=invitation.pk)
        thread = threading.Thread(target=accept_in_thread)
        thread.start()
        deadline = time.monotonic() + 10
        while not _a_session_waits_on_a_lock():
            assert time.monotonic() < deadline, "the second accept did not wait for the row lock"
            assert thread.is_alive(), f"the second accept did not wait: {outcome}"
            time.sleep(0.05)
        first_user = tenant_b.users[Role.MEMBER]
        Membership.objects.create(organization=tenant_a.organization, user=first_user, role=Role.MEMBER)
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now(), accepted_by=first_user)
    thread.join(timeout=10)

    assert outcome == {"result": "invitation_used"}
    with rls.bypass("test"):
        assert not Membership.objects.filter(organization=tenant_a.organization, user=late_user).exists()
        invitation.refresh_from_db()
    assert invitation.accepted_by_id == tenant_b.users[Role.MEMBER].pk


def _a_session_waits_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        # Statistics views answer from a snapshot taken once per transaction: take a new one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


@pytest.mark.django_db
def test_invitation_email_subject_stays_one_line_whatever_the_organization_name(tenant_a):
    tenant_a.organization.name = "Evil\nBcc: victim@example.com"
    tenant_a.organization.save()
    _create(tenant_a)
    assert "\n" not in mail.outbox[-1].subject
    assert mail.outbox[-1].bcc == []
