"""``crm chat`` (SPEC 5.5): a conversation typed into the real command, through its stdin and
through a pseudo-terminal, against the demo workspace on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import time_machine

from crm.demo import load_demo
from crm.models import FollowUp, Lead
from tests.slack_fake import FakeSlack

if TYPE_CHECKING:
    from tests.conftest import TestDB

TIMEOUT = 120


def chat_env(db: TestDB) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": db.url}
    for name in ("REDIS_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        env.pop(name, None)
    env["SLACK_API_URL"] = "http://127.0.0.1:9/api/"  # a closed port: any call to Slack fails
    env["CRM_SCAN_INTERVAL"] = "3600"  # no reminder scan mid-conversation (tested on its own)
    return env


def chat(
    db: TestDB, lines: list[str], *args: str, slack_api_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = chat_env(db)
    if slack_api_url:
        env["SLACK_API_URL"] = slack_api_url
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "chat", *args],
        input="".join(f"{line}\n" for line in lines),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def answers(stdout: str) -> dict[str, str]:
    """What the bot printed after each typed line (the transcript echoes them as ``crm> ``)."""
    parts = re.split(r"^crm> (.*)$", stdout, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


@pytest.mark.slow
def test_a_conversation_through_stdin(db: TestDB) -> None:
    load_demo()
    with FakeSlack() as slack:  # listening, so that a call to Slack would be seen
        out = chat(
            db,
            [
                '/crm lead add "Jane Doe" email=jane@acme.com value=50k',
                'lead add "Jane Doe" email=jane@acme.com',  # a likely duplicate: two buttons
                "2",  # "Create anyway", picked by its number
                'lead add "Kim Lee" value=12x',
                "7",
                "pipeline",
                "quit",
            ],
            slack_api_url=slack.api_url,
        )
    assert slack.calls == [], "crm chat needs no Slack and no network"
    assert out.returncode == 0, out.stderr
    said = answers(out.stdout)
    assert "You are Chanda Phiri (rep) in TDEMO" in out.stdout
    created = said['/crm lead add "Jane Doe" email=jane@acme.com value=50k']
    assert re.search(r"Created \*L\d+\* Jane Doe", created) and "[1] Undo" in created
    offered = said['lead add "Jane Doe" email=jane@acme.com']
    assert "[1] Use L" in offered and "[2] Create anyway" in offered
    assert re.search(r"Created \*L\d+\* Jane Doe", said["2"])
    assert (
        'value: "12x" is not an amount; try value=12000 or value=12k'
        in said['lead add "Kim Lee" value=12x']
    )
    assert "there is no choice 7" in said["7"]
    pipeline = said["pipeline"]
    assert "Chanda Phiri's pipeline" in pipeline and "*Total*" in pipeline
    assert re.search(r"K[\d,]+ weighted", pipeline) and "[1] Share in channel" in pipeline
    chart = re.search(r"chart saved to (\S+)\)", pipeline)
    assert chart and Path(chart.group(1)).read_bytes().startswith(b"\x89PNG")
    assert "Traceback" not in out.stdout + out.stderr

    janes = list(Lead.select().where(Lead.name == "Jane Doe").order_by(Lead.id))
    assert len(janes) == 2 and janes[0].estimated_value == Decimal(50_000)
    assert janes[0].email == janes[1].email == "jane@acme.com"
    assert not Lead.select().where(Lead.name == "Kim Lee").exists()


def test_a_button_runs_its_action_listener(db: TestDB) -> None:
    """``followups``, then ``1`` clicks the first one's Done: the follow-up is completed."""
    load_demo()
    out = chat(db, ["followups", "1"])
    assert out.returncode == 0, out.stderr
    said = answers(out.stdout)
    ref = re.search(r"\*F(\d+)\* .*\n\s*\n?.*\n\s*\[1\] Done", said["followups"])
    assert ref, said["followups"]
    assert re.search(rf"\*F{ref.group(1)}\* ~.*~ done by @Chanda Phiri", said["1"])
    assert FollowUp.get_by_id(int(ref.group(1))).completed_at is not None


@pytest.mark.slow
def test_through_a_pseudo_terminal(db: TestDB) -> None:
    load_demo()
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "chat", "--as", "UDEMOMGR"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=chat_env(db),
        close_fds=True,
    )
    os.close(terminal)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + TIMEOUT
        while marker not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                seen += os.read(controller, 65536)

    try:
        read_until(b"crm> ")
        os.write(controller, b"pipeline team\n")
        read_until(b"Total")
        read_until(b"crm> ")
        os.write(controller, b"quit\n")
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        proc.kill()
        os.close(controller)
    text = seen.decode(errors="replace")
    assert "(manager) in TDEMO" in text
    assert re.search(r"Team pipeline: \d+ open deals, K[\d,]+ total", text)


def test_an_unknown_member_is_one_line_and_exit_2(db: TestDB) -> None:
    load_demo()
    out = chat(db, [], "--as", "UNOBODY")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: no member 'UNOBODY' in TDEMO")
    assert len(out.stderr.strip().splitlines()) == 1


def test_reminders_due_during_the_session_are_printed_and_clickable(
    db: TestDB, monkeypatch
) -> None:
    """In-process, at a controlled time: the session's scan prints this member's due
    reminders (numbered buttons), records them sent (once per occasion), and Done works."""
    import io

    from bot import background, composition
    from bot.chat import ChatSession
    from bot.chat_jobs import MemberJobs
    from crm.config import load_settings
    from crm.models import Member

    # the session composes the process (jobs inline, its runner): put it back afterwards
    monkeypatch.setattr(background, "_executor", background._executor)
    monkeypatch.setattr(composition, "_current", composition._current)
    at = datetime(2026, 12, 7, 10, 0)  # a Monday, 12:00 in Lusaka
    with time_machine.travel(at - timedelta(hours=1), tick=False):
        load_demo()
    rep = Member.get(Member.slack_user_id == "UDEMOREP1")
    out = io.StringIO()
    with time_machine.travel(at, tick=False):
        session = ChatSession(load_settings({"DATABASE_URL": db.url}), rep, out)
        jobs = MemberJobs(session, interval=3600)
        sent = jobs.tick()
        text = out.getvalue()
        due = list(
            FollowUp.select().where(FollowUp.assigned_to == rep.id, FollowUp.last_reminded_at == at)
        )
        assert sent >= 1 and len(due) >= 1, text
        assert f"F{due[0].id}" in text and "[1] Done" in text
        assert jobs.tick() == 0  # the same occasion is never sent twice
        first = int(re.search(r"\*F(\d+)\*", text).group(1))
        session.handle("1")
    assert FollowUp.get_by_id(first).completed_at is not None, out.getvalue()
    assert re.search(rf"F{first}\* ~.*~ done by @Chanda Phiri", out.getvalue())
