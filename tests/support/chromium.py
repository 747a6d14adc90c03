"""Headless Chromium from Debian's packages, driven by Selenium, for tests of pages in a real browser.

Selenium gets the driver's path, so Selenium Manager never runs and nothing is downloaded; the
browser starts with a fresh profile and without the background services that would call hosts
outside this machine. The page's network traffic and console come from Chrome's logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    # The tests run as root, where Chromium's sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1800",
)
# Schemes that load nothing over the network: inline images and the workers built from blobs.
LOCAL_SCHEMES = {"data", "blob"}


def missing_binaries() -> list[str]:
    """Name the browser programs this machine lacks."""
    return [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]


@contextlib.contextmanager
def headless_chromium() -> Iterator[webdriver.Chrome]:
    """Start Chromium with a throwaway profile; quit it and remove the profile on exit."""
    profile = Path(tempfile.mkdtemp(prefix="taskhub-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        # Chromium's own start page loads chrome:// resources built into the browser: drop those
        # log entries, so the logs hold only what the pages under test do.
        driver.get("about:blank")
        driver.get_log("performance")
        driver.get_log("browser")
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Traffic:
    """What the page asked the network for, read from Chrome's performance log."""

    requests: list[dict[str, Any]]
    failures: list[dict[str, Any]]

    def urls(self) -> list[str]:
        return [request["url"] for request in self.requests]

    def destinations(self) -> list[str]:
        """Return each host the page reached, and each local scheme it used (``data:``)."""
        return sorted({urlsplit(url).hostname or f"{urlsplit(url).scheme}:" for url in self.urls()})

    def off_host(self, host: str) -> list[str]:
        """Return the URLs that went anywhere but ``host``."""
        return [
            url for url in self.urls() if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname != host
        ]

    def sent_to(self, path: str) -> list[dict[str, Any]]:
        return [request for request in self.requests if urlsplit(request["url"]).path == path]


def network_events(driver: webdriver.Chrome) -> Traffic:
    """Drain the performance log: every request the page made, and every load that failed."""
    requests, failures = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"])
        elif message["method"] == "Network.loadingFailed":
            failures.append(message["params"])
    return Traffic(requests=requests, failures=failures)


def replaced(element: WebElement) -> Any:
    """A wait condition: ``element``'s document has been replaced by the next page.

    Selenium's ``staleness_of`` only counts ``StaleElementReferenceException``; while the old
    document is being torn down chromedriver can answer "unknown error: ... Node with given id
    does not belong to the document" instead, which says the same thing and failed a CI run.
    """

    def condition(_driver: webdriver.Chrome) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error.msg):
                return True
            raise
        return False

    return condition
