"""bot.background: a job handed off while a request is being answered starts after the answer
is written (or after ANSWER_WAIT), never lost."""

from __future__ import annotations

import threading
import time

from bot import background


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
