"""bot.command_runner: under gunicorn a web worker's ``/crm`` commands run in its handler
process after their acknowledgement; acknowledgements never wait for it, a handler process
that dies is replaced without losing the commands that come after, and without one (no
fork) the same jobs run on the process's own pool."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot import command_runner, composition
from crm.config import load_settings
from crm.models import Lead
from tests.e2e_support import SlackClient, SlackUserRef, WebProcess, posted_to, start_web
from tests.slack_fake import Call, FakeSlack, SlackUser

if TYPE_CHECKING:
    from tests.conftest import TestDB

BOB = SlackUser("UBOB", "Bob Rep", "bob@acme.io")
ME = SlackUserRef("UBOB")
NAMES = ["Ada Lovelace", "Grace Hopper", "Edsger Dijkstra"]  # unalike: no duplicate prompt
HANDLER_LINE = re.compile(r"handler process (\d+) runs /crm commands for web worker (\d+)")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user(BOB)
        yield fake


@pytest.fixture
def users_info_gate(fake: FakeSlack) -> Iterator[threading.Event]:
    """``users.info`` answers only once the gate opens; opened at teardown whatever happened."""
    gate = threading.Event()

    def held(call: Call) -> dict:
        gate.wait(30)
        return {"ok": True, "user": fake.users[str(call.args.get("user"))].as_api()}

    fake.handlers["users.info"] = held
    yield gate
    gate.set()


@pytest.fixture
def web(db: TestDB, fake: FakeSlack, tmp_path: Path) -> Iterator[WebProcess]:
    with start_web(db.url, fake, tmp_path) as proc:
        yield proc


def handler_pids(web: WebProcess, count: int = 1, timeout: float = 30.0) -> list[int]:
    """The handler processes the web process reported forking, once ``count`` of them have."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [int(m.group(1)) for m in HANDLER_LINE.finditer(web.log())]
        if len(pids) >= count:
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pids)} handler process(es) reported:\n{web.log()[-3000:]}")
        time.sleep(0.05)


@pytest.mark.slow
def test_commands_run_in_the_handler_process_and_acks_do_not_wait_for_it(
    web: WebProcess, fake: FakeSlack, db: TestDB
) -> None:
    (pid,) = handler_pids(web)
    # CRM_HANDLER_NICENESS=idle (the default): the cores go to acknowledgements first
    assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    slack = SlackClient(web)
    os.kill(pid, signal.SIGSTOP)
    try:
        acks = [slack.command(f'lead add "{name}"', ME, wait=False) for name in NAMES]
        assert [(a.status, a.body) for a in acks] == [(200, b"")] * 3
        with pytest.raises(AssertionError):  # nothing runs while the handler process is frozen
            fake.wait_for("response_url", 1, timeout=0.5)
        assert Lead.select().count() == 0
    finally:
        os.kill(pid, signal.SIGCONT)
    answers = fake.wait_for("response_url", 3)
    assert sorted(n for (n,) in Lead.select(Lead.name).tuples()) == sorted(NAMES)
    assert all("Created L" in str(a.args) for a in answers)


@pytest.mark.slow
def test_commands_a_dead_handler_process_never_started_run_in_the_worker(
    web: WebProcess, fake: FakeSlack, db: TestDB
) -> None:
    """The handler process dies with a command in its pipe (frozen, then killed): the worker
    runs that command itself, and gunicorn replaces the worker and its handler process.

    The worker hands the command over after the acknowledgement, so on a busy machine the kill
    may come first: the worker then finds the process gone with nothing in its pipe and runs
    the command without sending it. Either way the command runs once, in the worker."""
    (first,) = handler_pids(web)
    slack = SlackClient(web)
    url = fake.response_url("frozen")
    os.kill(first, signal.SIGSTOP)
    ack = slack.command('lead add "Alan Turing"', ME, wait=False, response_url=url)
    assert (ack.status, ack.body) == (200, b"")
    os.kill(first, signal.SIGKILL)
    answer = posted_to(fake, url)
    assert "Created L" in str(answer.args)
    assert re.search(rf"handler process {first} is gone with [01] job\(s\) unfinished", web.log())
    second = handler_pids(web, 2)[1]
    assert second != first and Path(f"/proc/{second}").exists()
    assert "Created L" in str(slack.command('lead add "Barbara Liskov"', ME).json())
    names = {n for (n,) in Lead.select(Lead.name).tuples()}
    assert names == {"Alan Turing", "Barbara Liskov"}


@pytest.mark.slow
def test_a_command_cut_short_by_a_dead_handler_process_says_so(
    web: WebProcess, fake: FakeSlack, db: TestDB, users_info_gate: threading.Event
) -> None:
    """Killed while it runs a command (waiting on ``users.info``): part of it may have
    happened, so it is not run again; the member is told to check, with a reference."""
    (first,) = handler_pids(web)
    slack = SlackClient(web)
    url = fake.response_url("cut")
    slack.command('lead add "Alan Turing"', ME, wait=False, response_url=url)
    fake.wait_for("users.info", 1)  # the command has started in the handler process
    os.kill(first, signal.SIGKILL)
    answer = posted_to(fake, url)
    assert "interrupted on our side and may not have completed" in str(answer.args)
    request_id = str(answer.args).split("reference is `")[1].split("`")[0]
    assert f"request {request_id}: interrupted" in web.log()
    users_info_gate.set()
    handler_pids(web, 2)
    assert "Created L" in str(slack.command('lead add "Barbara Liskov"', ME).json())
    assert Lead.select().count() == 1


def test_without_a_handler_process_jobs_run_on_this_process_pool() -> None:
    """A process that already runs threads cannot fork safely: the job still runs, here."""
    ran = threading.Event()
    done: list[tuple[str, int]] = []
    release = threading.Event()
    busy = threading.Thread(target=release.wait)
    busy.start()
    settings = load_settings({})
    previous = composition.install(
        composition.Web(
            settings,
            run_command=lambda job: (done.append((job, os.getpid())), ran.set()),
            abandon_command=print,
            api_limiter=composition.api_limiter(settings),
        )
    )
    try:
        assert command_runner.start_process() is None
        command_runner.submit("job-1")
        assert ran.wait(5)
        assert done == [("job-1", os.getpid())]
    finally:
        release.set()
        busy.join()
        composition.install(previous)
