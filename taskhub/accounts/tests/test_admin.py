import pytest

from taskhub.accounts.models import User


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
