"""End-to-end helpers shared by the ``/crm`` admin and pipeline tests: the web process the test
process shares per backend (:func:`tests.e2e_support.site_fixture`), with each test in its own workspace (a distinct Slack team id) instead of
a truncated database. Starting gunicorn costs more than most of these tests, and the suite has
a time budget (two cores, CI for everything in 90 minutes).

- ``site = site_fixture(...)`` and ``session = session_fixture()`` in a module: its web
  process, database and FakeSlack, and a :class:`Session` on them;
- :func:`new_team`: a company with an admin, a manager and two reps, made through the services
  (as ``crm.companies`` would on their first request) and known to FakeSlack;
- :class:`Session`: sends a command or a click and returns the answer, whether it came in the
  acknowledgement or later through ``response_url``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from crm.acting import Actor
from crm.companies import Profile, get_or_create_company, upsert_member
from crm.models import Company, Member
from tests.e2e_support import Response, Site, SlackClient, SlackUserRef, check_all_payloads
from tests.slack_fake import Call, FakeSlack, SlackUser

_teams = itertools.count(1)


@dataclass
class Person:
    slack: SlackUser
    member: Member

    @property
    def ref(self) -> SlackUserRef:
        return SlackUserRef(self.slack.id, self.slack.team_id, self.slack.team_id.lower())

    @property
    def actor(self) -> Actor:
        return Actor.for_member(Member.get_by_id(self.member.id), "slack")

    @property
    def id(self) -> str:
        return self.slack.id


@dataclass
class Team:
    company: Company
    admin: Person
    manager: Person
    rep: Person
    rep2: Person


def new_team(fake: FakeSlack) -> Team:
    """A fresh workspace: its company and members exist already (refreshed just now, so the
    web process does not ask ``users.info`` about them) and FakeSlack knows the people."""
    n = next(_teams)
    team_id = f"TADM{n}"
    company = get_or_create_company(team_id, f"Team {n}", currency="ZMW")

    def person(key: str, name: str, role: str, tz: str = "Africa/Lusaka") -> Person:
        user = fake.add_user(SlackUser(f"U{n}{key}", name, team_id=team_id, tz=tz))
        member = upsert_member(company, Profile(user.id, name, tz=tz, is_admin=role == "admin"))
        if member.role != role:
            Member.update(role=role).where(Member.id == member.id).execute()
            member = Member.get_by_id(member.id)
        return Person(user, member)

    return Team(
        company=company,
        admin=person("ADMIN", "Ada Admin", "admin"),
        manager=person("MGR", "Max Manager", "manager"),
        rep=person("REP", "Rita Rep", "rep"),
        rep2=person("REPB", "Ned York", "rep", tz="America/New_York"),
    )


def wait_call(fake: FakeSlack, match: Callable[[Call], bool], timeout: float = 20.0) -> Call:
    """The first recorded call that ``match`` accepts (the web process answers async)."""
    deadline = time.monotonic() + timeout
    with fake.cond:
        while True:
            for call in fake.calls:
                if match(call):
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(c.method, c.path) for c in fake.calls[-10:]]
                raise AssertionError(f"no matching call to FakeSlack; last calls: {seen}")
            fake.cond.wait(remaining)


def answer_text(payload: dict[str, Any]) -> str:
    """Everything a member reads in a message: the fallback text and every block's text."""
    parts = [payload.get("text", "")]
    for block in payload.get("blocks", []):
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        for element in block.get("elements", []) + block.get("fields", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif isinstance(element, dict) and isinstance(element.get("text"), dict):
                parts.append(element["text"]["text"])
    return "\n".join(parts)


def button_value(payload: dict[str, Any], action_id: str) -> str:
    for block in payload.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element["value"]
    raise AssertionError(f"no {action_id} button in {payload}")


@dataclass
class Session:
    """A module's SlackClient and FakeSlack, answering with the payload the member sees."""

    slack: SlackClient
    fake: FakeSlack

    def mark(self) -> int:
        """A point in FakeSlack's call log; :meth:`calls_since` reads what came after it."""
        with self.fake.lock:
            return len(self.fake.calls)

    def calls_since(self, mark: int, method: str | None = None) -> list[Call]:
        with self.fake.lock:
            return [c for c in self.fake.calls[mark:] if method is None or c.method == method]

    def _answer(self, r: Response, path: str) -> dict[str, Any]:
        assert r.status == 200, r.text
        if r.body:
            return r.json()
        call = wait_call(self.fake, lambda c: c.method == "response_url" and c.path == path)
        return call.args

    def command(self, text: str, who: Person) -> dict[str, Any]:
        name = f"adm{next(_teams)}"
        r = self.slack.command(text, who.ref, response_url=self.fake.response_url(name))
        return self._answer(r, f"/response/{name}")

    def click(self, action_id: str, value: str, who: Person) -> dict[str, Any]:
        name = f"adm{next(_teams)}"
        r = self.slack.click(action_id, value, who.ref, response_url=self.fake.response_url(name))
        return self._answer(r, f"/response/{name}")


def session_fixture(*, check_payloads: bool = True) -> Any:
    """A module-scoped ``session`` fixture on the module's ``site`` (see
    :func:`tests.e2e_support.site_fixture`); with ``check_payloads`` every Block Kit payload
    the module saw is validated at its end, and there must have been some."""

    @pytest.fixture(scope="module")
    def session(site: Site) -> Iterator[Session]:
        client = SlackClient(site.web)
        yield Session(client, site.fake)
        if check_payloads:
            assert check_all_payloads(client, site.fake) > 0

    return session
