"""The password guard: guessing slows down per (username, address) and per address, never against the owner."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts import guard
from taskhub.accounts.models import User
from taskhub.core import env, rls
from taskhub.core.errors import TooManyRequests
from taskhub.organizations.models import Membership
from taskhub.tenancy.roles import Role

TOKEN = "/api/v1/auth/token/"
PASSWORD_CHANGE = "/api/v1/auth/password/change/"
ATTACKER, VICTIM_HOME = "1.2.3.4", "5.6.7.8"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """The guard's clock, moved by the test: waits end without sleeping."""
    fake = FakeClock()
    monkeypatch.setattr(guard, "clock", fake)
    return fake


@pytest.fixture
def limits(settings):
    """Small limits for one test."""

    def set_limits(*, free: int = 5, ip_limit: int = 1000, max_delay: int = 300, confirm: int = 5) -> None:
        settings.PASSWORD_GUARD_FREE_ATTEMPTS = free
        settings.PASSWORD_GUARD_IP_LIMIT = ip_limit
        settings.PASSWORD_GUARD_MAX_DELAY_SECONDS = max_delay
        settings.PASSWORD_GUARD_CONFIRM_ATTEMPTS = confirm

    set_limits()
    return set_limits


@pytest.fixture
def victim(make_user, tenant_a) -> User:
    user = make_user("victim")
    with rls.bypass("test fixture"):
        Membership.objects.create(organization=tenant_a.organization, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def hasher_runs(monkeypatch) -> list[str]:
    """Every run of the suite's password hasher (MD5 under the test settings): encode or verify."""
    runs: list[str] = []
    verifying: list[bool] = []
    encode, verify = MD5PasswordHasher.encode, MD5PasswordHasher.verify

    def counting_encode(self, password, salt):
        if not verifying:  # MD5's verify encodes: one run, not two
            runs.append("encode")
        return encode(self, password, salt)

    def counting_verify(self, password, encoded):
        runs.append("verify")
        verifying.append(True)
        try:
            return verify(self, password, encoded)
        finally:
            verifying.pop()

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting_encode)
    monkeypatch.setattr(MD5PasswordHasher, "verify", counting_verify)
    return runs


def sign_in(address: str, username: str, password: str):
    return APIClient(REMOTE_ADDR=address).post(TOKEN, {"username": username, "password": password})


def assert_locked_out(response, retry_after: int | None = None):
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "locked_out"
    if retry_after is not None:
        assert int(response["Retry-After"]) == retry_after
    else:
        assert int(response["Retry-After"]) >= 1


def fail_waiting_out_each_delay(clock: FakeClock, address: str, username: str, times: int) -> None:
    """``times`` wrong passwords, each after the wait the previous one set: every one is checked (401)."""
    for _ in range(times):
        response = sign_in(address, username, "wrong-guess")
        assert response.status_code == 401, response.content
        clock.advance(django_settings.PASSWORD_GUARD_MAX_DELAY_SECONDS)


@pytest.mark.django_db
def test_an_attackers_failures_never_keep_the_victim_out_from_another_address(clock, limits, victim):
    fail_waiting_out_each_delay(clock, ATTACKER, "victim", 30)
    # The attacker's own address is slowed down for this username...
    assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    assert_locked_out(sign_in(ATTACKER, "victim", PASSWORD), retry_after=300)
    # ...and the victim, signing in from home with the right password, never notices.
    assert sign_in(VICTIM_HOME, "victim", PASSWORD).status_code == 200
    assert sign_in(VICTIM_HOME, "Victim".lower(), PASSWORD).status_code == 200


@pytest.mark.django_db
def test_after_the_free_failures_each_failure_doubles_the_wait_up_to_the_maximum(clock, limits, victim):
    limits(free=2, max_delay=8)
    for _ in range(2):
        assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
        # No wait yet: the next attempt is checked at once.
    for expected in (1, 2, 4, 8, 8):
        assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
        assert_locked_out(sign_in(ATTACKER, "victim", "wrong-guess"), retry_after=expected)
        clock.advance(expected - 0.5)
        assert_locked_out(sign_in(ATTACKER, "victim", "wrong-guess"), retry_after=1)
        clock.advance(0.5)


@pytest.mark.django_db
def test_attempts_during_a_wait_are_refused_and_neither_counted_nor_extend_it(clock, limits, victim, hasher_runs):
    limits(free=2)
    for _ in range(3):
        assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    # The third failure set a 1 s wait: everything in it is refused before any password is checked.
    hasher_runs.clear()
    for _ in range(20):
        assert_locked_out(sign_in(ATTACKER, "victim", "wrong-guess"), retry_after=1)
    assert_locked_out(sign_in(ATTACKER, "victim", PASSWORD), retry_after=1)
    assert hasher_runs == []
    # The wait ends when it was due; the next failure is the fourth, not the twenty-fifth: 2 s.
    clock.advance(1)
    assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    assert_locked_out(sign_in(ATTACKER, "victim", "wrong-guess"), retry_after=2)
    clock.advance(2)
    assert sign_in(ATTACKER, "victim", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_successful_sign_in_clears_its_pair(clock, limits, victim):
    limits(free=2)
    for _ in range(3):
        sign_in(ATTACKER, "victim", "wrong-guess")
    clock.advance(1)
    assert sign_in(ATTACKER, "victim", PASSWORD).status_code == 200
    # Counting starts over: two free failures again, no wait after either.
    for _ in range(2):
        assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    assert sign_in(ATTACKER, "victim", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_one_address_spraying_many_usernames_is_slowed_down(clock, limits, tenant_a):
    limits(free=5, ip_limit=3)
    for index in range(4):
        assert sign_in(ATTACKER, f"nobody-{index}", "guess").status_code == 401
    # The fourth failure from the address, past its limit of 3, set a wait for the whole address.
    assert_locked_out(sign_in(ATTACKER, "nobody-9", "guess"), retry_after=1)
    assert_locked_out(sign_in(ATTACKER, "member-a", PASSWORD), retry_after=1)
    assert sign_in(VICTIM_HOME, "member-a", PASSWORD).status_code == 200
    clock.advance(1)
    assert sign_in(ATTACKER, "member-a", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_an_ipv6_client_rotating_through_its_slash_64_counts_as_one_address(clock, limits, victim):
    limits(free=2)
    for host in range(1, 4):
        assert sign_in(f"2001:db8:1:2::{host}", "victim", "wrong-guess").status_code == 401
    assert_locked_out(sign_in("2001:db8:1:2:ffff::9", "victim", PASSWORD), retry_after=1)
    # The next /64 is someone else.
    assert sign_in("2001:db8:1:3::1", "victim", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_success_does_not_wipe_the_addresss_other_failures(clock, limits, tenant_a):
    limits(free=5, ip_limit=3)
    for index in range(3):
        assert sign_in(ATTACKER, f"nobody-{index}", "guess").status_code == 401
    # The attacker signs in to an account of their own: the sprayed failures still count.
    assert sign_in(ATTACKER, "member-a", PASSWORD).status_code == 200
    assert sign_in(ATTACKER, "nobody-3", "guess").status_code == 401
    assert_locked_out(sign_in(ATTACKER, "nobody-4", "guess"), retry_after=1)


@pytest.mark.django_db
def test_forgive_clears_the_username_from_every_address(clock, limits, victim):
    limits(free=1)
    for address in (ATTACKER, VICTIM_HOME):
        for _ in range(2):
            sign_in(address, "victim", "wrong-guess")
        assert_locked_out(sign_in(address, "victim", PASSWORD))
    # What the password reset calls: the owner gets in at once, from anywhere.
    guard.forgive(username="Victim")
    for address in (ATTACKER, VICTIM_HOME):
        assert sign_in(address, "victim", PASSWORD).status_code == 200
    # Counting goes on as before for new failures.
    for _ in range(2):
        assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    assert_locked_out(sign_in(ATTACKER, "victim", PASSWORD))


@pytest.mark.django_db
def test_an_unknown_username_costs_one_hash_and_answers_like_a_wrong_password(limits, victim, hasher_runs):
    unknown = sign_in(ATTACKER, "nobody-at-all", "wrong-guess")
    unknown_runs = list(hasher_runs)
    hasher_runs.clear()
    wrong = sign_in(ATTACKER, "victim", "wrong-guess")
    assert unknown_runs == ["encode"]
    assert hasher_runs == ["verify"]
    assert unknown.status_code == wrong.status_code == 401
    assert (
        unknown.json()
        == wrong.json()
        == {"detail": "Unknown username or wrong password.", "code": "invalid_credentials"}
    )
    assert unknown["WWW-Authenticate"] == wrong["WWW-Authenticate"]


@pytest.mark.django_db
def test_the_locked_out_answer_is_the_same_for_an_existing_and_an_unknown_username(clock, limits, victim, hasher_runs):
    limits(free=1)
    answers = {}
    for address, username in ((ATTACKER, "victim"), (VICTIM_HOME, "nobody-at-all")):
        for _ in range(2):
            assert sign_in(address, username, "wrong-guess").status_code == 401
        hasher_runs.clear()
        answers[username] = sign_in(address, username, "wrong-guess")
        assert hasher_runs == []
    existing, unknown = answers["victim"], answers["nobody-at-all"]
    assert_locked_out(existing, retry_after=1)
    assert existing.content == unknown.content
    assert existing["Retry-After"] == unknown["Retry-After"]


@pytest.mark.django_db
def test_past_the_free_failures_a_second_attempt_while_one_is_being_checked_is_refused(
    clock, limits, victim, monkeypatch
):
    limits(free=2)
    for _ in range(2):
        sign_in(ATTACKER, "victim", "wrong-guess")
    concurrent: list[object] = []
    check = guard._user_if_password_matches

    def check_while_another_attempt_arrives(username: str, password: str):
        # A request racing this one, past the free failures, the same pair.
        try:
            guard.authenticate(username=username, password=password, ip=ATTACKER)
        except TooManyRequests as exc:
            concurrent.append(exc.code)
        return check(username, password)

    monkeypatch.setattr(guard, "_user_if_password_matches", check_while_another_attempt_arrives)
    assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    assert concurrent == ["locked_out"]
    monkeypatch.setattr(guard, "_user_if_password_matches", check)
    # The refused racer was not counted: the wait is the first one, 1 s.
    assert_locked_out(sign_in(ATTACKER, "victim", PASSWORD), retry_after=1)


@pytest.mark.django_db
def test_djangos_authenticate_goes_through_the_guard(clock, limits, victim):
    limits(free=1)
    assert django_authenticate(None, username="victim", password=PASSWORD) == victim
    for _ in range(2):
        assert django_authenticate(None, username="victim", password="wrong-guess") is None
    # Locked out: refused without asking any other backend, even with the right password.
    assert django_authenticate(None, username="victim", password=PASSWORD) is None
    clock.advance(1)
    assert django_authenticate(None, username="victim", password=PASSWORD) == victim


# --- the admin ------------------------------------------------------------------------------


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser(username="root", email="root@example.com", password=PASSWORD)


def admin_sign_in(client, address: str, password: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "root", "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
def test_admin_sign_in_shares_the_counts_with_the_api(client, clock, limits, staff):
    limits(free=2)
    for _ in range(2):
        assert admin_sign_in(client, ATTACKER, "wrong-guess").status_code == 200  # the form again
    # The API's sign-in and the admin's count together: the third failure, here, sets a wait.
    assert sign_in(ATTACKER, "root", "wrong-guess").status_code == 401
    locked = admin_sign_in(client, ATTACKER, PASSWORD)
    assert locked.status_code == 200
    assert b"Too many failed sign-in attempts" in locked.content
    assert client.get("/admin/").status_code == 302  # not signed in
    # From another address the owner signs in to the admin at once.
    assert admin_sign_in(client, VICTIM_HOME, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_password_change_confirms_the_old_password_through_the_guard(client, clock, limits, staff, hasher_runs):
    limits(confirm=5)
    client.force_login(staff)
    change = {"old_password": "wrong-guess", "new_password1": "a-new-pass-4242", "new_password2": "a-new-pass-4242"}
    for _ in range(5):
        response = client.post("/admin/password_change/", change)
        assert response.status_code == 200
        assert b"Your old password was entered incorrectly" in response.content
    hasher_runs.clear()
    refused = client.post("/admin/password_change/", {**change, "old_password": PASSWORD})
    assert b"Too many wrong passwords" in refused.content
    assert hasher_runs == []
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)


# --- password confirmation for a signed-in user ------------------------------------------------


def change_password(client: APIClient, old_password: str):
    return client.post(PASSWORD_CHANGE, {"old_password": old_password, "new_password": "a-new-pass-4242"})


@pytest.mark.django_db
def test_a_stolen_token_cannot_guess_the_password_through_password_change(
    clock, limits, clients_a, tenant_a, hasher_runs
):
    client = clients_a[Role.MEMBER]
    answers = [change_password(client, f"guess-{attempt}") for attempt in range(40)]
    assert [answer.status_code for answer in answers[:5]] == [400] * 5
    assert {answer.json()["code"] for answer in answers[:5]} == {"wrong_password"}
    for answer in answers[5:]:
        assert_locked_out(answer, retry_after=900)
    # Five guesses checked, 35 refused without running the hasher.
    assert hasher_runs == ["verify"] * 5
    # The right password too, until the window ends; the window is not extended by refusals.
    clock.advance(600)
    assert_locked_out(change_password(client, PASSWORD), retry_after=300)
    assert tenant_a.users[Role.MEMBER].check_password(PASSWORD)


@pytest.mark.django_db
def test_password_confirmation_counts_wrong_tries_per_user(clock, limits, clients_a):
    limits(confirm=2)
    for _ in range(2):
        assert change_password(clients_a[Role.MEMBER], "guess").status_code == 400
    assert_locked_out(change_password(clients_a[Role.MEMBER], "guess"))
    # Another user of the same organization is not affected; a right password is not a failure.
    viewer = clients_a[Role.VIEWER]
    assert change_password(viewer, "guess").status_code == 400
    assert change_password(viewer, PASSWORD).status_code == 204


def test_password_confirm_refuses_with_the_field_named(db, clock, limits, victim):
    from taskhub.core.errors import DomainError  # noqa: PLC0415

    with pytest.raises(DomainError) as wrong:
        guard.password_confirm(user=victim, password="guess", ip=None, field="current_password")
    assert (wrong.value.code, wrong.value.field) == ("wrong_password", "current_password")
    guard.password_confirm(user=victim, password=PASSWORD, ip=None)


# --- the cache ------------------------------------------------------------------------------------


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The default cache as production configures it, on a port nobody listens on (as test_throttling's)."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    settings.CACHES = {"default": env.cache()}
    assert isinstance(cache._cache, RedisCacheClient)
    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("anything")
    monkeypatch.setattr(guard.store, "_last_warning", 0.0)
    guard.store.local.clear()
    yield
    guard.store.local.clear()


@pytest.mark.django_db
def test_with_the_cache_down_failures_still_count_in_worker_memory(clock, limits, victim, redis_down, caplog):
    limits(free=2)
    for _ in range(3):
        assert sign_in(ATTACKER, "victim", "wrong-guess").status_code == 401
    # Not failing open: the wait holds while Redis is down...
    assert_locked_out(sign_in(ATTACKER, "victim", PASSWORD), retry_after=1)
    # ...nor closed: the owner signs in from elsewhere.
    assert sign_in(VICTIM_HOME, "victim", PASSWORD).status_code == 200
    warnings = [
        r.getMessage() for r in caplog.records if r.name == "taskhub.accounts.guard" and r.levelname == "WARNING"
    ]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("password guard cache unavailable")
    assert "127.0.0.1:1" in warnings[0]


@pytest.mark.django_db
@pytest.mark.skipif(not django_settings.USES_REDIS, reason="reads the counters' expiry in Redis")
def test_counts_live_in_redis_and_expire_with_the_window(limits, victim):
    limits(free=1)
    for _ in range(2):
        sign_in(ATTACKER, "victim", "wrong-guess")
    client = cache._cache.get_client(None)
    names = [name.decode() for name in client.keys("*guard:*")]
    failures = [name for name in names if name.endswith(":failures")]
    waits = [name for name in names if name.endswith(":wait")]
    assert len(failures) == 2  # the pair and the address
    assert all(0 < client.ttl(name) <= 900 for name in failures)
    assert len(waits) == 1  # the pair's, after its second failure
    assert 0 < client.ttl(waits[0]) <= 2
    # Neither the username nor the address appears in a key.
    assert not [name for name in names if "victim" in name or ATTACKER in name]
