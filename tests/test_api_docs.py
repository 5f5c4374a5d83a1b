"""``GET /cms/crm/docs`` in a real headless chromium: Swagger UI from the package's own files
lists every operation of the document, and no request leaves the machine (SPEC 8)."""

from __future__ import annotations

from urllib.parse import urlparse

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.api_support import new_api, site
from tests.browser_support import PAGE_TIMEOUT, browser, wait_for_text
from tests.e2e_support import Site

__all__ = ["browser", "site"]


def test_docs_page_lists_every_operation_offline(site: Site, browser: object) -> None:
    api = new_api(site)
    doc = api.get("/openapi.json", token=None).json()
    operations = [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops]
    assert len(operations) >= 25

    browser.get(f"{site.web.url}/cms/crm/docs")  # type: ignore[attr-defined]
    wait_for_text(browser, "CRM JSON API")  # type: ignore[arg-type]
    WebDriverWait(browser, PAGE_TIMEOUT).until(  # type: ignore[arg-type]
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(operations)
    )
    shown = set()
    for block in browser.find_elements(By.CSS_SELECTOR, ".opblock"):  # type: ignore[attr-defined]
        method = block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip()
        path = block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
            "data-path"
        )
        shown.add((method.upper(), path))
    assert shown == set(operations)
    text = browser.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "Create a lead" in text and "Convert a lead to a customer (once)" in text

    # everything the page loaded came from this server (no CDN, no validator badge)
    loaded = browser.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    ours = urlparse(site.web.url).netloc
    assert loaded, "the page loaded nothing?"
    assert {urlparse(u).netloc for u in loaded} == {ours}, loaded

    # an unknown asset name is not served from the package directory
    assert api.get("/docs/../../setup.py", token=None).status == 404
    assert api.get("/docs/index.j2", token=None).status == 404
