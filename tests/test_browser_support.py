"""The shared headless-chromium harness itself: it opens a real page, clicks a real button,
and a form POST reaches the server (what the tracking page tests rely on)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser_support import By, browser, open_browser, wait_for_text

__all__ = ["browser"]

FORM = b"""<!doctype html><html><head><meta charset="utf-8"><title>Form</title></head>
<body><form method="post" action="/done"><button type="submit">Confirm</button></form></body>
</html>"""


class _Pages(BaseHTTPRequestHandler):
    posts: list[str]

    def do_GET(self) -> None:
        self._answer(FORM)

    def do_POST(self) -> None:
        self.server.posts.append(self.path)  # type: ignore[attr-defined]
        self._answer(b"<!doctype html><html><body><p>Thank you, confirmed.</p></body></html>")

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_browser_opens_a_page_clicks_and_posts(browser, pages) -> None:
    url = f"http://127.0.0.1:{pages.server_address[1]}/form"
    browser.get(url)
    assert browser.title == "Form"
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "confirmed" in wait_for_text(browser, "Thank you")
    assert pages.posts == ["/done"]  # type: ignore[attr-defined]


def test_a_missing_chromium_fails_with_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr("tests.browser_support.CHROMIUM", "/nonexistent/chromium")
    expected = "apt-get install chromium chromium-driver"
    with pytest.raises(pytest.fail.Exception, match=expected), open_browser():
        pass
