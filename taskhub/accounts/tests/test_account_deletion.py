"""A user deleting their account: refused as a last owner; else their work stays, unassigned, everywhere."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.models import AccountToken, ApiKey, User
from taskhub.accounts.services.api_keys import api_key_create
from taskhub.accounts.tokens import token_pair
from taskhub.audit.models import AuditEvent
from taskhub.comments.models import Comment
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.organizations.models import Membership, Organization
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role

ME = "/api/v1/auth/me/"


def _client(membership: Membership) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(membership)['access']}")
    return client


def _delete(client: APIClient, password: str = PASSWORD):
    return client.delete(ME, {"password": password}, format="json")


def _work(organization: Organization, user: User, key: str) -> Task:
    """A project, a task assigned to and created by ``user``, and a comment they wrote, in ``organization``."""
    project = Project.objects.create(organization=organization, key=key, name=key, created_by=user)
    task = Task.objects.create(
        organization=organization, project=project, number=1, title="Theirs", assignee=user, created_by=user
    )
    Comment.objects.create(organization=organization, task=task, author=user, body="mine")
    return task


@pytest.fixture
def leaver(tenant_a, tenant_b):
    """A member of A, an admin of B with an API key there, and a former member of C who left a task behind."""
    user = tenant_a.users[Role.MEMBER]
    with rls.bypass("test fixture"):
        in_b = Membership.objects.create(organization=tenant_b.organization, user=user, role=Role.ADMIN)
        tasks = [_work(tenant_a.organization, user, "AAA"), _work(tenant_b.organization, user, "BBB")]
        former = Organization.objects.create(name="Org C", slug="org-c")
        Membership.objects.create(organization=former, user=tenant_a.owner, role=Role.OWNER)
        tasks.append(_work(former, user, "CCC"))
    with rls.scoped(organization_id=tenant_b.organization.pk):
        api_key, _ = api_key_create(
            organization_id=tenant_b.organization.pk, actor=Actor(user_id=user.pk), name="theirs", role="member"
        )
    return {"user": user, "in_a": tenant_a.memberships[Role.MEMBER], "in_b": in_b, "tasks": tasks, "key": api_key}


@pytest.mark.django_db
def test_deleting_an_account_keeps_its_tasks_unassigned_in_every_organization(leaver, tenant_a, tenant_b):
    user = leaver["user"]
    client = _client(leaver["in_a"])
    other_session = _client(leaver["in_b"])

    response = _delete(client)

    assert response.status_code == 204, response.content
    assert not User.objects.filter(pk=user.pk).exists()
    assert not AccountToken.objects.filter(user_id=user.pk).exists()
    with rls.bypass("test assertions"):
        assert not Membership.objects.filter(user_id=user.pk).exists()
        tasks = list(Task.objects.filter(pk__in=[task.pk for task in leaver["tasks"]]))
        assert len(tasks) == 3
        assert {(task.assignee_id, task.created_by_id) for task in tasks} == {(None, None)}
        assert set(Comment.objects.values_list("body", "author_id")) == {("mine", None)}
        assert set(Project.objects.values_list("created_by_id", flat=True)) == {None}
        key = ApiKey.objects.get(pk=leaver["key"].pk)
        assert key.revoked_at is not None
        deleted = AuditEvent.objects.filter(action="user.deleted")
        assert sorted(deleted.values_list("organization_id", flat=True)) == sorted(
            [tenant_a.organization.pk, tenant_b.organization.pk]
        )
        assert set(deleted.values_list("actor_label", flat=True)) == {user.username}
    # Every token the user held stops working, in every organization.
    assert client.get(ME).status_code == 401
    assert other_session.get(ME).status_code == 401


@pytest.mark.django_db
def test_the_last_owner_of_an_organization_cannot_delete_their_account(tenant_a, tenant_b):
    owner = tenant_a.owner
    with rls.bypass("test fixture"):
        Membership.objects.create(organization=tenant_b.organization, user=owner, role=Role.MEMBER)

    response = _delete(_client(tenant_a.memberships[Role.OWNER]))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "last_owner"
    assert '"Org A"' in body["detail"]
    assert "Org B" not in body["detail"]
    assert User.objects.filter(pk=owner.pk).exists()
    with rls.bypass("test assertions"):
        assert Membership.objects.filter(user=owner).count() == 2
        assert not AuditEvent.objects.filter(action="user.deleted").exists()


@pytest.mark.django_db
def test_an_owner_who_shares_ownership_can_delete_their_account(tenant_a, make_user):
    with rls.bypass("test fixture"):
        co_owner = make_user("co-owner")
        Membership.objects.create(organization=tenant_a.organization, user=co_owner, role=Role.OWNER)
    assert _delete(_client(tenant_a.memberships[Role.OWNER])).status_code == 204
    assert not User.objects.filter(pk=tenant_a.owner.pk).exists()


@pytest.mark.django_db
def test_a_wrong_password_deletes_nothing(tenant_a):
    member = tenant_a.users[Role.MEMBER]
    response = _delete(_client(tenant_a.memberships[Role.MEMBER]), "wrong-password")
    assert response.status_code == 400
    assert response.json()["code"] == "wrong_password"
    assert User.objects.filter(pk=member.pk).exists()


@pytest.mark.django_db
def test_an_api_key_cannot_delete_an_account(tenant_a):
    with rls.scoped(organization_id=tenant_a.organization.pk):
        _, key = api_key_create(
            organization_id=tenant_a.organization.pk, actor=Actor(user_id=tenant_a.owner.pk), name="ci", role="member"
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = _delete(client)
    assert response.status_code == 403
    assert response.json()["code"] == "api_key_bound"


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"password": 5}, {"password": ""}, [], {"password": "x" * 129}])
def test_account_deletion_refuses_bad_input_with_a_json_400(tenant_a, body):
    response = _client(tenant_a.memberships[Role.MEMBER]).delete(ME, body, format="json")
    assert response.status_code == 400, response.content
    assert {"detail", "code"} <= set(response.json())
    assert User.objects.filter(pk=tenant_a.users[Role.MEMBER].pk).exists()


_ACTIONS = {"SET_NULL": "n", "CASCADE": "c"}


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own foreign-key actions")
def test_every_foreign_key_to_the_user_acts_in_the_database_as_its_field_declares():
    """Django emulates on_delete in Python, which row-level security limits to one organization's rows."""
    declared = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.local_fields:
            if isinstance(field, models.ForeignKey) and field.related_model is User:
                action = _ACTIONS.get(field.remote_field.on_delete.__name__)
                if action is not None:
                    declared[(model._meta.db_table, field.column)] = action
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, a.attname, c.confdeltype FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.confrelid = %s::regclass
            """,
            [User._meta.db_table],
        )
        actual = {(table.strip('"'), column): action for table, column, action in cursor.fetchall()}
    assert declared
    assert {key: actual.get(key) for key in declared} == declared
