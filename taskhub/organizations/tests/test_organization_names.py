"""Organization names are shown to others and slugs typed by them: one visible line; unique in any case."""

from __future__ import annotations

import importlib
import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.lookups import Exact
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError
from taskhub.core.text import single_line
from taskhub.organizations.models import Organization
from taskhub.organizations.selectors import membership_for_token, organization_by_reference
from taskhub.organizations.services import organizations
from taskhub.organizations.services.invitations import invitation_create
from taskhub.organizations.services.organizations import organization_create, organization_update
from taskhub.tenancy.roles import Role

URL = "/api/v1/organization/"

pytestmark = pytest.mark.django_db

EVIL_NAMES = [
    ("Acme\nBcc: x@y", "Acme Bcc: x@y"),
    ("Acme\r\nSubject: urgent", "Acme Subject: urgent"),
    ("\u202eevil", "evil"),
    ("Pay\u200bPal\u2060 \ufeffInc", "PayPal Inc"),
    ("  Tabs\tand\x07bell\x1b[31m  ", "Tabs andbell[31m"),
    ("Line\u2028Separator", "Line Separator"),
    ("\u2066Isolated\u2069 name\u200e", "Isolated name"),
]


@pytest.mark.parametrize(("given", "stored"), EVIL_NAMES)
def test_single_line_drops_control_and_format_characters(given, stored):
    assert single_line(given) == stored


@pytest.mark.parametrize(("given", "stored"), EVIL_NAMES)
def test_renaming_stores_the_name_without_control_or_format_characters(clients_a, tenant_a, given, stored):
    response = clients_a[Role.ADMIN].patch(URL, {"name": given}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == stored
    tenant_a.organization.refresh_from_db()
    assert tenant_a.organization.name == stored


@pytest.mark.parametrize("given", ["\u202e", "\u200b\u200d", "\u202e \n\t ", "\x07\x1b"])
def test_a_name_with_nothing_visible_is_400_and_nothing_changes(clients_a, tenant_a, given):
    response = clients_a[Role.ADMIN].patch(URL, {"name": given, "slug": "renamed"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The name has no visible characters.",
        "code": "name_invalid",
        "errors": {"name": [{"message": "The name has no visible characters.", "code": "name_invalid"}]},
    }
    tenant_a.organization.refresh_from_db()
    assert (tenant_a.organization.name, tenant_a.organization.slug) == ("Org A", "org-a")


@pytest.mark.parametrize(("given", "stored"), EVIL_NAMES[:3])
def test_creating_an_organization_cleans_its_name(make_user, given, stored):
    # Registration creates organizations through organization_create, like the seed commands.
    with transaction.atomic():
        organization, _ = organization_create(name=given, owner=make_user("founder"))
    assert organization.name == stored
    assert Organization.objects.get(pk=organization.pk).name == stored


def test_creating_an_organization_with_nothing_visible_in_its_name_is_refused(make_user):
    with pytest.raises(DomainError) as refused:
        organization_create(name="\u202e\u200b\x00", owner=make_user("founder"))
    assert (refused.value.code, refused.value.field) == ("name_invalid", "name")
    assert not Organization.objects.filter(memberships__user__username="founder").exists()


def _register(organization_name: str) -> Any:
    return APIClient().post(
        "/api/v1/auth/register/",
        {
            "username": "founder",
            "email": "founder@example.com",
            "password": PASSWORD,
            "organization_name": organization_name,
        },
        format="json",
    )


def test_registering_cleans_the_organization_name():
    response = _register("Acme\nBcc: x@y\u202e")
    assert response.status_code == 201, response.content
    assert response.json()["organization"]["name"] == "Acme Bcc: x@y"
    assert Organization.objects.get(memberships__user__username="founder").name == "Acme Bcc: x@y"


def test_registering_with_nothing_visible_in_the_organization_name_is_400_naming_that_field():
    response = _register("\u202e\u200b")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "organization_name": [{"message": "The name has no visible characters.", "code": "name_invalid"}]
    }
    assert not Organization.objects.exists()
    assert not User.objects.filter(username="founder").exists()


def _invite(tenant: Any, email: str = "guest@example.com") -> None:
    with rls.scoped(organization_id=tenant.organization.pk):
        invitation_create(
            organization_id=tenant.organization.pk,
            actor=Actor(user_id=tenant.users[Role.ADMIN].pk),
            actor_role=Role.ADMIN,
            email=email,
            role="member",
        )


@pytest.mark.parametrize(("given", "stored"), [("Acme\nBcc: x@y", "Acme Bcc: x@y"), ("\u202eevil", "evil")])
def test_an_evil_name_set_through_the_api_is_safe_and_quoted_in_the_invitation_email(
    clients_a, tenant_a, given, stored
):
    assert clients_a[Role.OWNER].patch(URL, {"name": given}, format="json").status_code == 200
    tenant_a.organization.refresh_from_db()
    _invite(tenant_a)
    message = mail.outbox[-1]
    assert message.subject == f'You\'re invited to join "{stored}" on Taskhub'
    assert f'You have been invited to join "{stored}" on Taskhub as member.' in message.body
    assert message.bcc == []
    assert message.to == ["guest@example.com"]
    assert "\u202e" not in message.subject + message.body
    assert str(message.message()["Subject"]) == message.subject


def test_a_name_stored_before_the_rule_is_still_safe_in_the_invitation_email(tenant_a):
    # A row older than the cleaning: the email cleans it too.
    Organization.objects.filter(pk=tenant_a.organization.pk).update(name="Old\nBcc: x@y\u202e")
    tenant_a.organization.refresh_from_db()
    _invite(tenant_a)
    message = mail.outbox[-1]
    assert message.subject == 'You\'re invited to join "Old Bcc: x@y" on Taskhub'
    assert message.bcc == []
    assert re.search(r'join "Old Bcc: x@y" on Taskhub as member\.\n', message.body)


# Slugs


def test_a_slug_taken_in_another_case_is_a_conflict(clients_a, tenant_b):
    response = clients_a[Role.OWNER].patch(URL, {"slug": "ORG-B"}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"]["slug"][0]["code"] == "slug_taken"
    assert Organization.objects.get(pk=tenant_b.organization.pk).slug == "org-b"


def test_an_organization_may_change_the_case_of_its_own_slug(clients_a, tenant_a):
    response = clients_a[Role.OWNER].patch(URL, {"slug": "Org-A"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["slug"] == "Org-A"


def test_the_database_refuses_two_slugs_equal_but_for_case(tenant_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.objects.create(name="Shadow", slug="ORG-A")


def test_a_made_slug_skips_one_taken_in_another_case(make_user):
    Organization.objects.create(name="Upper", slug="ACME")
    Organization.objects.create(name="Upper 2", slug="Acme-2")
    with transaction.atomic():
        organization, _ = organization_create(name="Acme", owner=make_user("founder"))
    assert organization.slug == "acme-3"


def test_creating_with_a_slug_taken_in_another_case_is_a_conflict(tenant_a, make_user):
    with pytest.raises(DomainError) as refused:
        organization_create(name="Shadow", slug="ORG-A", owner=make_user("founder"))
    assert (refused.value.status_code, refused.value.code) == (409, "slug_taken")


def test_a_race_for_a_made_slug_takes_the_next_one(make_user, monkeypatch):
    # Both sign-ups found "acme" free; the other one's insert committed first.
    Organization.objects.create(name="First", slug="acme")
    answers = iter(["acme", "acme-2"])
    monkeypatch.setattr(organizations, "_unique_slug", lambda name: next(answers))
    with transaction.atomic():
        organization, _ = organization_create(name="Acme", owner=make_user("founder"))
    assert organization.slug == "acme-2"


def test_a_slug_taken_between_the_check_and_the_save_is_a_conflict(tenant_a, monkeypatch):
    Organization.objects.create(name="Quick", slug="QUICK")
    # The check ran before the other organization committed: it found nothing.
    monkeypatch.setattr(organizations, "slug_matches", lambda slug: Exact(Value(1), 0))
    with pytest.raises(DomainError) as refused, rls.scoped(organization_id=tenant_a.organization.pk):
        organization_update(organization_id=tenant_a.organization.pk, actor=Actor(user_id=None), slug="quick")
    assert (refused.value.status_code, refused.value.code, refused.value.field) == (409, "slug_taken", "slug")
    assert Organization.objects.get(pk=tenant_a.organization.pk).slug == "org-a"


@pytest.mark.parametrize("reference", ["org-a", "ORG-A", "Org-A"])
def test_organizations_are_found_by_slug_in_any_case(tenant_a, reference):
    assert organization_by_reference(reference=reference) == tenant_a.organization
    membership = membership_for_token(user_id=tenant_a.users[Role.MEMBER].pk, organization=reference)
    assert membership is not None
    assert membership.organization_id == tenant_a.organization.pk


def test_a_slug_reference_that_is_not_ascii_finds_nothing(tenant_a):
    Organization.objects.create(name="K", slug="k")
    # U+212A, the Kelvin sign, lowers to "k" in Python.
    assert organization_by_reference(reference="\u212a") is None


def test_signing_in_names_the_organization_by_slug_in_any_case(tenant_a):
    user = tenant_a.users[Role.MEMBER]
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD, "organization": "ORG-A"}, format="json"
    )
    assert response.status_code == 200, response.content


def test_update_through_the_service_cleans_the_name(tenant_a):
    with rls.scoped(organization_id=tenant_a.organization.pk):
        organization = organization_update(
            organization_id=tenant_a.organization.pk, actor=Actor(user_id=None), name="\u202eNew\nName"
        )
    assert organization.name == "New Name"


# The migration that added the rule


class _Row(SimpleNamespace):
    def save(self, update_fields: list[str]) -> None:
        self.saved = update_fields


def test_the_migration_makes_slugs_equal_but_for_case_distinct_and_cleans_names():
    migration = importlib.import_module("taskhub.organizations.migrations.0007_organization_slug_ci_unique")
    rows = [
        _Row(name="Acme", slug="acme", saved=None),
        _Row(name="Acme\nBcc: x@y", slug="ACME", saved=None),
        _Row(name="Taken", slug="Acme-2", saved=None),
        _Row(name="\u202e", slug="Acme", saved=None),
    ]
    manager = SimpleNamespace(order_by=lambda *fields: rows)
    apps = SimpleNamespace(get_model=lambda app, model: SimpleNamespace(objects=manager))

    migration.clean_names_and_slugs(apps, None)

    assert [(row.name, row.slug, row.saved) for row in rows] == [
        ("Acme", "acme", None),
        ("Acme Bcc: x@y", "ACME-3", ["name", "slug"]),
        ("Taken", "Acme-2", None),
        ("Acme", "Acme-4", ["name", "slug"]),
    ]
