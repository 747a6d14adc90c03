"""Throttles and the sign-in guard: 429 with Retry-After, shared through the cache."""

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from conftest import PASSWORD
from taskhub.core import env, throttling
from taskhub.tenancy.roles import Role

TOKEN = "/api/v1/auth/token/"


THROTTLES = (
    throttling.AnonymousThrottle,
    throttling.CredentialThrottle,
    throttling.OrganizationThrottle,
    throttling.SignInThrottle,
)


@pytest.fixture
def rates():
    """Set throttle rates for one test (DRF reads them into the classes at import)."""
    original = {throttle: throttle.THROTTLE_RATES for throttle in THROTTLES}

    def set_rates(**rates: str) -> None:
        values: dict[str, str | None] = {
            "anon": "1000/min",
            "user": "1000/min",
            "organization": "1000/min",
            "sign_in": "1000/min",
            **rates,
        }
        for throttle in THROTTLES:
            throttle.THROTTLE_RATES = values

    yield set_rates
    for throttle, value in original.items():
        throttle.THROTTLE_RATES = value


def assert_throttled(response):
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"


@pytest.mark.django_db
def test_anonymous_requests_are_limited_per_client_ip(rates):
    rates(anon="3/min")
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/v1/auth/token/verify/", {"token": "x"}).status_code == 401
    assert_throttled(client.post("/api/v1/auth/token/verify/", {"token": "x"}))
    # Another client address has its own allowance.
    other = APIClient(REMOTE_ADDR="10.9.8.7")
    assert other.post("/api/v1/auth/token/verify/", {"token": "x"}).status_code == 401


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_reset_the_limit(rates, settings):
    rates(anon="2/min")
    settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    # Behind one proxy, the client is the last X-Forwarded-For entry the proxy appended;
    # whatever the client put before it is ignored.
    for forged in ("1.1.1.1", "2.2.2.2"):
        response = client.post(
            "/api/v1/auth/token/verify/", {"token": "x"}, HTTP_X_FORWARDED_FOR=f"{forged}, 203.0.113.9"
        )
        assert response.status_code == 401
    assert_throttled(
        client.post("/api/v1/auth/token/verify/", {"token": "x"}, HTTP_X_FORWARDED_FOR="3.3.3.3, 203.0.113.9")
    )


@pytest.mark.django_db
def test_each_user_has_an_allowance_and_the_organization_a_shared_one(rates, clients_a):
    rates(user="3/min", organization="6/min")
    viewer, member = clients_a[Role.VIEWER], clients_a[Role.MEMBER]
    for _ in range(3):
        assert viewer.get("/api/v1/organization/").status_code == 200
    # Refused for the viewer, yet counted for the organization (4 of its 6).
    assert_throttled(viewer.get("/api/v1/organization/"))
    # The member still has their own allowance, until the organization's runs out.
    assert member.get("/api/v1/organization/").status_code == 200
    assert member.get("/api/v1/organization/").status_code == 200
    assert_throttled(member.get("/api/v1/organization/"))


@pytest.mark.django_db
def test_sign_in_is_limited_per_client_ip(rates, tenant_a):
    rates(sign_in="2/min")
    client = APIClient()
    for _ in range(2):
        assert client.post(TOKEN, {"username": "owner-a", "password": PASSWORD}).status_code == 200
    assert_throttled(client.post(TOKEN, {"username": "owner-a", "password": PASSWORD}))


@pytest.mark.django_db
def test_throttle_counts_live_in_the_shared_cache(rates, clients_a, tenant_a):
    rates(user="2/min")
    clients_a[Role.VIEWER].get("/api/v1/organization/")
    viewer_id = tenant_a.users[Role.VIEWER].pk
    # In the default cache (Redis in production), where every worker reads and writes it.
    assert cache.get(f"throttle_user_user:{viewer_id}:count") == 1
    assert cache.get(f"org:{tenant_a.organization.pk}:throttle:count") == 1


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The default cache as production configures it (taskhub.core.env.cache), on a port nobody listens on.

    A real redis-py client, so what fails is what fails when Redis goes away: a
    redis.exceptions.ConnectionError (connection refused) from each command.
    """
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings.CACHES = {"default": env.cache()}
    assert isinstance(cache._cache, RedisCacheClient)
    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("anything")


@pytest.mark.django_db
def test_throttles_stay_on_in_worker_memory_when_the_cache_fails(rates, clients_a, redis_down, monkeypatch, caplog):
    rates(user="2/min")
    monkeypatch.setattr(throttling.failover_cache, "_last_warning", 0.0)
    throttling.failover_cache.local.clear()
    viewer = clients_a[Role.VIEWER]
    assert viewer.get("/api/v1/organization/").status_code == 200
    assert viewer.get("/api/v1/organization/").status_code == 200
    assert_throttled(viewer.get("/api/v1/organization/"))
    warnings = [r.getMessage() for r in caplog.records if r.name == "taskhub.core.throttling"]
    # One warning (at most one per 30 seconds), naming Redis's refused connection.
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("throttle cache unavailable")
    assert "127.0.0.1:1" in warnings[0]


@pytest.mark.django_db
def test_repeated_wrong_passwords_slow_down_the_username_from_that_address_only(settings, tenant_a):
    # The password guard (taskhub.accounts.guard; its own tests: test_password_guard.py).
    settings.PASSWORD_GUARD_FREE_ATTEMPTS = 2
    client = APIClient()
    for _ in range(3):
        assert client.post(TOKEN, {"username": "member-a", "password": "wrong-password"}).status_code == 401
    # The failure past the free ones set a wait: until it ends, even the right password is refused.
    locked = client.post(TOKEN, {"username": "member-a", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"
    assert int(locked["Retry-After"]) == 1
    # From another address the owner signs in: the username itself is never locked.
    elsewhere = APIClient(REMOTE_ADDR="10.1.2.3").post(TOKEN, {"username": "member-a", "password": PASSWORD})
    assert elsewhere.status_code == 200


@pytest.mark.django_db
def test_repeated_failures_from_one_address_slow_the_address_down(settings, tenant_a):
    settings.PASSWORD_GUARD_IP_LIMIT = 2
    client = APIClient(REMOTE_ADDR="10.5.5.5")
    for username in ("nobody-1", "nobody-2", "nobody-3"):
        assert client.post(TOKEN, {"username": username, "password": "guess"}).status_code == 401
    assert client.post(TOKEN, {"username": "viewer-a", "password": PASSWORD}).status_code == 429
    elsewhere = APIClient(REMOTE_ADDR="10.5.5.6")
    assert elsewhere.post(TOKEN, {"username": "viewer-a", "password": PASSWORD}).status_code == 200


@pytest.mark.django_db
def test_a_successful_sign_in_clears_earlier_failures(settings, tenant_a):
    settings.PASSWORD_GUARD_FREE_ATTEMPTS = 2
    client = APIClient()
    for _ in range(2):
        client.post(TOKEN, {"username": "member-a", "password": "wrong-password"})
    assert client.post(TOKEN, {"username": "member-a", "password": PASSWORD}).status_code == 200
    for _ in range(2):
        assert client.post(TOKEN, {"username": "member-a", "password": "wrong-password"}).status_code == 401
    assert client.post(TOKEN, {"username": "member-a", "password": PASSWORD}).status_code == 200


@pytest.mark.django_db
def test_retry_after_is_what_is_left_of_the_window(rates, clients_a, tenant_a):
    rates(user="1/min")
    viewer = clients_a[Role.VIEWER]
    assert viewer.get("/api/v1/organization/").status_code == 200
    refused = viewer.get("/api/v1/organization/")
    assert_throttled(refused)
    assert int(refused["Retry-After"]) <= 60
    # Refusals count too, but the window still closes on time: the counter expires with it.
    key = f"throttle_user_user:{tenant_a.users[Role.VIEWER].pk}:count"
    assert cache.get(key) == 2
    if settings.USES_REDIS:
        client = cache._cache.get_client(key)
        assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 60


@pytest.mark.django_db
def test_a_tenant_request_counts_every_throttle_in_one_cache_call(rates, clients_a, tenant_a, monkeypatch):
    rates()
    calls = []
    hit = throttling.failover_cache.hit

    def counting(counters, reads=()):
        calls.append((counters, reads))
        return hit(counters, reads)

    monkeypatch.setattr(throttling.failover_cache, "hit", counting)
    client = clients_a[Role.VIEWER]
    assert client.get("/api/v1/projects/").status_code == 200
    viewer_id = tenant_a.users[Role.VIEWER].pk
    jti = AccessToken(client._credentials["HTTP_AUTHORIZATION"].split()[1], verify=False)["jti"]
    # The same call reads the token's revocation state: its membership's version and the denylist.
    assert calls == [
        (
            [(f"throttle_user_user:{viewer_id}:count", 60), (f"org:{tenant_a.organization.pk}:throttle:count", 60)],
            (f"org:{tenant_a.organization.pk}:mv:{viewer_id}", f"jwt:denied:{jti}"),
        )
    ]


@pytest.mark.django_db
@pytest.mark.skipif(not settings.USES_REDIS, reason="the Lua counter is Redis's; memory counts with add/incr")
def test_a_counter_left_without_an_expiry_gets_one_and_keeps_counting(rates, clients_a, tenant_a):
    rates()
    key = f"throttle_user_user:{tenant_a.users[Role.VIEWER].pk}:count"
    client = cache._cache.get_client(key, write=True)
    name = cache.make_and_validate_key(key)
    client.set(name, 7)  # e.g. written by hand or by an older release: no TTL
    assert client.ttl(name) == -1

    assert clients_a[Role.VIEWER].get("/api/v1/organization/").status_code == 200

    assert int(client.get(name)) == 8
    assert 0 < client.ttl(name) <= 60
