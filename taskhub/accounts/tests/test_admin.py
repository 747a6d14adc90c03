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
