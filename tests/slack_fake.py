"""A local HTTP server that plays the Slack Web API (the only fake in the test suite).

Point ``SLACK_API_URL`` at ``fake.api_url``; every call is recorded (method, arguments, token)
and answered like Slack would. ``response_url`` posts and file uploads land here too. Faults
are injected by configuration, not by patching the code under test:
``fake.rate_limit_every(5)`` answers every fifth Web API call with ``429 Retry-After``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Call:
    method: str  # "chat.postMessage", or "response_url" / "upload" / "webhook"
    args: dict[str, Any]
    token: str | None
    path: str
    at: float = field(default_factory=time.monotonic)
    body: bytes = b""


@dataclass
class SlackUser:
    id: str
    name: str
    email: str | None = None
    tz: str = "Africa/Lusaka"
    is_admin: bool = False
    is_owner: bool = False
    team_id: str = "TACME"

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name.lower().replace(" ", "."),
            "real_name": self.name,
            "tz": self.tz,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_bot": False,
            "deleted": False,
            "profile": {"real_name": self.name, "display_name": self.name, "email": self.email},
        }


def _decode_args(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if "application/json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return {"_raw": body.decode("utf-8", "replace")}
        return data if isinstance(data, dict) else {"_json": data}
    if "application/x-www-form-urlencoded" in content_type:
        try:  # slack-sdk posts file uploads as raw bytes under urllib's default form type
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return {"_bytes": len(body)}
        args: dict[str, Any] = dict(parse_qsl(text, keep_blank_values=True))
        for key in ("blocks", "view", "attachments", "metadata", "files"):
            if isinstance(args.get(key), str):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(args[key])
        return args
    return {"_bytes": len(body)}


class FakeSlack:
    """Start with ``with FakeSlack() as fake:`` or ``fake.start()`` / ``fake.stop()``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, SlackUser] = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._api_calls = 0
        self._rate_limit_every = 0
        self._retry_after = 1
        self.fail_methods: dict[str, str] = {}  # method -> Slack error code to answer with
        self.handlers: dict[str, Callable[[Call], dict[str, Any]]] = {}
        # auth.test's team per bot token (as Slack knows which workspace a token is of);
        # any other token is of TACME. oauth.v2.access adds the token it issues.
        self.token_teams: dict[str, tuple[str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r") -> str:
        return f"{self.base_url}/response/{name}"

    def start(self) -> FakeSlack:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration -----------------------------------------------------------------------
    def add_user(self, user: SlackUser) -> SlackUser:
        self.users[user.id] = user
        return user

    def rate_limit_every(self, n: int, retry_after: int = 1) -> None:
        """Answer every n-th Web API call with HTTP 429 and ``Retry-After`` (0 turns it off)."""
        self._rate_limit_every, self._retry_after = n, retry_after

    # --- inspection --------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until ``count`` calls of ``method`` arrived (a real process answers async)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted({c.method for c in self.calls})
                    raise AssertionError(
                        f"expected {count} call(s) to {method}, got {len(found)}; seen: {seen}"
                    )
                self.cond.wait(remaining)

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()

    def reset(self) -> None:
        """Back to how a new FakeSlack answers (calls, handlers, failures and rate limits
        forgotten; the people and tokens it knows kept): what a test module sharing a
        long-lived FakeSlack starts from."""
        with self.lock:
            self.calls.clear()
            self.handlers.clear()
            self.fail_methods.clear()
            self._rate_limit_every, self._retry_after = 0, 1

    # --- answering ---------------------------------------------------------------------------
    def _record(self, call: Call) -> None:
        with self.cond:
            self.calls.append(call)
            self.cond.notify_all()

    def _answer(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            self._api_calls += 1
            n = self._api_calls
        if self._rate_limit_every and n % self._rate_limit_every == 0:
            return (
                429,
                {"Retry-After": str(self._retry_after)},
                {"ok": False, "error": "ratelimited"},
            )
        self._record(call)
        if call.method in self.fail_methods:
            return 200, {}, {"ok": False, "error": self.fail_methods[call.method]}
        if call.method in self.handlers:
            return 200, {}, self.handlers[call.method](call)
        return 200, {}, self._default(call)

    def _default(self, call: Call) -> dict[str, Any]:
        m, a = call.method, call.args
        if m == "auth.test":
            team_id, team = self.token_teams.get(call.token or "", ("TACME", "Acme"))
            return {
                "ok": True,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team_id": team_id,
                "team": team,
                "url": f"https://{team.lower()}.slack.com/",
            }
        if m == "users.info":
            user = self.users.get(str(a.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user.as_api()}
        if m in ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"):
            ts = a.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            return {
                "ok": True,
                "channel": a.get("channel", "C1"),
                "ts": ts,
                "message_ts": ts,
                "message": {"text": a.get("text", ""), "ts": ts},
            }
        if m == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(a.get("users", "U")).split(",")[0]}}
        if m in ("views.open", "views.push", "views.update", "views.publish"):
            view = a.get("view") if isinstance(a.get("view"), dict) else {}
            return {"ok": True, "view": {**view, "id": f"V{next(self._ids)}", "hash": "h"}}
        if m == "chat.getPermalink":
            return {
                "ok": True,
                "permalink": f"https://acme.slack.com/archives/{a.get('channel')}/p1",
            }
        if m == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids)}"
            return {
                "ok": True,
                "upload_url": f"{self.base_url}/upload/{file_id}",
                "file_id": file_id,
            }
        if m == "files.completeUploadExternal":
            files = a.get("files") or []
            if isinstance(files, str):
                files = json.loads(files)
            return {
                "ok": True,
                "files": [{"id": f.get("id"), "title": f.get("title")} for f in files],
            }
        if m == "oauth.v2.access":
            self.token_teams["xoxb-installed"] = ("TNEW", "New")
            return {
                "ok": True,
                "access_token": "xoxb-installed",
                "token_type": "bot",
                "scope": "commands,chat:write",
                "bot_user_id": "UBOT",
                "app_id": "A1",
                "team": {"id": "TNEW", "name": "New"},
                "enterprise": None,
                "authed_user": {"id": "UINSTALLER"},
            }
        return {"ok": True}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth else None
                path = self.path.split("?")[0]
                if path.startswith("/api/"):
                    args = _decode_args(ctype, body)
                    token = token or args.get("token")
                    call = Call(path[len("/api/") :], args, token, path, body=body)
                    self._reply(*fake._answer(call))
                    return
                kind = path.strip("/").split("/")[0]
                name = {"response": "response_url", "upload": "upload", "hooks": "webhook"}.get(
                    kind, kind
                )
                fake._record(Call(name, _decode_args(ctype, body), token, path, body=body))
                self._reply(200, {}, {"ok": True})

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path.startswith("/api/"):
                    query = dict(parse_qsl(self.path.partition("?")[2]))
                    self._reply(*fake._answer(Call(path[len("/api/") :], query, None, path)))
                    return
                self._reply(404, {}, {"ok": False, "error": "not_found"})

        return Handler
