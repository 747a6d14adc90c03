import pytest

from taskhub.accounts.models import User
from taskhub.accounts.tokens import token_pair
from taskhub.tenancy.roles import Role


@pytest.mark.django_db
def test_staff_can_sign_in_to_admin(client):
    User.objects.create_superuser(username="root", email="root@example.com", password="a-strong-pass-42")
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": "a-strong-pass-42", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


@pytest.mark.django_db
def test_admin_pages_for_tenant_data_render_without_secrets(client, tenant_a):
    User.objects.create_superuser(username="root", email="root@example.com", password="a-strong-pass-42")
    client.force_login(User.objects.get(username="root"))
    for page in (
        "/admin/organizations/organization/",
        f"/admin/organizations/organization/{tenant_a.organization.pk}/change/",
        "/admin/organizations/membership/",
        "/admin/organizations/invitation/",
        "/admin/accounts/apikey/",
        "/admin/audit/auditevent/",
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        assert b"key_hash" not in response.content
        assert b"token_hash" not in response.content


@pytest.mark.django_db
def test_deactivating_a_user_in_the_admin_ends_their_tokens_at_once(client, api_client, tenant_a, client_for):
    member = tenant_a.users[Role.MEMBER]
    member_client = client_for(tenant_a.memberships[Role.MEMBER])
    refresh = token_pair(tenant_a.memberships[Role.MEMBER])["refresh"]
    assert member_client.get("/api/v1/auth/me/").status_code == 200  # the token version is now cached
    User.objects.create_superuser(username="root", email="root@example.com", password="a-strong-pass-42")
    client.force_login(User.objects.get(username="root"))
    response = client.post(
        f"/admin/accounts/user/{member.pk}/change/",
        {
            "username": member.username,
            "email": member.email,
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            # is_active left out: the checkbox is unticked.
        },
    )
    assert response.status_code == 302, response.content[:500]
    member.refresh_from_db()
    assert not member.is_active
    assert member_client.get("/api/v1/auth/me/").status_code == 401
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 401
