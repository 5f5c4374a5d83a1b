"""bot.background: a job handed off while a request is being answered starts after the answer
is written (or after ANSWER_WAIT), never lost."""

from __future__ import annotations

import os
import threading
import time

import pytest

from bot import background
from crm.config import ConfigError, load_settings
from tests.conftest import settings_in_use


def test_a_job_waits_for_the_answer_then_runs() -> None:
    started = threading.Event()
    with background.answer_first() as answered:
        future = background.submit(started.set)
        assert not started.wait(0.1)  # the acknowledgement is still being written
    answered()
    assert started.wait(2) and future.result(2) is None


def test_an_answer_that_never_reports_back_holds_a_job_only_briefly() -> None:
    took = []
    with background.answer_first():  # its answered() is never called (a dropped connection)
        begun = time.monotonic()
        future = background.submit(lambda: took.append(time.monotonic() - begun))
    future.result(5)
    assert background.ANSWER_WAIT * 0.8 <= took[0] < background.ANSWER_WAIT + 1.5
    # outside a request nothing waits
    begun = time.monotonic()
    background.submit(lambda: None).result(2)
    assert time.monotonic() - begun < background.ANSWER_WAIT


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("CRM_HANDLER_NICENESS", "low", "must be idle or a niceness from 0 to 19"),
        ("CRM_HANDLER_NICENESS", "20", "must be idle or a niceness from 0 to 19"),
        ("CRM_HANDLER_NICENESS", "-5", "must be idle or a niceness from 0 to 19"),
        ("CRM_HANDLER_THREADS", "0", "must be a whole number of at least 1"),
        ("CRM_HANDLER_THREADS", "many", "must be a whole number of at least 1"),
    ],
)
def test_a_malformed_handler_setting_is_refused_by_name(name: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='{raw}' {says}"):
        load_settings({name: raw})


def _niceness_of_a_pool_thread() -> int:
    seen: list[int] = []

    def run() -> None:
        background.lower_thread_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0]


def test_pool_threads_take_the_niceness_and_never_idle() -> None:
    """``idle`` is for the handler process only: a pool thread shares a GIL with request
    threads, so it stays at niceness 10."""
    with settings_in_use(load_settings({"CRM_HANDLER_NICENESS": "19"})):
        assert _niceness_of_a_pool_thread() == 19
    with settings_in_use(load_settings({"CRM_HANDLER_NICENESS": " IDLE "})):
        assert _niceness_of_a_pool_thread() == 10
