"""Socket Mode (SPEC 1, ``SLACK_APP_TOKEN``): ``python -m bot.socket`` as a real process,
against a local WebSocket server standing in for Slack's (``websockets``) and the Slack Web
API stand-in, whose ``apps.connections.open`` hands out that server's ``ws://`` URL.

A ``/crm lead add`` envelope sent over the socket is acknowledged on the socket with its
``envelope_id``, the lead is created, and the answer reaches ``response_url``.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from crm.models import Lead
from tests.e2e_support import free_port, posted_to, web_env
from tests.slack_fake import FakeSlack, SlackUser

if TYPE_CHECKING:
    from tests.conftest import TestDB

TIMEOUT = 60.0


class SlackSocket:
    """The WebSocket end of Socket Mode: greets each connection with ``hello``, sends the
    envelopes queued with :meth:`send`, and keeps what the app sends back."""

    def __init__(self) -> None:
        self.outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self.server: Server = serve(self._session, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=test"

    def _session(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        while True:
            try:
                envelope = self.outbox.get(timeout=0.1)
                ws.send(json.dumps(envelope))
            except queue.Empty:
                pass
            try:
                message = ws.recv(timeout=0.1)
            except TimeoutError:
                continue
            except Exception:  # the app went away
                return
            self.received.put(json.loads(message))

    def send(self, envelope: dict[str, Any]) -> None:
        self.outbox.put(envelope)

    def ack_for(self, envelope_id: str) -> dict[str, Any]:
        while True:
            message = self.received.get(timeout=TIMEOUT)
            if message.get("envelope_id") == envelope_id:
                return message


@pytest.fixture
def slack_socket() -> Iterator[SlackSocket]:
    sock = SlackSocket()
    sock.thread.start()
    yield sock
    sock.server.shutdown()


def test_a_command_over_the_socket_is_acknowledged_and_creates_the_lead(
    db: TestDB, tmp_path: Path, slack_socket: SlackSocket
) -> None:
    with FakeSlack() as fake:
        fake.add_user(SlackUser("UREP1", "Rep One", "rep@acme.test"))
        opened: list[str] = []

        def connections_open(call: Any) -> dict[str, Any]:
            opened.append(call.token or "")
            return {"ok": True, "url": slack_socket.url}

        fake.handlers["apps.connections.open"] = connections_open
        env = web_env(db.url, fake, free_port(), extra={"SLACK_APP_TOKEN": "xapp-1-test"})
        del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs none: the app token authenticates
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.socket"],
            env=env,
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert slack_socket.connected.wait(TIMEOUT), "bot.socket never connected"
            assert opened == ["xapp-1-test"]  # the app-level token opened the connection
            slack_socket.send(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": {
                        "token": "",
                        "team_id": "TACME",
                        "team_domain": "acme",
                        "channel_id": "C1",
                        "channel_name": "sales",
                        "user_id": "UREP1",
                        "user_name": "rep.one",
                        "command": "/crm",
                        "text": 'lead add "Sock Et" email=sock@acme.test value=20k',
                        "api_app_id": "A1",
                        "response_url": fake.response_url("socket"),
                        "trigger_id": "1.2.socket",
                    },
                }
            )
            ack = slack_socket.ack_for("env-1")
            assert ack == {"envelope_id": "env-1"}  # acknowledged at once, answered later
            answer = posted_to(fake, fake.response_url("socket"))
            assert "Sock Et" in json.dumps(answer.args)
        finally:
            proc.terminate()
            output = proc.communicate(timeout=TIMEOUT)[0]
        assert "Traceback" not in output, output
    lead = Lead.get(Lead.name == "Sock Et")
    assert lead.email == "sock@acme.test" and lead.company.team_id == "TACME"
