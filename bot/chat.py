"""``crm chat`` (SPEC 5.5): the bot in a terminal, as a chat-ops bot's shell adapter does.

Each line typed is a ``/crm`` command (with or without ``/crm``). It goes through the very
Bolt app Slack talks to (:func:`bot.app.assemble`: the same middleware, grammar, listeners
and services), dispatched in-process as Socket Mode does (``App.dispatch(BoltRequest(...,
mode="socket_mode"))``: no HTTP, no signature), as one member of the configured database.

What would go to Slack goes to the terminal instead: the app's Web API client is a
:class:`LocalClient` whose calls are answered here (``users.info`` from the database,
``conversations.open`` with the member's own DM) and whose messages and modals are printed
through :mod:`bot.blocks.text`; ``response_url`` answers come through a ``respond`` of our
own. Buttons become numbered choices: typing the number sends the ``block_actions`` Slack
would send, to the same action listener. Reminders and digests that fall due for this member
while the session is open are printed too (:mod:`bot.chat_jobs`, every
``CRM_SCAN_INTERVAL`` seconds).

Jobs run inline (:func:`bot.background.run_inline`), so a command's whole answer is printed
before the next line is read; that works the same from a pipe and from a terminal.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from slack_bolt import BoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from bot import background
from bot.app import CRMApp, assemble
from bot.blocks.text import Choice, Rendered, render_message, render_view
from bot.chat_jobs import MemberJobs
from bot.composition import compose_web
from bot.listeners.commands.crm import CommandJob, abandon_command, run_command
from crm.config import Settings
from crm.models import Company, Member

BOT_USER = "UCRMBOT"
LOCAL_TOKEN = "xoxb-crm-chat"  # what the app believes its bot token is; nothing is sent
APP_ID = "ACRMCHAT"
PROMPT = "crm> "
HELLO = (
    "Slack CRM, in a terminal: each line is a /crm command (the `/crm` is optional).\n"
    'Try: lead add "Jane Doe" email=jane@acme.com value=50k · pipeline · followups · help\n'
    "Type a [number] to click that button; `quit` or Ctrl-D ends."
)


class Terminal:
    """Where the bot's messages go: numbered choices carry on across one answer, and the
    latest answer's choices are what a typed number picks."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.choices: list[tuple[Choice, dict[str, Any]]] = []  # (choice, message it sits on)
        self._turn: list[tuple[Choice, dict[str, Any]]] | None = None  # None: between lines
        self._fresh = True  # the next message between lines starts its numbers at 1
        self._lock = threading.Lock()

    def new_turn(self) -> None:
        with self._lock:
            self._turn = []

    def end_turn(self) -> None:
        with self._lock:
            if self._turn:
                self.choices = self._turn
            self._turn = None
            self._fresh = True

    def show(
        self,
        render: Callable[[int], Rendered],
        where: dict[str, Any],
        heading: str = "",
    ) -> None:
        """Print a message; its choices are numbered on from the earlier ones of the same
        answer, or of the messages that arrived on their own since the last line (reminders).
        ``render(first)`` draws it with its first choice numbered ``first``."""
        with self._lock:
            if self._turn is None:  # between lines: these choices are pickable at once
                if self._fresh:
                    self.choices, self._fresh = [], False
                turn = self.choices
            else:
                turn = self._turn
            rendered = render(len(turn) + 1)
            turn += [(c, where) for c in rendered.choices]
            text = "\n".join(rendered.lines)
            if heading:
                text = f"{heading}\n{text}"
            self.out.write(text.rstrip() + "\n\n")
            self.out.flush()

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(text.rstrip() + "\n")
            self.out.flush()


class LocalClient(WebClient):
    """A Web API client that talks to no Slack: each call is answered by the chat session
    (messages and modals printed, people looked up in the database)."""

    def __init__(self, session: ChatSession) -> None:
        super().__init__(base_url="http://crm-chat.invalid/api/")
        self.session = session

    def api_call(  # type: ignore[override]
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict | None = None,
        data: dict | None = None,
        params: dict | None = None,
        json: dict | None = None,
        headers: dict | None = None,
        auth: dict | None = None,
    ) -> SlackResponse:
        args = {**(params or {}), **(data or {}), **(json or {})}
        answer = self.session.on_api(api_method, args)
        return SlackResponse(
            client=self,
            http_verb=http_verb,
            api_url=api_method,
            req_args=args,
            data={"ok": True, **answer} if "error" not in answer else {"ok": False, **answer},
            headers={},
            status_code=200,
        ).validate()

    def files_upload_v2(self, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        """A chart: written to a file the member can open, instead of uploaded."""
        return self.api_call("files.upload", json=kwargs)


class ChatSession:
    """One member at a keyboard: builds the app, dispatches lines and clicks, prints."""

    def __init__(self, settings: Settings, member: Member, out: TextIO) -> None:
        self.settings = settings
        self.member = member
        self.company: Company = member.company
        self.dm = f"D{member.slack_user_id}"
        self.terminal = Terminal(out)
        self.client = LocalClient(self)
        self._ts = itertools.count(1)
        self.files = Path(tempfile.mkdtemp(prefix="crm-chat-"))
        # the CLI opened the database (crm.cli.connect); jobs run inline, the reply printed
        compose_web(
            settings,
            run_command=self._run_command,
            abandon_command=abandon_command,
            database=False,
            inline=True,
        )
        self.app = CRMApp(
            client=self.client,
            authorize=self._authorizer(),
            signing_secret="",
            request_verification_enabled=False,
            process_before_response=True,
            listener_executor=background.executor(),
            name="slack-crm-chat",
        )
        self.app.use(self._local_client_middleware())
        assemble(self.app, settings)

    # --- the app's view of Slack ---------------------------------------------------------------

    # Bolt passes listeners and middleware the arguments their parameters name, so these are
    # closures (a bound method's ``self`` would be taken for an argument).

    def _authorizer(self) -> Callable[..., AuthorizeResult]:
        team_id = self.company.team_id

        def authorize(enterprise_id: str | None) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=None,
                team_id=team_id,
                bot_user_id=BOT_USER,
                bot_id="BCRMCHAT",
                bot_token=LOCAL_TOKEN,
            )

        return authorize

    def _local_client_middleware(self) -> Callable[..., None]:
        """Bolt gives each request a fresh WebClient copied from ``app.client``'s settings,
        not ``app.client`` itself; ours goes in its place, and so does ``respond``."""
        client, respond = self.client, self._respond

        def local_client(context: Any, next: Callable[[], None]) -> None:
            context["client"] = client
            context["respond"] = respond
            next()

        return local_client

    def _respond(self, text: str | dict = "", blocks: list | None = None, **_: Any) -> None:
        message = text if isinstance(text, dict) else {"text": text, "blocks": blocks}
        self.show(message, {"is_ephemeral": True})

    def _run_command(self, job: CommandJob) -> object:
        reply = run_command(job, self.settings, self.client)
        if reply is not None:
            self.show(reply, {"is_ephemeral": True})
        return reply

    def name_of(self, user_id: str) -> str:
        member = Member.scoped(self.company.id).where(Member.slack_user_id == user_id).first()
        return member.name if member is not None and member.name else user_id

    def on_api(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """The answer Slack would give, and the terminal output it stands for."""
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            channel = str(args.get("channel") or "")
            ts = str(args.get("ts") or f"{next(self._ts)}.000000")
            where = {"channel_id": channel, "message_ts": ts, "is_ephemeral": False}
            heading = "" if channel in (self.dm, self.member.slack_user_id) else f"(in {channel})"
            self.show(args, where, heading)
            return {"channel": channel, "ts": ts, "message": {"ts": ts}}
        if method in ("views.open", "views.push", "views.update"):
            view = _decode(args.get("view"))
            self.terminal.show(lambda first: render_view(view, self.name_of, first), {})
            self.terminal.say(
                "(forms need Slack; in the terminal type the command instead, e.g. "
                '`lead add "Name" email=...`)\n'
            )
            return {"view": {**view, "id": "VCHAT"}}
        if method == "users.info":
            return self._user(str(args.get("user") or ""))
        if method == "conversations.open":
            users = str(args.get("users") or "")
            return {"channel": {"id": f"D{users}" if users else self.dm}}
        if method == "files.upload":
            return self._file(args)
        if method == "auth.test":
            return {"team_id": self.company.team_id, "user_id": BOT_USER, "bot_id": "BCRMCHAT"}
        if method == "conversations.history":
            return {"messages": []}
        return {}  # views.publish (App Home) and the rest: nothing to show here

    def _user(self, user_id: str) -> dict[str, Any]:
        member = Member.scoped(self.company.id).where(Member.slack_user_id == user_id).first()
        if member is None:
            return {"error": "user_not_found"}
        return {
            "user": {
                "id": member.slack_user_id,
                "name": member.name,
                "real_name": member.name,
                "tz": member.tz,
                "is_admin": member.role == "admin",
                "profile": {"real_name": member.name, "email": member.email},
            }
        }

    def _file(self, args: dict[str, Any]) -> dict[str, Any]:
        content = args.get("file") or args.get("content") or b""
        path = self.files / str(args.get("filename") or "file")
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        comment = args.get("initial_comment") or args.get("title") or ""
        self.terminal.say(f"{comment}\n(chart saved to {path})\n".lstrip())
        return {"files": [{"id": "FCHAT", "name": path.name}]}

    def show(self, message: dict[str, Any], where: dict[str, Any], heading: str = "") -> None:
        self.terminal.show(
            lambda first: render_message(message, self.name_of, first),
            {**where, "blocks": message.get("blocks") or []},
            heading,
        )

    # --- what the member types -------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """One typed line; ``False`` when the member is done."""
        text = line.strip()
        if text.lower() in ("quit", "exit", "q"):
            return False
        if not text:
            return True
        self.terminal.new_turn()
        try:
            if text.isdigit():
                self.click(int(text))
            else:
                self.command(text.removeprefix("/crm").strip())
        finally:
            background.release_connection()
            self.terminal.end_turn()
        return True

    def _base(self) -> dict[str, Any]:
        return {
            "team_id": self.company.team_id,
            "team_domain": self.company.team_id.lower(),
            "api_app_id": APP_ID,
            "token": "",
            # unique per line: Slack's trigger id is what repeated submissions are known by
            "trigger_id": f"chat.{uuid.uuid4().hex}",
        }

    def command(self, text: str) -> None:
        body = {
            **self._base(),
            "command": "/crm",
            "text": text,
            "user_id": self.member.slack_user_id,
            "user_name": self.member.name,
            "channel_id": self.dm,
            "channel_name": "directmessage",
        }
        self._dispatch(body)

    def click(self, number: int) -> None:
        if not 1 <= number <= len(self.terminal.choices):
            shown = len(self.terminal.choices)
            self.terminal.say(
                f"there is no choice {number}"
                + (f"; pick 1 to {shown}" if shown else ": nothing to pick yet")
                + "\n"
            )
            return
        choice, where = self.terminal.choices[number - 1]
        if choice.url:
            self.terminal.say(f"(opens {choice.url})")
        base = self._base()
        user = {"id": self.member.slack_user_id, "name": self.member.name}
        body = {
            **base,
            "type": "block_actions",
            "team": {"id": base["team_id"], "domain": base["team_domain"]},
            "user": {**user, "team_id": base["team_id"]},
            "channel": {"id": where.get("channel_id") or self.dm},
            "container": {
                "type": "message",
                "channel_id": where.get("channel_id") or self.dm,
                "message_ts": where.get("message_ts"),
                "is_ephemeral": bool(where.get("is_ephemeral")),
            },
            "message": {"ts": where.get("message_ts"), "blocks": where.get("blocks") or []},
            "actions": [{**choice.action, "action_ts": f"{next(self._ts)}.0"}],
        }
        self._dispatch(body)

    def _dispatch(self, body: dict[str, Any]) -> None:
        response = self.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        if response.body:  # what the acknowledgement itself carries (a usage error)
            try:
                message = json.loads(response.body)
            except ValueError:
                message = {"text": response.body}
            if isinstance(message, dict) and (message.get("text") or message.get("blocks")):
                self.show(message, {"is_ephemeral": True})

    def loop(self, lines: TextIO, interactive: bool) -> int:
        self.terminal.say(HELLO)
        self.terminal.say(
            f"You are {self.member.name} ({self.member.role}) in {self.company.team_id}.\n"
        )
        if interactive:
            import readline  # noqa: F401  (line editing and history for input())
        while True:
            if interactive:
                try:
                    line = input(PROMPT) + "\n"
                except EOFError:
                    break
            else:
                line = lines.readline()
                if not line:
                    break
                self.terminal.say(PROMPT + line.rstrip())
            if not self.handle(line):
                break
        return 0


def _decode(view: Any) -> dict[str, Any]:
    if isinstance(view, str):
        try:
            decoded = json.loads(view)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return view if isinstance(view, dict) else {}


def run(
    settings: Settings, member: Member, *, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    session = ChatSession(settings, member, out)
    jobs = MemberJobs(session, settings.scan_interval)
    jobs.start()
    try:
        return session.loop(stdin, interactive=stdin.isatty())
    finally:
        jobs.stop()
