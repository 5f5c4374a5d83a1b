"""Text people store (issue 10 finding 6), over signed HTTP against the real web process, on
both databases (a NUL byte used to crash PostgreSQL): control characters, ANSI escapes, bidi
overrides and invisible-only names are refused naming the field and change nothing; tabs
and line breaks stay in notes; mentions stored in text never ping when the bot echoes it."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.errors import ValidationError
from crm.importexport import import_csv
from crm.models import AuditLog, Communication, FollowUp, Lead
from crm.parsing import parse_text
from tests.admin_support import Session, Team, answer_text, new_team, session_fixture
from tests.e2e_support import site_fixture
from tests.surface_support import field_errors, opened_view, submit

pytestmark = pytest.mark.slow

# markup that pings (users, channels, groups, everyone) when Slack reads it in mrkdwn; the
# bot's own mentions of members (an assignee) are meant and allowed
MENTION = re.compile(r"<(?:[@#]|!(?!date\^))[^>]*>")  # <!date^...> formats a time


site = site_fixture("text")
session = session_fixture(check_payloads=False)


@pytest.fixture
def team(session: Session) -> Team:
    return new_team(session.fake)


def changes(team: Team) -> int:
    return AuditLog.select().where(AuditLog.company == team.company.id).count()


BAD_NAMES = {
    "Jane\x00Doe": "name: contains the control character U+0000; use plain text",
    "\x1b[31mRed Alert\x1b[0m": "name: contains the control character U+001B",
    "Jane\x07Bell": "name: contains the control character U+0007",
    "evil\u202egnp.exe": "name: contains a bidi control (U+202E)",
    "\u2066isolated\u2069": "name: contains a bidi control (U+2066)",
    "\u200b\u200c\u200d\ufeff": "name: has no visible characters",
    "\u3164\u2800": "name: has no visible characters",
}


def test_bad_characters_in_a_lead_name_are_refused_naming_the_field(
    session: Session, team: Team
) -> None:
    before = changes(team)
    for name, expected in BAD_NAMES.items():
        answer = session.command(f'lead add "{name}" email=x@example.com', team.rep)
        text = answer_text(answer)
        assert expected in text, (name, text)
        assert "Sorry" not in text and "went wrong" not in text
    assert changes(team) == before
    assert not Lead.select().where(Lead.company == team.company.id).exists()
    # the refusal itself carries no control character back to Slack
    assert not any(ch in json.dumps(answer) for ch in ("\x00", "\x1b", "\u202e"))


def test_notes_keep_tabs_and_line_breaks_but_refuse_other_controls(
    session: Session, team: Team
) -> None:
    session.command('lead add "Nora Notes" email=nora@example.com', team.rep)
    lead = Lead.get((Lead.company == team.company.id) & (Lead.name == "Nora Notes"))
    before = changes(team)
    refused = answer_text(session.command(f'log note L{lead.id} "hello\x00world"', team.rep))
    assert "text: contains the control character U+0000; use plain text" in refused
    words = f'followup L{lead.id} "Call\x1b back" due=tomorrow'
    refused = answer_text(session.command(words, team.rep))
    assert "title: contains the control character U+001B" in refused
    refused = answer_text(session.command('segment add "Retail" industry="re\x00tail"', team.admin))
    assert "industry: contains the control character U+0000" in refused
    assert changes(team) == before
    assert not FollowUp.select().where(FollowUp.company == team.company.id).exists()

    ok = answer_text(session.command(f'log note L{lead.id} "line one\nline\ttwo"', team.rep))
    assert "Logged" in ok, ok
    note = Communication.get(Communication.company == team.company.id)
    assert note.content == "line one\nline\ttwo"


def _every_text(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _every_text(item)
    elif isinstance(value, list):
        for item in value:
            yield from _every_text(item)


def test_mentions_in_stored_text_never_ping_when_echoed(session: Session, team: Team) -> None:
    name = "<@UINJECT> <!here> <!channel> <#C0GENERAL> <!subteam^S1>"
    mark = session.mark()
    created = session.command(f'lead add "{name}" email=inject@example.com', team.rep)
    lead = Lead.get((Lead.company == team.company.id) & (Lead.email == "inject@example.com"))
    # stored as typed (the command parser writes <!here> as @here): the echo is made safe
    assert lead.name.startswith("<@UINJECT> ") and "<#C0GENERAL>" in lead.name
    assert "&lt;@UINJECT&gt;" in created["text"]  # the notification fallback is escaped too
    session.command(f"lead L{lead.id}", team.rep)
    session.command("lead list", team.rep)
    session.command(f'followup L{lead.id} "<!everyone> call {name}" due=tomorrow', team.rep)
    session.command("followups", team.rep)
    session.command(f'log note L{lead.id} "met <@UINJECT> with <!here>"', team.rep)

    answers = [c.args for c in session.calls_since(mark)]
    assert len([a for a in answers if "blocks" in a]) >= 6
    echoed = [t for a in answers for t in _every_text(a) if "UINJECT" in t or "here" in t]
    assert echoed, "the name was echoed somewhere"
    members = {f"<@{p.id}>" for p in (team.admin, team.manager, team.rep, team.rep2)}
    for text in echoed:
        assert set(MENTION.findall(text)) <= members, text


def test_csv_import_follows_the_same_rule(team: Team, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "name,email\n"
        "Ann,ann@example.com\n"
        "Bad\x00Null,bad@example.com\n"
        "\u200b\u200b,zero@example.com\n"
        "\u202eevil,rlo@example.com\n",
        encoding="utf-8",
    )
    report = import_csv(team.admin.actor, "leads", path)
    assert report.created == 1
    assert [(r.line, r.field, r.reason.split(";")[0]) for r in report.rejected] == [
        (3, "name", "contains the control character U+0000"),
        (4, "name", "has no visible characters"),
        (5, "name", "contains a bidi control (U+202E) that makes text show differently"),
    ]


@given(st.text(max_size=60), st.booleans())
def test_stored_text_never_holds_a_refused_character(value: str, multiline: bool) -> None:
    """Whatever comes in: a ValidationError, or text without control characters (tab and
    newline only in multi-line text), bidi controls or surrogates, and with something
    visible in it."""
    try:
        text = parse_text(value, "notes", 100, multiline=multiline)
    except ValidationError as exc:
        assert exc.field == "notes"
        return
    if text is None:
        assert not value.strip()
        return
    kept = "\t\n" if multiline else ""
    for ch in text:
        assert unicodedata.category(ch) not in ("Cc", "Cs") or ch in kept, repr(ch)
        assert not 0x202A <= ord(ch) <= 0x202E and not 0x2066 <= ord(ch) <= 0x2069
    assert text.strip() and "\r" not in text


def test_modal_fields_follow_the_same_rule(session: Session, team: Team) -> None:
    r = session.slack.command("lead", team.rep.ref)
    assert r.status == 200 and not r.body, r.text
    view = opened_view(session.fake, team.rep.ref)
    errors = field_errors(submit(session.slack, view, team.rep.ref, {"name": "Jane\x00Doe"}))
    assert "contains the control character U+0000" in errors["name"]
    errors = field_errors(submit(session.slack, view, team.rep.ref, {"name": "\u200b\u2060"}))
    assert "has no visible characters" in errors["name"]
    assert not Lead.select().where(Lead.company == team.company.id).exists()
