"""A real browser for the tests of web pages: Debian's headless ``chromium`` driven by selenium
(PyPI) through Debian's ``chromium-driver``.

Nothing is downloaded at run time: selenium's own driver manager is bypassed by naming
``/usr/bin/chromedriver`` and ``/usr/bin/chromium`` (``CRM_TEST_CHROMIUM`` and
``CRM_TEST_CHROMEDRIVER`` point elsewhere). A machine without them fails the test with one
clear line saying what to install (``.ci/setup`` installs both); a browser test is never
skipped, since a skipped page test would let a broken page pass CI.

Each browser gets a fresh ``--user-data-dir`` (no cookies or cache carried between tests) and
the flags that keep chromium off the network (no component updates, no sync, no background
requests), so a page test sees only the local server it is pointed at. The browser and its
driver process are always quit, also when the test fails.

Usage::

    from tests.browser_support import browser  # noqa: F401  (the fixture)

    def test_page(browser, web):
        browser.get(f"{web.url}/t/u/{token}")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for_text(browser, "unsubscribed")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("CRM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CRM_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
PAGE_TIMEOUT = 30.0  # a loaded 2-core machine starts chromium slowly; pages are local

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # a container's small /dev/shm crashes renderers otherwise
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1024,768",
)


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return (
                f"{path} not found: the page tests need Debian's {package} "
                "(run .ci/setup, or apt-get install chromium chromium-driver)"
            )
    return None


@contextlib.contextmanager
def open_browser() -> Iterator[webdriver.Chrome]:
    """A headless chromium with a profile of its own, quit (with its driver) on exit."""
    problem = _missing()
    if problem:
        pytest.fail(problem, pytrace=False)
    profile = tempfile.mkdtemp(prefix="crm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=CHROMEDRIVER)
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        with contextlib.suppress(Exception):
            service.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with open_browser() as driver:
        yield driver


def page_text(driver: webdriver.Chrome) -> str:
    """What a reader sees on the page (the body's rendered text)."""
    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_text(driver: webdriver.Chrome, text: str, timeout: float = PAGE_TIMEOUT) -> str:
    """Wait until the page shows ``text`` (case-insensitive); the page text, or a failure
    quoting what the page shows instead."""
    try:
        # a form's POST replaces the page under the poll: a body read as it goes is stale
        WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: text.lower() in page_text(d).lower()
        )
    except TimeoutException:
        pytest.fail(
            f"the page at {driver.current_url} never showed {text!r}; it shows:\n"
            f"{page_text(driver)[:1000]}",
            pytrace=False,
        )
    return page_text(driver)


__all__ = ["By", "browser", "open_browser", "page_text", "wait_for_text"]
