"""Real outside parts for campaign tests: an SMTP sink (aiosmtpd on loopback) and an HTTP SMS
provider stand-in, both recording what they received, both stoppable mid-test."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)  # type: ignore[arg-type]
            self.sink.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"


class SmtpSink:
    """Accepts every message and keeps it; :meth:`stop` then :meth:`start` again on the same
    port simulates the mail server going down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def snapshot(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    def per_recipient(self) -> Counter[str]:
        """Distinct Message-IDs per address: 1 each when nobody got two different messages."""
        seen: dict[str, set[str]] = {}
        for m in self.snapshot():
            seen.setdefault(str(m["To"]).split("<")[-1].rstrip(">"), set()).add(m["Message-ID"])
        return Counter({to: len(ids) for to, ids in seen.items()})


class SmsStandIn:
    """The SMS provider of SPEC 6: ``POST {"to", "body"}`` with a bearer token. ``fail_every``
    answers 429 (Retry-After: 0) on every n-th call, ``fail_once`` a 500 on that call number."""

    def __init__(
        self, *, fail_every: int = 0, fail_once: int = 0, token: str = "sms-token"
    ) -> None:
        self.calls: list[dict[str, Any]] = []
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.fail_every = fail_every
        self.fail_once = fail_once
        self.token = token
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                call = {
                    "to": body.get("to"),
                    "body": body.get("body"),
                    "key": self.headers.get("Idempotency-Key"),
                    "auth": self.headers.get("Authorization"),
                }
                with stand_in.lock:
                    stand_in.calls.append(call)
                    n = len(stand_in.calls)
                    if stand_in.fail_every and n % stand_in.fail_every == 0:
                        status, answer = 429, {"error": "slow down"}
                    elif n == stand_in.fail_once:
                        status, answer = 500, {"error": "oops"}
                    elif call["auth"] != f"Bearer {stand_in.token}":
                        status, answer = 401, {"error": "bad token"}
                    elif not str(call["to"] or "").startswith("+"):
                        status, answer = 400, {"error": "invalid number"}
                    else:
                        status, answer = 202, {"id": n}
                        stand_in.accepted.append(call)
                data = json.dumps(answer).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"

    def start(self) -> SmsStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
