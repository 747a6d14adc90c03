import json
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.accounts import api_keys
from taskhub.accounts.api_keys import cache_key, hash_key
from taskhub.accounts.models import ApiKey
from taskhub.audit.models import AuditEvent
from taskhub.organizations.models import Membership
from taskhub.tenancy.roles import Role

URL = "/api/v1/api-keys/"
FIELDS = {"id", "name", "role", "prefix", "created_by", "created_at", "expires_at", "last_used_at"}


def detail_url(api_key_id: Any) -> str:
    return f"{URL}{api_key_id}/"


def create_key(client: APIClient, name: str = "ci", role: str = "member", **fields: Any) -> dict[str, Any]:
    response = client.post(URL, {"name": name, "role": role, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def key_for(clients_a) -> Callable[..., tuple[dict[str, Any], APIClient]]:
    """Create a key in organization A through the API and return it with a client using it."""

    def make(role: str = "member", name: str = "ci") -> tuple[dict[str, Any], APIClient]:
        created = create_key(clients_a[Role.ADMIN], name=name, role=role)
        return created, key_client(created["key"])

    return make


# Creating


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admin_and_owner_can_create_api_key(clients_a, tenant_a, role):
    response = clients_a[role].post(URL, {"name": "deploy bot", "role": "viewer"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS | {"key"}
    assert body["key"].startswith("thk_")
    assert body["name"] == "deploy bot"
    assert body["role"] == "viewer"
    assert body["key"].split("_")[1] == body["prefix"]
    assert body["created_by"] == str(tenant_a.users[role].pk)
    assert body["last_used_at"] is None
    assert response["Cache-Control"] == "no-store"
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.organization_id == tenant_a.organization.pk
    assert stored.revoked_at is None


def test_api_key_secret_is_shown_only_in_create_response(clients_a):
    admin = clients_a[Role.ADMIN]
    created = create_key(admin)
    key = created["key"]

    listed = admin.get(URL)
    retrieved = admin.get(detail_url(created["id"]))

    assert listed.status_code == 200
    assert retrieved.status_code == 200
    assert key not in listed.content.decode()
    assert key not in retrieved.content.decode()
    assert set(retrieved.json()) == FIELDS
    assert all(set(item) == FIELDS for item in listed.json()["results"])


def test_api_key_is_stored_only_as_a_hash(clients_a):
    key = create_key(clients_a[Role.ADMIN])["key"]
    # thk_<prefix>_<secret>: the secret is URL-safe base64 and may itself contain "_".
    secret = key.split("_", 2)[2]

    row = ApiKey.objects.values().get(prefix=key.split("_")[1])

    assert row["key_hash"] == hash_key(key)
    assert not any(isinstance(value, str) and secret in value for value in row.values())


def test_api_key_and_its_hash_never_reach_the_audit_log(clients_a):
    created = create_key(clients_a[Role.ADMIN])
    clients_a[Role.ADMIN].delete(detail_url(created["id"]))
    key = created["key"]

    events = json.dumps(list(AuditEvent.objects.values()), default=str)

    assert AuditEvent.objects.filter(action__in=["api_key.created", "api_key.revoked"]).count() == 2
    assert key not in events
    assert key.split("_", 2)[2] not in events
    assert hash_key(key) not in events


def test_api_key_creation_is_audited(clients_a, tenant_a):
    created = create_key(clients_a[Role.ADMIN], name="ci", role="viewer")

    event = AuditEvent.objects.get(action="api_key.created")

    assert event.organization_id == tenant_a.organization.pk
    assert event.actor_user_id == tenant_a.users[Role.ADMIN].pk
    assert event.target_type == "accounts.apikey"
    assert event.target_id == created["id"]
    assert event.changes == {"name": [None, "ci"], "role": [None, "viewer"], "prefix": [None, created["prefix"]]}


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_api_key_cannot_carry_admin_or_owner_role(clients_a, role):
    response = clients_a[Role.OWNER].post(URL, {"name": "too strong", "role": role}, format="json")

    assert response.status_code == 400
    assert "role" in response.json()["errors"]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "role": "superuser"}, "role"),
        ({"name": "x"}, "role"),
        ({"role": "member"}, "name"),
        ({"name": "", "role": "member"}, "name"),
        ({"name": "x" * 101, "role": "member"}, "name"),
    ],
)
def test_invalid_api_key_input_is_rejected_naming_the_field(clients_a, payload, field):
    response = clients_a[Role.ADMIN].post(URL, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]


# Who may manage keys


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_manage_api_keys(clients_a, key_for, role):
    created, _ = key_for()
    client = clients_a[role]

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "x", "role": "viewer"}, format="json").status_code == 403
    assert client.get(detail_url(created["id"])).status_code == 403
    assert client.delete(detail_url(created["id"])).status_code == 403
    assert ApiKey.objects.filter(pk=created["id"], revoked_at__isnull=True).exists()


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_api_key_cannot_manage_api_keys(key_for, role):
    created, client = key_for(role=role)

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"name": "x", "role": "viewer"}, format="json").status_code == 403
    assert client.get(detail_url(created["id"])).status_code == 403
    assert client.delete(detail_url(created["id"])).status_code == 403


def test_anonymous_cannot_list_api_keys(api_client, db):
    assert api_client.get(URL).status_code == 401


# Listing and retrieving


def test_list_never_includes_another_organizations_or_revoked_keys(clients_a, clients_b):
    kept = create_key(clients_a[Role.ADMIN], name="kept")
    revoked = create_key(clients_a[Role.ADMIN], name="revoked")
    assert clients_a[Role.ADMIN].delete(detail_url(revoked["id"])).status_code == 204
    create_key(clients_b[Role.ADMIN], name="other org")

    response = clients_a[Role.ADMIN].get(URL)

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [kept["id"]]


def test_list_is_cursor_paginated_newest_first(clients_a):
    ids = [create_key(clients_a[Role.ADMIN], name=f"key {i}")["id"] for i in range(3)]

    first = clients_a[Role.ADMIN].get(URL, {"page_size": 2}).json()
    second = clients_a[Role.ADMIN].get(first["next"]).json()

    assert set(first) == {"next", "previous", "results"}
    assert [item["id"] for item in first["results"] + second["results"]] == ids[::-1]


def test_list_filters_searches_and_orders_api_keys(clients_a):
    admin = clients_a[Role.ADMIN]
    create_key(admin, name="beta deploy", role="viewer")
    create_key(admin, name="alpha deploy", role="member")
    create_key(admin, name="gamma reports", role="viewer")

    def names(**params: str) -> list[str]:
        response = admin.get(URL, params)
        assert response.status_code == 200
        return [item["name"] for item in response.json()["results"]]

    assert sorted(names(role="viewer")) == ["beta deploy", "gamma reports"]
    assert sorted(names(search="deploy")) == ["alpha deploy", "beta deploy"]
    assert names(ordering="name") == ["alpha deploy", "beta deploy", "gamma reports"]
    assert names(ordering="-name") == ["gamma reports", "beta deploy", "alpha deploy"]
    assert names(ordering="created_at") == ["beta deploy", "alpha deploy", "gamma reports"]


def test_another_organizations_api_key_is_not_found(clients_a, clients_b):
    other = create_key(clients_b[Role.ADMIN])

    assert clients_a[Role.ADMIN].get(detail_url(other["id"])).status_code == 404
    assert clients_a[Role.ADMIN].delete(detail_url(other["id"])).status_code == 404
    assert ApiKey.objects.filter(pk=other["id"], revoked_at__isnull=True).exists()


# Authenticating with a key


def test_api_key_acts_in_its_own_organization(key_for, tenant_a, tenant_b):
    _, client = key_for(role="viewer")

    response = client.get("/api/v1/members/")

    assert response.status_code == 200
    user_ids = {item["user"]["id"] for item in response.json()["results"]}
    assert user_ids == {str(user.pk) for user in tenant_a.users.values()}


def test_viewer_api_key_cannot_write(key_for, tenant_a):
    _, client = key_for(role="viewer")
    membership = tenant_a.memberships[Role.MEMBER]

    response = client.patch(f"/api/v1/members/{membership.pk}/", {"role": "viewer"}, format="json")

    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_revoked_api_key_fails_on_next_request_even_when_cached(clients_a, key_for, django_capture_on_commit_callbacks):
    created, client = key_for()
    assert client.get("/api/v1/members/").status_code == 200
    assert cache.get(cache_key(created["prefix"])), "the first request should have cached the key"

    with django_capture_on_commit_callbacks(execute=True):
        response = clients_a[Role.ADMIN].delete(detail_url(created["id"]))

    assert response.status_code == 204
    after = client.get("/api/v1/members/")
    assert after.status_code == 401
    assert after.json()["code"] == "api_key_not_valid"


@pytest.mark.django_db(transaction=True)
def test_revoked_api_key_fails_on_next_request_after_a_real_commit(clients_a, key_for):
    created, client = key_for()
    assert client.get("/api/v1/members/").status_code == 200

    assert clients_a[Role.ADMIN].delete(detail_url(created["id"])).status_code == 204

    assert client.get("/api/v1/members/").status_code == 401


def test_revoked_api_key_keeps_its_row_and_answers_404(clients_a, key_for, tenant_a):
    created, _ = key_for()
    admin = clients_a[Role.ADMIN]

    assert admin.delete(detail_url(created["id"])).status_code == 204

    row = ApiKey.objects.get(pk=created["id"])
    assert row.revoked_at is not None
    assert admin.get(detail_url(created["id"])).status_code == 404
    assert admin.delete(detail_url(created["id"])).status_code == 404
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert event.target_id == created["id"]
    assert event.actor_user_id == tenant_a.users[Role.ADMIN].pk
    assert list(event.changes) == ["revoked_at"]


@pytest.mark.parametrize(
    "credential",
    [
        "nope_0123456789ab_secret",
        "thk_short_secret",
        "thk_0123456789ab_not-the-secret",
        "thk_0123456789ab_sécret",
        "thk_0123456789ab",
        "",
    ],
    ids=["wrong-mark", "wrong-prefix-length", "unknown-prefix", "non-ascii", "no-secret", "empty"],
)
def test_garbage_api_key_answers_401_json(db, credential):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {credential}".strip())

    response = client.get("/api/v1/members/")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert set(response.json()) >= {"detail", "code"}


def test_right_prefix_with_wrong_secret_answers_401(key_for):
    created, _ = key_for()
    forged = f"thk_{created['prefix']}_{'A' * 43}"

    response = key_client(forged).get("/api/v1/members/")

    assert response.status_code == 401
    assert response.json()["code"] == "api_key_not_valid"


def test_last_used_at_is_set_on_use_but_not_written_every_request(key_for):
    created, client = key_for()

    assert client.get("/api/v1/members/").status_code == 200
    first = ApiKey.objects.get(pk=created["id"]).last_used_at
    assert client.get("/api/v1/members/").status_code == 200
    second = ApiKey.objects.get(pk=created["id"]).last_used_at

    assert first is not None
    assert second == first


def test_api_key_authentication_runs_no_queries_on_a_warm_cache(key_for, django_assert_max_num_queries):
    _, client = key_for()
    assert client.get("/api/v1/members/").status_code == 200

    # The one query left is the members page itself: no key lookup, no last_used_at write.
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        response = client.get("/api/v1/members/")

    assert response.status_code == 200


# A key answers to its creator: their removal or demotion below its role revokes it.

MEMBERS = "/api/v1/members/"


def transfer_url(api_key_id: Any) -> str:
    return f"{detail_url(api_key_id)}transfer/"


def works(client: APIClient) -> bool:
    response = client.get(MEMBERS)
    assert response.status_code in (200, 401), response.content
    if response.status_code == 401:
        assert response.json()["code"] == "api_key_not_valid"
    return response.status_code == 200


def used_and_cached(created: dict[str, Any], client: APIClient) -> None:
    assert works(client)
    assert cache.get(cache_key(created["prefix"])), "the key's record should be cached by its first use"


def member_url(membership: Membership) -> str:
    return f"{MEMBERS}{membership.pk}/"


def revocations(api_key_id: str) -> list[dict[str, Any]]:
    """The changes of the key's revocation events."""
    return list(
        AuditEvent.objects.filter(action="api_key.revoked", target_id=api_key_id).values_list("changes", flat=True)
    )


def test_key_stops_at_once_when_its_creator_is_removed(
    clients_a, tenant_a, key_for, django_capture_on_commit_callbacks
):
    created, client = key_for(role="viewer")
    used_and_cached(created, client)

    with django_capture_on_commit_callbacks(execute=True):
        removed = clients_a[Role.OWNER].delete(member_url(tenant_a.memberships[Role.ADMIN]))

    assert removed.status_code == 204
    assert not works(client)
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is not None
    [event] = AuditEvent.objects.filter(action="api_key.revoked", target_id=created["id"])
    assert event.changes["reason"] == [None, "creator_left"]
    assert event.actor_user_id == tenant_a.users[Role.OWNER].pk


def test_key_stops_when_its_creator_leaves(clients_a, tenant_a, key_for, django_capture_on_commit_callbacks):
    created, client = key_for()
    used_and_cached(created, client)

    with django_capture_on_commit_callbacks(execute=True):
        left = clients_a[Role.ADMIN].delete(member_url(tenant_a.memberships[Role.ADMIN]))

    assert left.status_code == 204
    assert not works(client)


def test_member_key_stops_when_its_creator_becomes_viewer_but_viewer_key_works(
    clients_a, tenant_a, key_for, django_capture_on_commit_callbacks
):
    member_key, member_client = key_for(role="member")
    viewer_key, viewer_client = key_for(role="viewer")
    used_and_cached(member_key, member_client)
    used_and_cached(viewer_key, viewer_client)

    with django_capture_on_commit_callbacks(execute=True):
        demoted = clients_a[Role.OWNER].patch(
            member_url(tenant_a.memberships[Role.ADMIN]), {"role": "viewer"}, format="json"
        )

    assert demoted.status_code == 200
    assert not works(member_client)
    assert works(viewer_client)
    assert [changes["reason"] for changes in revocations(member_key["id"])] == [[None, "creator_below_key_role"]]
    assert revocations(viewer_key["id"]) == []


def test_keys_keep_working_when_their_creator_is_demoted_but_not_below_them(
    clients_a, tenant_a, key_for, django_capture_on_commit_callbacks
):
    _, member_client = key_for(role="member")
    _, viewer_client = key_for(role="viewer")

    with django_capture_on_commit_callbacks(execute=True):
        demoted = clients_a[Role.OWNER].patch(
            member_url(tenant_a.memberships[Role.ADMIN]), {"role": "member"}, format="json"
        )

    assert demoted.status_code == 200
    assert works(member_client)
    assert works(viewer_client)
    assert not AuditEvent.objects.filter(action="api_key.revoked").exists()


def test_removing_a_member_leaves_other_creators_keys_alone(
    clients_a, tenant_a, key_for, django_capture_on_commit_callbacks
):
    _, admins_client = key_for()
    owners_key = create_key(clients_a[Role.OWNER], name="owner's")

    with django_capture_on_commit_callbacks(execute=True):
        assert clients_a[Role.OWNER].delete(member_url(tenant_a.memberships[Role.ADMIN])).status_code == 204

    assert not works(admins_client)
    assert works(key_client(owners_key["key"]))


@pytest.mark.parametrize("change", ["delete", "demote"])
def test_a_membership_changed_behind_the_services_back_is_caught_on_the_next_read(tenant_a, key_for, change):
    # The Django admin edits memberships without the services: the key is refused from its next
    # read of the database (at once here, with an empty cache; within AUTH_CACHE_SECONDS in general).
    created, client = key_for(role="member")
    membership = Membership.objects.filter(pk=tenant_a.memberships[Role.ADMIN].pk)
    if change == "delete":
        membership.delete()
    else:
        membership.update(role=Role.VIEWER)

    assert not works(client)
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is None


def test_a_key_without_a_creator_is_refused_until_transferred(
    clients_a, tenant_a, key_for, django_capture_on_commit_callbacks
):
    created, client = key_for()
    # What the account's deletion leaves behind (created_by is SET_NULL).
    ApiKey.objects.filter(pk=created["id"]).update(created_by=None)
    assert not works(client)
    listed = clients_a[Role.ADMIN].get(detail_url(created["id"])).json()
    assert listed["created_by"] is None

    with django_capture_on_commit_callbacks(execute=True):
        moved = clients_a[Role.ADMIN].post(
            transfer_url(created["id"]), {"user": str(tenant_a.users[Role.MEMBER].pk)}, format="json"
        )

    assert moved.status_code == 200
    assert works(client), "the transfer drops the cached refusal"


# Transferring


def test_admin_transfers_a_key_and_it_survives_its_old_creators_removal(
    clients_a, tenant_a, key_for, django_capture_on_commit_callbacks
):
    created, client = key_for(role="member")
    used_and_cached(created, client)
    new_creator = tenant_a.users[Role.MEMBER]

    response = clients_a[Role.ADMIN].post(transfer_url(created["id"]), {"user": str(new_creator.pk)}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert body["created_by"] == str(new_creator.pk)
    assert created["key"] not in response.content.decode()
    event = AuditEvent.objects.get(action="api_key.transferred")
    assert event.target_id == created["id"]
    assert event.actor_user_id == tenant_a.users[Role.ADMIN].pk
    assert event.changes == {"created_by": [str(tenant_a.users[Role.ADMIN].pk), str(new_creator.pk)]}

    with django_capture_on_commit_callbacks(execute=True):
        assert clients_a[Role.OWNER].delete(member_url(tenant_a.memberships[Role.ADMIN])).status_code == 204

    assert works(client)
    # Its new creator now answers for it.
    with django_capture_on_commit_callbacks(execute=True):
        assert clients_a[Role.OWNER].delete(member_url(tenant_a.memberships[Role.MEMBER])).status_code == 204
    assert not works(client)


def test_transfer_to_a_non_member_is_400_not_a_member(clients_a, tenant_b, key_for):
    created, _ = key_for()

    response = clients_a[Role.ADMIN].post(
        transfer_url(created["id"]), {"user": str(tenant_b.users[Role.OWNER].pk)}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "not_a_member"
    assert "user" in response.json()["errors"]
    assert str(ApiKey.objects.get(pk=created["id"]).created_by_id) == created["created_by"]
    assert not AuditEvent.objects.filter(action="api_key.transferred").exists()


def test_transfer_to_a_member_below_the_keys_role_is_400_role_below_key(clients_a, tenant_a, key_for):
    member_key, _ = key_for(role="member")
    viewer_key, _ = key_for(role="viewer")
    viewer = str(tenant_a.users[Role.VIEWER].pk)

    refused = clients_a[Role.ADMIN].post(transfer_url(member_key["id"]), {"user": viewer}, format="json")
    allowed = clients_a[Role.ADMIN].post(transfer_url(viewer_key["id"]), {"user": viewer}, format="json")

    assert refused.status_code == 400
    assert refused.json()["code"] == "role_below_key"
    assert allowed.status_code == 200
    assert allowed.json()["created_by"] == viewer


@pytest.mark.parametrize("payload", [{}, {"user": "not-a-uuid"}, {"user": None}, {"user": 7}])
def test_transfer_with_bad_input_is_400_naming_user(clients_a, key_for, payload):
    created, _ = key_for()

    response = clients_a[Role.ADMIN].post(transfer_url(created["id"]), payload, format="json")

    assert response.status_code == 400
    assert "user" in response.json()["errors"]


def test_transfer_of_a_revoked_or_foreign_key_is_404(clients_a, clients_b, tenant_a, key_for):
    revoked, _ = key_for()
    assert clients_a[Role.ADMIN].delete(detail_url(revoked["id"])).status_code == 204
    foreign = create_key(clients_b[Role.ADMIN])
    user = {"user": str(tenant_a.users[Role.OWNER].pk)}

    assert clients_a[Role.ADMIN].post(transfer_url(revoked["id"]), user, format="json").status_code == 404
    assert clients_a[Role.ADMIN].post(transfer_url(foreign["id"]), user, format="json").status_code == 404


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_viewer_and_keys_cannot_transfer(clients_a, tenant_a, key_for, role):
    created, key = key_for()
    user = {"user": str(tenant_a.users[Role.MEMBER].pk)}

    assert clients_a[role].post(transfer_url(created["id"]), user, format="json").status_code == 403
    assert key.post(transfer_url(created["id"]), user, format="json").status_code == 403
    assert str(ApiKey.objects.get(pk=created["id"]).created_by_id) == created["created_by"]


# Expiry


def test_key_with_an_expiry_works_until_it_passes_even_from_cache(clients_a, monkeypatch):
    expires = timezone.now() + timedelta(hours=1)
    created = create_key(clients_a[Role.ADMIN], expires_at=expires.isoformat())
    client = key_client(created["key"])
    assert created["expires_at"] is not None
    assert ApiKey.objects.get(pk=created["id"]).expires_at == expires
    used_and_cached(created, client)

    # An hour and a second later, as far as the key lookup can tell.
    later = expires.timestamp() + 1
    monkeypatch.setattr(api_keys, "time", SimpleNamespace(time=lambda: later))

    after = client.get(MEMBERS)
    assert after.status_code == 401
    assert after.json()["code"] == "api_key_not_valid"
    assert cache.get(cache_key(created["prefix"])), "refused from the cached record, which carries the expiry"


def test_a_key_that_expired_is_refused_from_the_database_too(clients_a):
    created = create_key(clients_a[Role.ADMIN], expires_at=(timezone.now() + timedelta(hours=1)).isoformat())
    ApiKey.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert not works(key_client(created["key"]))
    # Still listed, with the date it stopped working.
    assert clients_a[Role.ADMIN].get(detail_url(created["id"])).json()["expires_at"] is not None


@pytest.mark.parametrize("expires_at", ["2001-01-01T00:00:00Z", "now"], ids=["long-past", "now"])
def test_expiry_not_in_the_future_is_400_expires_at_past(clients_a, expires_at):
    if expires_at == "now":
        expires_at = timezone.now().isoformat()
    response = clients_a[Role.ADMIN].post(
        URL, {"name": "ci", "role": "member", "expires_at": expires_at}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "expires_at_past"
    assert "expires_at" in response.json()["errors"]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    "expires_at",
    ["tomorrow", "10000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", 12, ""],
)
def test_malformed_expiry_is_400(clients_a, expires_at):
    response = clients_a[Role.ADMIN].post(
        URL, {"name": "ci", "role": "member", "expires_at": expires_at}, format="json"
    )

    assert response.status_code == 400
    assert "expires_at" in response.json()["errors"]
    assert not ApiKey.objects.exists()


def test_key_without_expiry_never_expires(clients_a):
    created = create_key(clients_a[Role.ADMIN], expires_at=None)

    assert created["expires_at"] is None
    assert works(key_client(created["key"]))


def test_expiry_is_audited(clients_a):
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    create_key(clients_a[Role.ADMIN], expires_at=expires.isoformat())

    event = AuditEvent.objects.get(action="api_key.created")
    assert event.changes["expires_at"] == [None, expires.isoformat()]


# Deleting the organization


def test_keys_stop_at_once_when_their_organization_is_deleted(clients_a, key_for, django_capture_on_commit_callbacks):
    created, client = key_for()
    used_and_cached(created, client)

    with django_capture_on_commit_callbacks(execute=True):
        assert clients_a[Role.OWNER].delete("/api/v1/organization/").status_code == 204

    assert cache.get(cache_key(created["prefix"])) == "", "the cached record is replaced by a tombstone"
    assert not works(client)


@pytest.mark.django_db(transaction=True)
def test_keys_stop_when_their_organization_is_deleted_after_a_real_commit(clients_a, key_for):
    created, client = key_for()
    used_and_cached(created, client)

    assert clients_a[Role.OWNER].delete("/api/v1/organization/").status_code == 204

    assert not works(client)
