import base64

import pytest

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.audit.models import AuditEvent
from taskhub.organizations.models import Membership
from taskhub.tenancy.roles import Role


def url(membership):
    return f"/api/v1/members/{membership.pk}/"


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_every_role_lists_members_of_its_own_organization_only(clients_a, tenant_b, role):
    response = clients_a[role].get("/api/v1/members/")
    assert response.status_code == 200
    usernames = {m["user"]["username"] for m in response.json()["results"]}
    assert usernames == {"owner-a", "admin-a", "member-a", "viewer-a"}


@pytest.mark.django_db
def test_members_filter_by_role_and_search_by_username(clients_a):
    admins = clients_a[Role.VIEWER].get("/api/v1/members/?role=admin").json()["results"]
    assert [m["user"]["username"] for m in admins] == ["admin-a"]
    found = clients_a[Role.VIEWER].get("/api/v1/members/?search=viewer").json()["results"]
    assert [m["user"]["username"] for m in found] == ["viewer-a"]
    assert clients_a[Role.VIEWER].get("/api/v1/members/?role=emperor").status_code == 400


@pytest.mark.django_db
def test_another_organizations_member_is_404_for_every_method(clients_a, tenant_b):
    foreign = tenant_b.memberships[Role.MEMBER]
    owner = clients_a[Role.OWNER]
    assert owner.get(url(foreign)).status_code == 404
    assert owner.patch(url(foreign), {"role": "viewer"}).status_code == 404
    assert owner.delete(url(foreign)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.MEMBER


@pytest.mark.django_db
def test_admin_changes_a_members_role_and_it_is_audited(clients_a, tenant_a):
    target = tenant_a.memberships[Role.MEMBER]
    response = clients_a[Role.ADMIN].patch(url(target), {"role": "viewer"}, HTTP_X_REQUEST_ID="req-role-change-1")
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.changes == {"role": ["member", "viewer"]}
    assert event.actor_user_id == tenant_a.users[Role.ADMIN].pk
    assert event.actor_label == "admin-a"
    assert event.request_id == "req-role-change-1"
    assert event.ip_address == "127.0.0.1"


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_change_roles(clients_a, tenant_a, role):
    response = clients_a[role].patch(url(tenant_a.memberships[Role.VIEWER]), {"role": "admin"})
    assert response.status_code == 403
    assert Membership.objects.get(pk=tenant_a.memberships[Role.VIEWER].pk).role == Role.VIEWER


@pytest.mark.django_db
def test_only_owners_grant_or_take_the_owner_role(clients_a, tenant_a):
    admin = clients_a[Role.ADMIN]
    assert admin.patch(url(tenant_a.memberships[Role.MEMBER]), {"role": "owner"}).status_code == 403
    assert admin.patch(url(tenant_a.memberships[Role.OWNER]), {"role": "member"}).status_code == 403
    assert admin.delete(url(tenant_a.memberships[Role.OWNER])).status_code == 403
    owner = clients_a[Role.OWNER]
    assert owner.patch(url(tenant_a.memberships[Role.MEMBER]), {"role": "owner"}).status_code == 200


@pytest.mark.django_db
def test_the_last_owner_can_neither_be_demoted_nor_leave(clients_a, tenant_a):
    owner = clients_a[Role.OWNER]
    own = tenant_a.memberships[Role.OWNER]
    demote = owner.patch(url(own), {"role": "admin"})
    assert demote.status_code == 400
    assert demote.json()["code"] == "last_owner"
    leave = owner.delete(url(own))
    assert leave.status_code == 400
    assert leave.json()["code"] == "last_owner"
    assert Membership.objects.get(pk=own.pk).role == Role.OWNER


@pytest.mark.django_db
def test_an_owner_may_leave_when_another_owner_remains(clients_a, tenant_a, client_for):
    clients_a[Role.OWNER].patch(url(tenant_a.memberships[Role.ADMIN]), {"role": "owner"})
    owner = client_for(tenant_a.memberships[Role.OWNER])
    assert owner.delete(url(tenant_a.memberships[Role.OWNER])).status_code == 204
    assert not Membership.objects.filter(pk=tenant_a.memberships[Role.OWNER].pk).exists()


@pytest.mark.django_db
def test_a_viewer_may_leave_but_not_remove_others(clients_a, tenant_a):
    viewer = clients_a[Role.VIEWER]
    assert viewer.delete(url(tenant_a.memberships[Role.MEMBER])).status_code == 403
    assert viewer.delete(url(tenant_a.memberships[Role.VIEWER])).status_code == 204
    assert AuditEvent.objects.filter(action="member.left").count() == 1


@pytest.mark.django_db
def test_invalid_role_names_the_field(clients_a, tenant_a):
    response = clients_a[Role.OWNER].patch(url(tenant_a.memberships[Role.MEMBER]), {"role": "emperor"})
    assert response.status_code == 400
    assert response.json()["errors"]["role"][0]["code"] == "invalid_choice"


@pytest.mark.django_db
def test_patch_without_a_role_changes_nothing(clients_a, tenant_a):
    # Found by schemathesis: the schema's PATCH body has no required field, yet {} answered 400.
    membership = tenant_a.memberships[Role.MEMBER]
    response = clients_a[Role.ADMIN].patch(url(membership), {})

    assert response.status_code == 200, response.content
    assert response.json()["role"] == Role.MEMBER
    assert not AuditEvent.objects.filter(action="member.role_changed").exists()


@pytest.mark.django_db
def test_members_list_costs_a_fixed_number_of_queries(clients_a, make_user, tenant_a, django_assert_num_queries):
    client = clients_a[Role.VIEWER]
    client.get("/api/v1/members/")
    with django_assert_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        client.get("/api/v1/members/")
    for index in range(10):
        Membership.objects.create(organization=tenant_a.organization, user=make_user(f"extra-{index}"))
    with django_assert_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert len(client.get("/api/v1/members/").json()["results"]) == 14


@pytest.mark.django_db
def test_a_tampered_cursor_answers_404_not_500(clients_a):
    cursor = base64.b64encode(b"p=garbage").decode()
    response = clients_a[Role.VIEWER].get(f"/api/v1/members/?cursor={cursor}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid cursor"
