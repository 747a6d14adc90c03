import jwt
import pytest
from django.conf import settings

from conftest import PASSWORD, TENANT_REQUEST_OVERHEAD
from taskhub.accounts.models import User
from taskhub.accounts.tokens import token_pair
from taskhub.organizations.models import Membership, Organization
from taskhub.tenancy.roles import Role

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
VERIFY = "/api/v1/auth/token/verify/"
LOGOUT = "/api/v1/auth/logout/"
SWITCH = "/api/v1/auth/switch/"
ME = "/api/v1/auth/me/"
PASSWORD_CHANGE = "/api/v1/auth/password/change/"


def bearer(client, access):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def claims(access):
    return jwt.decode(access, options={"verify_signature": False})


@pytest.mark.django_db
def test_register_creates_user_and_organization_owned_by_them(api_client):
    response = api_client.post(
        REGISTER,
        {"username": "ada", "email": "ada@example.com", "password": PASSWORD, "organization_name": "Analytical"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["username"] == "ada"
    assert body["organization"]["slug"] == "analytical"
    membership = Membership.objects.get(user__username="ada")
    assert membership.role == Role.OWNER
    assert str(membership.organization_id) == body["organization"]["id"]
    me = bearer(api_client, body["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["role"] == "owner"


@pytest.mark.django_db
def test_register_refuses_taken_username_and_weak_password(api_client, make_user):
    make_user("taken")
    taken = api_client.post(
        REGISTER,
        {"username": "TAKEN", "email": "t2@example.com", "password": PASSWORD, "organization_name": "X"},
        format="json",
    )
    assert taken.status_code == 400
    assert taken.json()["errors"]["username"][0]["code"] == "username_taken"
    weak = api_client.post(
        REGISTER,
        {"username": "newbie", "email": "n@example.com", "password": "123", "organization_name": "X"},
        format="json",
    )
    assert weak.status_code == 400
    assert "password" in weak.json()["errors"]
    assert not User.objects.filter(username="newbie").exists()
    assert not Organization.objects.filter(name="X").exists()


@pytest.mark.django_db
def test_register_names_each_missing_field(api_client):
    response = api_client.post(REGISTER, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "email", "password", "organization_name"}


@pytest.mark.django_db
def test_register_is_off_when_signup_disabled(api_client, settings):
    settings.SIGNUP_ENABLED = False
    response = api_client.post(
        REGISTER,
        {"username": "ada", "email": "ada@example.com", "password": PASSWORD, "organization_name": "A"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "signup_disabled"
    assert not User.objects.exists()


@pytest.mark.django_db
def test_token_carries_organization_role_version_issuer_and_audience(api_client, tenant_a):
    response = api_client.post(TOKEN, {"username": "admin-a", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    payload = claims(response.json()["access"])
    assert payload["org"] == str(tenant_a.organization.pk)
    assert payload["role"] == "admin"
    assert payload["mv"] == 1
    assert payload["iss"] == settings.SIMPLE_JWT["ISSUER"]
    assert payload["aud"] == settings.SIMPLE_JWT["AUDIENCE"]
    assert payload["jti"]
    assert payload["sub"] == str(tenant_a.users[Role.ADMIN].pk)
    assert payload["exp"] - payload["iat"] == 15 * 60
    assert claims(response.json()["refresh"])["exp"] - payload["iat"] == 7 * 86400


@pytest.mark.django_db
def test_unknown_user_and_wrong_password_answer_the_same_401(api_client, tenant_a):
    unknown = api_client.post(TOKEN, {"username": "nobody", "password": PASSWORD}, format="json")
    wrong = api_client.post(TOKEN, {"username": "admin-a", "password": "wrong-password-1"}, format="json")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


@pytest.mark.django_db
def test_token_for_a_named_organization_by_slug_or_id(api_client, tenant_a, tenant_b):
    user = tenant_a.users[Role.MEMBER]
    Membership.objects.create(organization=tenant_b.organization, user=user, role=Role.VIEWER)
    by_slug = api_client.post(
        TOKEN, {"username": user.username, "password": PASSWORD, "organization": "org-b"}, format="json"
    )
    assert claims(by_slug.json()["access"])["org"] == str(tenant_b.organization.pk)
    assert claims(by_slug.json()["access"])["role"] == "viewer"
    by_id = api_client.post(
        TOKEN,
        {"username": user.username, "password": PASSWORD, "organization": str(tenant_b.organization.pk)},
        format="json",
    )
    assert claims(by_id.json()["access"])["org"] == str(tenant_b.organization.pk)
    default = api_client.post(TOKEN, {"username": user.username, "password": PASSWORD}, format="json")
    assert claims(default.json()["access"])["org"] == str(tenant_a.organization.pk)


@pytest.mark.django_db
def test_token_for_an_organization_the_user_is_not_in_is_refused_like_a_missing_one(api_client, tenant_a, tenant_b):
    foreign = api_client.post(
        TOKEN, {"username": "owner-a", "password": PASSWORD, "organization": "org-b"}, format="json"
    )
    missing = api_client.post(
        TOKEN, {"username": "owner-a", "password": PASSWORD, "organization": "no-such-org"}, format="json"
    )
    assert foreign.status_code == missing.status_code == 403
    assert foreign.json() == missing.json()
    assert foreign.json()["code"] == "not_a_member"


@pytest.mark.django_db
def test_refresh_rotates_and_the_old_refresh_token_stops_working(api_client, tenant_a):
    pair = api_client.post(TOKEN, {"username": "member-a", "password": PASSWORD}, format="json").json()
    rotated = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != pair["refresh"]
    replay = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_not_valid"
    assert api_client.post(REFRESH, {"refresh": rotated.json()["refresh"]}, format="json").status_code == 200


@pytest.mark.django_db
def test_refresh_after_a_role_change_issues_the_new_role(api_client, tenant_a, clients_a):
    member = tenant_a.memberships[Role.MEMBER]
    pair = token_pair(member)
    clients_a[Role.OWNER].patch(f"/api/v1/members/{member.pk}/", {"role": "admin"}, format="json")
    refreshed = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access"])["role"] == "admin"


@pytest.mark.django_db
def test_verify_accepts_live_access_and_refresh_tokens(api_client, tenant_a):
    # Forged, expired and revoked tokens are refused in test_jwt_forgery.py.
    pair = token_pair(tenant_a.memberships[Role.VIEWER])
    assert api_client.post(VERIFY, {"token": pair["access"]}, format="json").status_code == 200
    assert api_client.post(VERIFY, {"token": pair["refresh"]}, format="json").status_code == 200


@pytest.mark.django_db
def test_logout_ends_the_refresh_token_and_the_access_token_sent_with_it(api_client, tenant_a):
    pair = token_pair(tenant_a.memberships[Role.MEMBER])
    other = token_pair(tenant_a.memberships[Role.MEMBER])
    response = bearer(api_client, pair["access"]).post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 204
    assert api_client.get(ME).status_code == 401
    api_client.credentials()
    assert api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401
    # Another session of the same user is untouched.
    assert bearer(api_client, other["access"]).get(ME).status_code == 200


@pytest.mark.django_db
def test_logout_everywhere_ends_every_session_in_every_organization(api_client, tenant_a, tenant_b):
    user = tenant_a.users[Role.MEMBER]
    in_b = Membership.objects.create(organization=tenant_b.organization, user=user, role=Role.MEMBER)
    first, second, third = (
        token_pair(tenant_a.memberships[Role.MEMBER]),
        token_pair(tenant_a.memberships[Role.MEMBER]),
        token_pair(in_b),
    )
    response = api_client.post(LOGOUT, {"refresh": first["refresh"], "everywhere": True}, format="json")
    assert response.status_code == 204
    for pair in (first, second, third):
        assert bearer(api_client, pair["access"]).get(ME).status_code == 401
        api_client.credentials()
        assert api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401


@pytest.mark.django_db
def test_logout_with_an_invalid_refresh_token_is_401(api_client):
    response = api_client.post(LOGOUT, {"refresh": "not-a-token"}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_switch_issues_tokens_for_another_organization_of_the_user(tenant_a, tenant_b, client_for):
    user = tenant_a.users[Role.VIEWER]
    Membership.objects.create(organization=tenant_b.organization, user=user, role=Role.ADMIN)
    client = client_for(tenant_a.memberships[Role.VIEWER])
    response = client.post(SWITCH, {"organization": "org-b"}, format="json")
    assert response.status_code == 200
    bearer(client, response.json()["access"])
    me = client.get(ME).json()
    assert me["organization"]["slug"] == "org-b"
    assert me["role"] == "admin"
    members = client.get("/api/v1/members/").json()["results"]
    assert {m["user"]["username"] for m in members} == {"owner-b", "admin-b", "member-b", "viewer-b", "viewer-a"}


@pytest.mark.django_db
def test_switch_to_an_organization_the_user_is_not_in_is_403(clients_a, tenant_b):
    response = clients_a[Role.OWNER].post(SWITCH, {"organization": str(tenant_b.organization.pk)}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"


@pytest.mark.django_db
def test_me_lists_user_current_organization_role_and_memberships(clients_a, tenant_a, tenant_b):
    Membership.objects.create(organization=tenant_b.organization, user=tenant_a.owner, role=Role.VIEWER)
    body = clients_a[Role.OWNER].get(ME).json()
    assert body["user"]["username"] == "owner-a"
    assert body["organization"]["id"] == str(tenant_a.organization.pk)
    assert body["role"] == "owner"
    assert body["credential"] == "token"
    assert sorted((m["organization"]["slug"], m["role"]) for m in body["memberships"]) == [
        ("org-a", "owner"),
        ("org-b", "viewer"),
    ]


@pytest.mark.django_db
def test_me_without_credentials_is_401_with_bearer_challenge(api_client):
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_password_change_checks_the_old_password_and_validates_the_new(clients_a):
    client = clients_a[Role.MEMBER]
    wrong = client.post(PASSWORD_CHANGE, {"old_password": "nope", "new_password": "An0ther-good-one"}, format="json")
    assert wrong.status_code == 400
    assert "old_password" in wrong.json()["errors"]
    weak = client.post(PASSWORD_CHANGE, {"old_password": PASSWORD, "new_password": "1234"}, format="json")
    assert weak.status_code == 400
    assert "new_password" in weak.json()["errors"]


@pytest.mark.django_db
def test_password_change_ends_every_token_of_the_user(api_client, tenant_a, client_for):
    pair = api_client.post(TOKEN, {"username": "member-a", "password": PASSWORD}, format="json").json()
    client = bearer(api_client, pair["access"])
    response = client.post(
        PASSWORD_CHANGE, {"old_password": PASSWORD, "new_password": "An0ther-good-one"}, format="json"
    )
    assert response.status_code == 204
    assert client.get(ME).status_code == 401
    client.credentials()
    assert client.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401
    assert client.post(TOKEN, {"username": "member-a", "password": PASSWORD}, format="json").status_code == 401
    assert (
        client.post(TOKEN, {"username": "member-a", "password": "An0ther-good-one"}, format="json").status_code == 200
    )


@pytest.mark.django_db
def test_role_change_ends_the_members_existing_access_tokens(clients_a, tenant_a):
    demoted = clients_a[Role.ADMIN]
    assert demoted.get("/api/v1/members/").status_code == 200
    clients_a[Role.OWNER].patch(f"/api/v1/members/{tenant_a.memberships[Role.ADMIN].pk}/", {"role": "viewer"})
    assert demoted.get("/api/v1/members/").status_code == 401


@pytest.mark.django_db
def test_revocation_holds_when_the_cache_is_emptied(clients_a, tenant_a):
    from django.core.cache import cache  # noqa: PLC0415

    demoted = clients_a[Role.ADMIN]
    clients_a[Role.OWNER].patch(f"/api/v1/members/{tenant_a.memberships[Role.ADMIN].pk}/", {"role": "viewer"})
    cache.clear()
    assert demoted.get("/api/v1/members/").status_code == 401


@pytest.mark.django_db
def test_authenticated_request_runs_no_auth_query_on_a_warm_cache(clients_a, django_assert_num_queries):
    client = clients_a[Role.VIEWER]
    client.get("/api/v1/organization/")
    # One statement: the organization row itself. No user, membership or token lookup.
    with django_assert_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert client.get("/api/v1/organization/").status_code == 200


@pytest.mark.django_db
def test_malformed_authorization_headers_are_401_json(api_client, tenant_a):
    for header in ("Bearer", "Bearer a b", "Bearer not.a.jwt", "Api-Key", "Api-Key thk_short"):
        api_client.credentials(HTTP_AUTHORIZATION=header)
        response = api_client.get(ME)
        assert response.status_code == 401, header
        assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_unknown_user_costs_a_password_hash_like_a_wrong_password(api_client, tenant_a, monkeypatch):
    from django.contrib.auth.hashers import MD5PasswordHasher  # noqa: PLC0415

    calls = []
    original = MD5PasswordHasher.encode

    def counting(self, password, salt):
        calls.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    api_client.post(TOKEN, {"username": "nobody", "password": "guess-1"})
    unknown_user_hashes = len(calls)
    api_client.post(TOKEN, {"username": "owner-a", "password": "guess-2"})
    # Same work either way, so response time does not reveal which usernames exist.
    assert unknown_user_hashes == len(calls) - unknown_user_hashes == 1
