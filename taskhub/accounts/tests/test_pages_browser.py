"""The emailed links in headless Chromium: the real email, its link opened, the form submitted.

For each page (verify an address, reset a password, accept an invitation) the API sends the real
email (jobs inline, to ``django.core.mail.outbox``) from a live server; the link in it, pointing
at that server (``SITE_URL``), opens in Chromium, which fills the form and submits it as a person
would. The test reads the result page's text and checks the database: the address verified, the
new password signing in through the API, the membership made. Every request the pages made
stayed on the server, and the console logged no error (a Content Security Policy violation is
one). Screenshots of the result pages go to $ARTIFACTS_DIR, else out/.

Marked like the Swagger UI browser test: skipped in the SQLite pass and, outside CI, where
Chromium or chromedriver is missing; in CI (CI=true) a missing binary fails instead.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from taskhub.accounts.models import User
from taskhub.organizations.models import Membership
from tests.support import chromium, e2e
from tests.support.servers import REPO, Client

MISSING = chromium.missing_binaries()
pytestmark = [*e2e.marks(MISSING, purpose="to run a browser"), pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or REPO / "out")
LINK = re.compile(r"https?://\S+/account/[a-z-]+/\?token=[A-Za-z0-9_-]+")


@pytest.fixture
def site(live_server, settings) -> Client:
    """The live server, named by SITE_URL so the emailed links lead to it; an API client for it."""
    settings.SITE_URL = live_server.url
    settings.FRONTEND_URL = ""
    return Client(urlsplit(live_server.url).port or 80)


@pytest.fixture
def browser() -> Iterator[Chrome]:
    e2e.require(MISSING, what="the account pages' browser test")
    with chromium.headless_chromium() as driver:
        yield driver


def _password() -> str:
    return f"pages-{secrets.token_urlsafe(12)}"


def _link_from(email: str, page: str) -> str:
    """The link to ``page`` in the last email sent to ``email``."""
    messages = [message for message in mail.outbox if email in message.to]
    assert messages, [message.to for message in mail.outbox]
    links = [link for link in LINK.findall(str(messages[-1].body)) if f"/account/{page}/" in link]
    assert links, messages[-1].body
    return links[0]


def _register(site: Client, username: str, password: str) -> str:
    email = f"{username}@example.com"
    registered = site.post(
        "/api/v1/auth/register/",
        {"username": username, "email": email, "password": password, "organization_name": f"{username} & Co"},
    )
    assert registered.status in (201, 202), registered.text[:500]
    return email


def _sign_in(site: Client, username: str, password: str) -> Any:
    return site.post("/api/v1/auth/token/", {"username": username, "password": password})


def _open(browser: Chrome, link: str, heading: str) -> None:
    browser.get(link)
    _wait_for_heading(browser, heading)


def _wait_for_heading(browser: Chrome, heading: str) -> None:
    WebDriverWait(browser, 15).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), heading),
        f"no page headed {heading!r}: {browser.find_element(By.TAG_NAME, 'body').text[:500]}",
    )


def _fill(browser: Chrome, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)


def _submit(browser: Chrome, button: str, heading: str) -> str:
    """Press the button, wait for the next page (the same heading, for a refused form); return its text."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.XPATH, f"//button[normalize-space()={button!r}]").click()
    WebDriverWait(browser, 15).until(chromium.replaced(page), "the form was not submitted")
    _wait_for_heading(browser, heading)
    return str(browser.find_element(By.TAG_NAME, "main").text)


def _screenshot(browser: Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"account-pages-{name}.png"))


def _assert_clean(browser: Chrome, *, refused_forms: int = 0) -> None:
    """Every request went to the live server, none failed, and the console logged no error.

    ``refused_forms``: the form answers 400 the test provoked on purpose (Chromium logs each).
    """
    traffic = chromium.network_events(browser)
    console = browser.get_log("browser")
    assert traffic.off_host("localhost") == []
    assert traffic.failures == []
    assert [entry for entry in console if "Content Security Policy" in entry["message"]] == []
    errors = [entry for entry in console if entry["level"] == "SEVERE"]
    provoked = [entry for entry in errors if entry["source"] == "network" and "status of 400" in entry["message"]]
    assert len(provoked) == refused_forms, errors
    assert [entry for entry in errors if entry not in provoked] == []
    # The stylesheet loaded: the pages are styled without any inline style.
    assert any(url.endswith(".css") for url in traffic.urls()), traffic.urls()


def test_the_verification_email_link_confirms_the_address_in_a_browser(site, browser):
    username = f"verify{secrets.token_hex(3)}"
    email = _register(site, username, _password())
    link = _link_from(email, "verify-email")

    _open(browser, link, "Confirm your email address")
    assert email in browser.find_element(By.TAG_NAME, "main").text
    # Opening the link changed nothing: a mail scanner following it confirms nobody.
    assert User.objects.get(username=username).email_verified is False
    result = _submit(browser, "Confirm my email address", "Your email address is confirmed")
    _screenshot(browser, "verify-email")

    assert email in result
    assert User.objects.get(username=username).email_verified is True
    _assert_clean(browser)


def test_the_reset_email_link_sets_a_password_that_signs_in_in_a_browser(site, browser):
    username, old_password, new_password = f"reset{secrets.token_hex(3)}", _password(), _password()
    email = _register(site, username, old_password)
    requested = site.post("/api/v1/auth/password/reset/", {"email": email})
    assert requested.status in (200, 202, 204), requested.text[:500]
    link = _link_from(email, "reset-password")

    _open(browser, link, "Choose a new password")
    _fill(browser, {"password": new_password, "password_repeat": new_password + "x"})
    shown = _submit(browser, "Set my new password", "Choose a new password")
    assert "The two passwords do not match." in shown
    _fill(browser, {"password": new_password, "password_repeat": new_password})
    result = _submit(browser, "Set my new password", "Your password is changed")
    _screenshot(browser, "reset-password")

    assert "Sign in with your new password" in result
    assert _sign_in(site, username, new_password).status == 200
    assert _sign_in(site, username, old_password).status != 200
    _assert_clean(browser, refused_forms=1)


def test_the_invitation_email_link_joins_with_a_new_account_in_a_browser(site, browser):
    owner, password = f"owner{secrets.token_hex(3)}", _password()
    _register(site, owner, password)
    User.objects.filter(username=owner).update(email_verified=True)
    signed_in = _sign_in(site, owner, password)
    assert signed_in.status == 200, signed_in.text[:500]
    guest = f"guest{secrets.token_hex(3)}@example.com"
    invited = site.post("/api/v1/invitations/", {"email": guest, "role": "member"}, token=signed_in.body["access"])
    assert invited.status == 201, invited.text[:500]
    link = _link_from(guest, "accept-invitation")

    _open(browser, link, f"Join “{owner} & Co”")
    assert guest in browser.find_element(By.TAG_NAME, "main").text
    _screenshot(browser, "accept-invitation-form")
    newcomer, new_password = f"new{secrets.token_hex(3)}", _password()
    _fill(browser, {"new-username": newcomer, "new-password": new_password, "new-password_repeat": new_password})
    result = _submit(browser, "Create my account and join", f"You joined “{owner} & Co”")
    _screenshot(browser, "accept-invitation")

    assert "as member" in result
    assert "/api/v1/auth/token/" in result
    user = User.objects.get(username=newcomer)
    assert user.email == guest
    assert Membership.objects.filter(user=user, organization__name=f"{owner} & Co", role="member").exists()
    assert _sign_in(site, newcomer, new_password).status == 200
    _assert_clean(browser)
