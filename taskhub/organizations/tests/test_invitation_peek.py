"""invitation_peek: what the accept-invitation page shows before anyone signs in, reading and changing nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import as_app_role
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.organizations.models import Invitation, Organization
from taskhub.organizations.services.invitations import InvitationPreview, invitation_create, invitation_peek
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")


def _invite(tenant, email: str = "guest@example.com", role: str = "viewer") -> str:
    with rls.scoped(organization_id=tenant.organization.pk):
        invitation_create(
            organization_id=tenant.organization.pk,
            actor=Actor(user_id=tenant.users[Role.ADMIN].pk),
            actor_role=Role.ADMIN,
            email=email,
            role=role,
        )
    match = re.search(r"/account/accept-invitation/\?token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match
    return match.group(1)


def test_peek_shows_who_invites_whom_where(tenant_a):
    token = _invite(tenant_a)
    invitation = Invitation.objects.get()
    assert invitation_peek(token=token) == InvitationPreview(
        organization_name="Org A", role="viewer", email="guest@example.com", expires_at=invitation.expires_at
    )


def test_peek_locks_and_uses_up_nothing(tenant_a):
    token = _invite(tenant_a)
    before = Invitation.objects.values().get()
    with CaptureQueriesContext(connection) as queries:
        assert invitation_peek(token=token) is not None
        assert invitation_peek(token=token) is not None
    assert not [query["sql"] for query in queries if "FOR UPDATE" in query["sql"].upper()]
    assert not [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert Invitation.objects.values().get() == before
    # The token still does its job afterwards.
    response = APIClient().post(
        "/api/v1/invitations/accept/",
        {"token": token, "username": "guest", "password": "plum-tractor-lantern-58"},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_peek_shows_nothing_for_a_token_that_opens_no_pending_invitation(tenant_a):
    accepted, revoked, expired = (_invite(tenant_a, f"{name}@example.com") for name in ("a", "r", "e"))
    now = timezone.now()
    Invitation.objects.filter(email="a@example.com").update(accepted_at=now)
    Invitation.objects.filter(email="r@example.com").update(revoked_at=now)
    Invitation.objects.filter(email="e@example.com").update(expires_at=now - timedelta(seconds=1))
    for token in (accepted, revoked, expired, "no-such-token", ""):
        assert invitation_peek(token=token) is None


def test_peek_shows_the_organization_name_clean_whatever_the_row_holds(tenant_a):
    token = _invite(tenant_a)
    Organization.objects.filter(pk=tenant_a.organization.pk).update(name="\u202eOld\nName")
    preview = invitation_peek(token=token)
    assert preview is not None
    assert preview.organization_name == "Old Name"


@postgresql_only
def test_peek_works_as_the_app_role_with_no_tenant_context(tenant_a, tenant_b):
    token = _invite(tenant_a)
    _invite(tenant_b, "other@example.com")
    with as_app_role():
        # The wall is up: with no context the app role sees no invitation at all...
        with rls.scoped():
            assert not Invitation.objects.exists()
        # ...yet the token holder's one shows, and only it.
        preview = invitation_peek(token=token)
        with rls.scoped():
            assert not Invitation.objects.exists()
    assert preview is not None
    assert (preview.organization_name, preview.email) == ("Org A", "guest@example.com")


@postgresql_only
def test_peek_inside_a_request_transaction_leaves_its_tenant_context_as_it_was(tenant_a, tenant_b):
    token = _invite(tenant_b)
    with as_app_role(), rls.scoped(organization_id=tenant_a.organization.pk):
        assert invitation_peek(token=token) is not None
        # Back in A's context: B's invitation is out of sight again.
        assert not Invitation.objects.filter(organization=tenant_b.organization).exists()
