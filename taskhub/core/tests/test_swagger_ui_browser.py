"""Swagger UI in headless Chromium against a live server, with no outside network.

A private PostgreSQL (the app as a role that cannot bypass row-level security), Redis and
gunicorn under production settings serve /api/docs/ and its collected static files. A user signs
up through the API and creates a project; in the browser, the token goes in through the
Authorize dialog, and Try it out / Execute on GET /api/v1/projects/ shows 200 and that project.
Every request the page made went to 127.0.0.1 and the console logged no error (a Content
Security Policy violation is one). The screenshot of the 200 goes to $ARTIFACTS_DIR, else out/.

Skipped in CI's SQLite pass (TASKHUB_TEST_SQLITE=1) and, outside CI, when Chromium, chromedriver
or a server binary is missing; in CI (CI=true) a missing binary fails instead.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.support import chromium, e2e, throwaway

MISSING = chromium.missing_binaries() + throwaway.missing_binaries()
pytestmark = e2e.marks(MISSING, purpose="to run a browser")

HOST = "127.0.0.1"
OPERATION = "#operations-projects-projects_list"
# An authorized scheme offers Logout in place of Authorize.
LOGOUT = "//div[contains(@class, 'modal-ux')]//button[normalize-space()='Logout']"
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or throwaway.REPO / "out")
SCREENSHOT = ARTIFACTS / "swagger-ui-projects-200.png"


@pytest.fixture(scope="module")
def stack() -> Iterator[throwaway.Stack]:
    e2e.require(MISSING, what="the Swagger UI browser test")
    with throwaway.running_stack(static_files=True) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Chrome]:
    with chromium.headless_chromium() as driver:
        yield driver


def _visible(driver: WebDriver, selector: str, timeout: float = 20) -> WebElement:
    return WebDriverWait(driver, timeout).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, selector)), f"{selector} never showed"
    )


def _click(driver: WebDriver, selector: str) -> None:
    WebDriverWait(driver, 20).until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, selector)), f"{selector} never clickable"
    ).click()


def _sign_up_with_a_project(client: throwaway.Client) -> tuple[str, dict[str, str]]:
    username = f"docs{secrets.token_hex(4)}"
    registered = client.post(
        "/api/v1/auth/register/",
        {
            "username": username,
            "email": f"{username}@example.com",
            "password": f"swagger-{secrets.token_urlsafe(12)}",
            "organization_name": "Docs in a browser",
        },
    )
    assert registered.status == 201, registered.text[:500]
    token = registered.body["access"]
    created = client.post("/api/v1/projects/", {"key": "DOCS", "name": "Seen through Swagger UI"}, token=token)
    assert created.status == 201, created.text[:500]
    return token, created.body


def _authorize(driver: WebDriver, token: str) -> None:
    """Enter the token in the Authorize dialog's bearer form (Swagger UI adds the "Bearer " prefix)."""
    _click(driver, ".auth-wrapper .btn.authorize")
    field = _visible(driver, ".modal-ux input[aria-label='auth-bearer-value']")
    field.send_keys(token)
    field.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()
    WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.XPATH, LOGOUT)), "the bearer scheme was not authorized"
    )
    _click(driver, ".modal-ux .close-modal")


def _execute_list_projects(driver: WebDriver) -> tuple[str, str]:
    """Expand GET /api/v1/projects/, Try it out, Execute; return the shown status and body."""
    _click(driver, f"{OPERATION} .opblock-summary-control")
    _click(driver, f"{OPERATION} .try-out__btn")
    _click(driver, f"{OPERATION} .execute")
    status = _visible(driver, f"{OPERATION} .live-responses-table .response .response-col_status")
    body = _visible(driver, f"{OPERATION} .live-responses-table .response-col_description pre")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", status)
    return status.text.strip(), body.text


def test_swagger_ui_authorizes_and_lists_projects_over_loopback_only(
    stack: throwaway.Stack, browser: Chrome, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    token, project = _sign_up_with_a_project(stack.client)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        browser.get(f"http://{HOST}:{stack.app.port}/api/docs/")
        assert "Taskhub API" in _visible(browser, ".information-container .title").text
        _authorize(browser, token)
        status, body = _execute_list_projects(browser)
        browser.save_screenshot(str(SCREENSHOT))
    except Exception:
        browser.save_screenshot(str(ARTIFACTS / "swagger-ui-failure.png"))
        raise

    assert status == "200", body[:500]
    assert project["id"] in body
    assert project["name"] in body

    traffic = chromium.network_events(browser)
    console = browser.get_log("browser")
    assert traffic.off_host(HOST) == []
    assert traffic.failures == []
    # Swagger UI sent the token from the dialog, as a bearer token.
    listed = [request for request in traffic.sent_to("/api/v1/projects/") if request["method"] == "GET"]
    assert [request["headers"].get("Authorization") for request in listed] == [f"Bearer {token}"]
    assert [entry for entry in console if entry["level"] == "SEVERE"] == []

    figures = {
        "seconds": round(time.monotonic() - started, 1),
        "startup_seconds": {name: round(value, 1) for name, value in stack.timings.items()},
        "requests": len(traffic.requests),
        "destinations": traffic.destinations(),
        "console_entries": len(console),
    }
    with capsys.disabled():
        print(f"\nSwagger UI screenshot: {SCREENSHOT}\nSwagger UI browser figures: {figures}")  # noqa: T201
