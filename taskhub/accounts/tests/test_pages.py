"""The account pages (/account/...) through Django's test client: every page, token and refusal.

The browser test (test_pages_browser.py) follows the real emails into headless Chromium; here
each branch: a GET never uses a token up, a POST does once, every refusal is a readable HTML
page with its status, and every answer carries the pages' own strict CSP.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts import links
from taskhub.accounts.models import AccountToken, User
from taskhub.accounts.pages import views
from taskhub.accounts.services.account_tokens import account_token_issue, hash_token
from taskhub.core import throttling
from taskhub.core.errors import TooManyRequests
from taskhub.organizations.models import Invitation, Membership
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

VERIFY = "/account/verify-email/"
RESET = "/account/reset-password/"
ACCEPT = "/account/accept-invitation/"
NEW_PASSWORD = "plum-tractor-lantern-58"
INVALID_LINK = "This link is invalid, used or expired"
# A token-shaped string no row was ever issued for.
UNKNOWN_TOKEN = "x" * 43


def text(response: Any) -> str:
    """The page's visible text, tags dropped and blanks collapsed (what a person reads)."""
    content = response.content.decode()
    content = re.sub(r"<(script|style)\b.*?</\1>", " ", content, flags=re.DOTALL)
    return " ".join(re.sub(r"<[^>]+>", " ", content).replace("&#x27;", "'").replace("&quot;", '"').split())


def assert_page(response: Any, status: int, *phrases: str) -> None:
    assert response.status_code == status, text(response)
    assert response["Content-Type"].startswith("text/html"), response["Content-Type"]
    for phrase in phrases:
        assert phrase in text(response), text(response)


def issue(user: User, purpose: str, email: str | None = None) -> str:
    return account_token_issue(user=user, purpose=purpose, email=email or user.email)


def stored(token: str) -> AccountToken:
    return AccountToken.objects.get(token_hash=hash_token(token))


@pytest.fixture
def person(make_user) -> User:
    return make_user("pat", email="pat@example.com")


@pytest.fixture
def sign_in_rate(monkeypatch):
    """Set the sign-in throttle's rate (DRF reads rates into the class at import)."""

    def set_rate(rate: str) -> None:
        rates = {**throttling.SignInThrottle.THROTTLE_RATES, "sign_in": rate}
        monkeypatch.setattr(throttling.SignInThrottle, "THROTTLE_RATES", rates)

    return set_rate


# Every page


@pytest.mark.parametrize("page", links.PAGES)
def test_every_emailed_link_opens_its_page(page):
    match = resolve(urlsplit(links.account_link(page, "t0ken")).path)
    assert match.url_name == page
    assert match.func is getattr(views, page.replace("-", "_"))


@pytest.mark.parametrize("url", [VERIFY, RESET, ACCEPT])
@pytest.mark.parametrize("token", ["", UNKNOWN_TOKEN, "y" * 500])
def test_a_missing_unknown_or_oversized_token_shows_the_invalid_link_page(client, url, token):
    response = client.get(url, {"token": token} if token else {})
    assert_page(response, 400, INVALID_LINK)


@pytest.mark.parametrize("url", [VERIFY, RESET, ACCEPT])
def test_pages_carry_a_strict_csp_and_are_never_cached(client, url):
    response = client.get(url, {"token": UNKNOWN_TOKEN})
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "style-src 'self'" in policy
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert "no-store" in response["Cache-Control"]
    # The page's URL carries the token: no link may send it to another site.
    assert response["Referrer-Policy"] == "same-origin"


def test_pages_use_no_script_and_no_inline_style(client, person):
    pages = [
        client.get(VERIFY, {"token": issue(person, "verify_email")}),
        client.get(RESET, {"token": issue(person, "reset_password")}),
        client.get(VERIFY, {"token": UNKNOWN_TOKEN}),
    ]
    for response in pages:
        html = response.content.decode()
        assert "<script" not in html
        assert "<style" not in html
        assert " style=" not in html
        assert re.search(r'<link rel="stylesheet" href="/static/accounts/pages/pages(\.\w+)?\.css">', html), html


def test_the_pages_stylesheet_is_served(client):
    response = client.get("/static/accounts/pages/pages.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


def test_an_unknown_account_path_is_the_apis_json_404(client):
    response = client.get("/account/nowhere/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("url", [VERIFY, RESET, ACCEPT])
def test_other_methods_are_refused_with_405(client, url):
    response = client.put(url)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize("url", [VERIFY, RESET, ACCEPT])
def test_a_post_without_the_csrf_token_is_refused_with_an_html_page(person, url):
    client = Client(enforce_csrf_checks=True)
    token = issue(person, "verify_email")
    response = client.post(url, {"token": token})
    assert_page(response, 403, "This form could not be accepted", "nothing was changed")
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert stored(token).used_at is None


def test_a_csrf_refusal_elsewhere_stays_json():
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_a_form_posted_with_its_csrf_token_is_accepted(person):
    client = Client(enforce_csrf_checks=True)
    token = issue(person, "verify_email")
    page = client.get(VERIFY, {"token": token})
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert csrf
    response = client.post(VERIFY, {"token": token, "csrfmiddlewaretoken": csrf.group(1)})
    assert_page(response, 200, "Your email address is confirmed")


# Verify an email address


def test_verify_email_get_shows_the_button_and_leaves_the_token_unused(client, person):
    token = issue(person, "verify_email")
    response = client.get(VERIFY, {"token": token})
    assert_page(response, 200, "Confirm your email address", "pat@example.com", "Confirm my email address")
    html = response.content.decode()
    # The form posts back to the page's path: the token travels in the body, not in the URL.
    assert f'<form method="post" action="{VERIFY}">' in html
    assert f'name="token" value="{token}"' in html
    assert stored(token).used_at is None
    person.refresh_from_db()
    assert person.email_verified is False


def test_head_uses_no_token_either(client, person):
    token = issue(person, "verify_email")
    assert client.head(VERIFY, {"token": token}).status_code == 200
    assert stored(token).used_at is None


def test_verify_email_post_confirms_the_address(client, person):
    token = issue(person, "verify_email")
    response = client.post(VERIFY, {"token": token})
    assert_page(response, 200, "Your email address is confirmed", "pat@example.com")
    person.refresh_from_db()
    assert person.email_verified is True
    assert stored(token).used_at is not None


def test_verify_email_token_from_the_link_works_without_the_form_field(client, person):
    token = issue(person, "verify_email")
    response = client.post(f"{VERIFY}?token={token}")
    assert_page(response, 200, "Your email address is confirmed")


def test_verify_email_link_works_once(client, person):
    token = issue(person, "verify_email")
    assert client.post(VERIFY, {"token": token}).status_code == 200
    assert_page(client.post(VERIFY, {"token": token}), 400, INVALID_LINK)
    assert_page(client.get(VERIFY, {"token": token}), 400, INVALID_LINK)


def test_verify_email_post_with_an_unknown_token_is_the_invalid_link_page(client):
    assert_page(client.post(VERIFY, {"token": UNKNOWN_TOKEN}), 400, INVALID_LINK)


def test_an_expired_verify_link_is_invalid(client, person):
    token = issue(person, "verify_email")
    AccountToken.objects.filter(token_hash=hash_token(token)).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_page(client.get(VERIFY, {"token": token}), 400, INVALID_LINK)
    assert_page(client.post(VERIFY, {"token": token}), 400, INVALID_LINK)


def test_verify_email_page_confirms_an_email_change(client, person):
    token = issue(person, "change_email", email="pat.new@example.com")
    assert_page(client.get(VERIFY, {"token": token}), 200, "pat.new@example.com")
    response = client.post(VERIFY, {"token": token})
    assert_page(response, 200, "Your email address is confirmed", "pat.new@example.com")
    person.refresh_from_db()
    assert (person.email, person.email_verified) == ("pat.new@example.com", True)


def test_verify_email_for_an_address_another_account_verified_first_says_so(client, person, make_user):
    token = issue(person, "change_email", email="taken@example.com")
    holder = make_user("holder", email="taken@example.com")
    User.objects.filter(pk=holder.pk).update(email_verified=True)
    response = client.post(VERIFY, {"token": token})
    assert_page(response, 409, "This address cannot be confirmed", "Another account uses this email address")
    person.refresh_from_db()
    assert person.email == "pat@example.com"


def test_page_posts_share_the_sign_in_budget_per_client_ip(client, person, sign_in_rate):
    sign_in_rate("2/min")
    token = issue(person, "verify_email")
    api = APIClient()
    assert api.post("/api/v1/auth/token/", {"username": "pat", "password": "wrong"}).status_code in (400, 401)
    assert client.post(VERIFY, {"token": UNKNOWN_TOKEN}).status_code == 400
    response = client.post(VERIFY, {"token": token})
    assert_page(response, 429, "Too many attempts", "Try again in")
    assert int(response["Retry-After"]) > 0
    assert stored(token).used_at is None
    # Another address has its own budget.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert_page(other.post(VERIFY, {"token": token}), 200, "Your email address is confirmed")


# Reset a password


def test_reset_password_get_shows_the_form_and_leaves_the_token_unused(client, person):
    token = issue(person, "reset_password")
    response = client.get(RESET, {"token": token})
    assert_page(response, 200, "Choose a new password", "New password", "New password, again")
    html = response.content.decode()
    assert html.count('autocomplete="new-password"') == 2
    assert f'<form method="post" action="{RESET}">' in html
    assert stored(token).used_at is None


def test_reset_password_get_with_another_purposes_token_is_invalid(client, person):
    assert_page(client.get(RESET, {"token": issue(person, "verify_email")}), 400, INVALID_LINK)


def test_reset_password_post_sets_the_password_and_the_new_one_signs_in(client, tenant_a):
    person = tenant_a.users[Role.MEMBER]
    token = issue(person, "reset_password")
    response = client.post(RESET, {"token": token, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD})
    assert_page(response, 200, "Your password is changed", "Sign in with your new password", person.username)
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)
    credentials = {"username": person.username, "password": NEW_PASSWORD}
    signed_in = APIClient().post("/api/v1/auth/token/", credentials, format="json")
    assert signed_in.status_code == 200, signed_in.content
    # The link worked once.
    replay = client.post(RESET, {"token": token, "password": "another-" + NEW_PASSWORD, "password_repeat": "x"})
    assert_page(replay, 400, INVALID_LINK)


def test_reset_password_with_passwords_that_differ_rerenders_the_form(client, person):
    token = issue(person, "reset_password")
    response = client.post(RESET, {"token": token, "password": NEW_PASSWORD, "password_repeat": NEW_PASSWORD + "x"})
    assert_page(response, 400, "Choose a new password", "The two passwords do not match.")
    person.refresh_from_db()
    assert person.check_password(PASSWORD)
    assert stored(token).used_at is None


@pytest.mark.parametrize(
    ("password", "message"),
    [("password", "This password is too common."), ("pat", "This password is too short.")],
)
def test_reset_password_shows_the_password_validators_messages(client, person, password, message):
    token = issue(person, "reset_password")
    response = client.post(RESET, {"token": token, "password": password, "password_repeat": password})
    assert_page(response, 400, "Choose a new password", message)
    person.refresh_from_db()
    assert person.check_password(PASSWORD)
    assert stored(token).used_at is None
    # The form is still there, with the token, to try again.
    assert f'name="token" value="{token}"' in response.content.decode()


def test_reset_password_with_empty_fields_asks_for_them(client, person):
    token = issue(person, "reset_password")
    response = client.post(RESET, {"token": token})
    assert_page(response, 400, "This field is required.")
    assert stored(token).used_at is None


# Accept an invitation


@pytest.fixture
def invite(clients_a):
    """Invite an address into organization A as the admin; return the token from the email."""

    def make(email: str = "guest@example.com", role: str = "member") -> str:
        mail.outbox.clear()
        response = clients_a[Role.ADMIN].post("/api/v1/invitations/", {"email": email, "role": role}, format="json")
        assert response.status_code == 201, response.content
        match = re.search(r"[?&]token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
        assert match, mail.outbox[-1].body
        return match.group(1)

    return make


def verified_user(make_user, username: str, email: str) -> User:
    user = make_user(username, email=email)
    User.objects.filter(pk=user.pk).update(email_verified=True)
    return user


def joined(user: User, tenant) -> Membership | None:
    return Membership.objects.filter(user=user, organization=tenant.organization).first()


def post_sign_in(client: Client, token: str, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        ACCEPT, {"token": token, "form": "existing", "existing-username": username, "existing-password": password}
    )


def post_sign_up(client: Client, token: str, username: str, password: str = NEW_PASSWORD, repeat: str | None = None):
    return client.post(
        ACCEPT,
        {
            "token": token,
            "form": "new",
            "new-username": username,
            "new-password": password,
            "new-password_repeat": password if repeat is None else repeat,
        },
    )


def test_accept_invitation_get_shows_organization_role_address_and_both_forms(client, invite, tenant_a):
    token = invite(role="viewer")
    response = client.get(ACCEPT, {"token": token})
    assert_page(
        response,
        200,
        f"Join “{tenant_a.organization.name}”",
        "You are invited as viewer",
        "guest@example.com",
        "I have an account",
        "Create an account",
    )
    html = response.content.decode()
    assert html.count(f'name="token" value="{token}"') == 2
    assert 'autocomplete="current-password"' in html
    assert Invitation.objects.get().accepted_at is None


def test_an_organization_name_is_shown_escaped(client, invite, tenant_a):
    tenant_a.organization.name = "<b>Bold</b> & Co"
    tenant_a.organization.save()
    response = client.get(ACCEPT, {"token": invite()})
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in response.content.decode()
    assert "<b>Bold</b>" not in response.content.decode()


def test_accept_as_the_invited_address_account_joins(client, invite, make_user, tenant_a):
    user = verified_user(make_user, "guest", "guest@example.com")
    token = invite(role="admin")
    response = post_sign_in(client, token, "guest")
    assert_page(response, 200, f"You joined “{tenant_a.organization.name}”", "as admin", "guest", "/api/docs/")
    assert joined(user, tenant_a).role == Role.ADMIN
    assert_page(client.get(ACCEPT, {"token": token}), 400, INVALID_LINK)


def test_accept_with_a_wrong_password_says_so_and_joins_nobody(client, invite, make_user, tenant_a):
    user = verified_user(make_user, "guest", "guest@example.com")
    token = invite()
    response = post_sign_in(client, token, "guest", "not-the-password")
    assert_page(response, 400, "wrong password", "I have an account")
    assert joined(user, tenant_a) is None
    assert Invitation.objects.get().accepted_at is None


def test_accept_while_locked_out_says_when_to_try_again(client, invite, make_user, tenant_a, settings):
    settings.PASSWORD_GUARD_FREE_ATTEMPTS = 1
    user = verified_user(make_user, "guest", "guest@example.com")
    token = invite()
    for _ in range(2):
        assert post_sign_in(client, token, "guest", "not-the-password").status_code == 400
    # The second failure set a wait: even the right password is refused until it ends, unchecked.
    response = post_sign_in(client, token, "guest")
    assert_page(response, 429, "Too many failed sign-in attempts. Try again in 1 second.", "I have an account")
    assert response["Retry-After"] == "1"
    assert joined(user, tenant_a) is None
    # The wait holds the guessing address only: the owner, elsewhere, joins.
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert_page(post_sign_in(elsewhere, token, "guest"), 200, "You joined")
    assert joined(user, tenant_a) is not None


def test_a_long_lock_is_said_in_minutes(client, invite, monkeypatch):
    token = invite()

    def locked(**kwargs: Any) -> User:
        raise TooManyRequests("Too many failed sign-in attempts; try again later.", retry_after=300, code="locked_out")

    monkeypatch.setattr(views.guard, "authenticate", locked)
    response = post_sign_in(client, token, "guest")
    assert_page(response, 429, "Too many failed sign-in attempts. Try again in 5 minutes.")
    assert response["Retry-After"] == "300"
    assert Invitation.objects.get().accepted_at is None


def test_accept_with_another_persons_account_is_refused_with_403(client, invite, make_user, tenant_a):
    intruder = verified_user(make_user, "intruder", "intruder@example.com")
    token = invite()
    response = post_sign_in(client, token, "intruder")
    assert response.status_code == 403, text(response)
    assert_page(response, 403, "guest@example.com")
    assert joined(intruder, tenant_a) is None
    assert Invitation.objects.get().accepted_at is None


def test_accept_as_an_existing_member_is_refused_with_409(client, invite, tenant_a):
    member = tenant_a.users[Role.MEMBER]
    token = invite(email="member-a.new@example.com")
    # The member took the invited address after the invitation was sent.
    User.objects.filter(pk=member.pk).update(email="member-a.new@example.com", email_verified=True)
    response = post_sign_in(client, token, member.username)
    assert_page(response, 409, "already a member")


def test_create_an_account_and_join(client, invite, tenant_a):
    token = invite()
    response = post_sign_up(client, token, "newcomer")
    assert_page(response, 200, f"You joined “{tenant_a.organization.name}”", "as member", "newcomer")
    user = User.objects.get(username="newcomer")
    assert user.email == "guest@example.com"
    assert user.check_password(NEW_PASSWORD)
    assert joined(user, tenant_a).role == Role.MEMBER


def test_create_an_account_with_a_taken_username_says_so_on_the_field(client, invite, tenant_a):
    token = invite()
    response = post_sign_up(client, token, tenant_a.owner.username)
    assert_page(response, 400, "This username is taken.", "Create an account")
    assert not User.objects.filter(email="guest@example.com").exists()


def test_create_an_account_with_a_weak_password_shows_the_validators_messages(client, invite):
    response = post_sign_up(client, invite(), "newcomer", "password")
    assert_page(response, 400, "This password is too common.")
    assert not User.objects.filter(username="newcomer").exists()


def test_create_an_account_with_passwords_that_differ_rerenders_the_form(client, invite):
    response = post_sign_up(client, invite(), "newcomer", NEW_PASSWORD, NEW_PASSWORD + "x")
    assert_page(response, 400, "The two passwords do not match.")
    assert not User.objects.filter(username="newcomer").exists()


def test_create_an_account_with_an_invalid_username_says_which_characters_work(client, invite):
    response = post_sign_up(client, invite(), "new comer")
    assert_page(response, 400, "Use letters, digits and @ . + - _ only.")


def test_a_post_naming_no_form_rerenders_the_page(client, invite):
    response = client.post(ACCEPT, {"token": invite()})
    assert_page(response, 400, "I have an account", "Create an account")


@pytest.mark.parametrize("status", ["revoked", "expired", "accepted"])
def test_a_used_revoked_or_expired_invitation_is_an_invalid_link(client, invite, tenant_a, status):
    token = invite()
    invitation = Invitation.objects.get()
    if status == "revoked":
        invitation.revoked_at = timezone.now()
    elif status == "expired":
        invitation.expires_at = timezone.now() - timedelta(seconds=1)
    else:
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = tenant_a.owner
    invitation.save()
    assert_page(client.get(ACCEPT, {"token": token}), 400, INVALID_LINK)
    assert_page(post_sign_up(client, token, "newcomer"), 400, INVALID_LINK)
    assert not User.objects.filter(username="newcomer").exists()
