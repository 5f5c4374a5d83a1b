"""App Home refreshes after writes are coalesced per member (bot.home_refresh): at most one
publish per interval, the last write always drawn, opening the tab publishes at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bot import home_refresh
from crm.acting import Actor
from crm.config import ConfigError, load_settings
from tests.conftest import settings_in_use

INTERVAL = 0.3


class Published:
    """Stands in for ``publish``: records who got a Home, and when."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.cond = threading.Condition()

    def __call__(self, client: Any, actor: Actor, user_id: str) -> None:
        with self.cond:
            self.users.append(user_id)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.users) >= count, timeout), self.users
            return list(self.users)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    recorder = Published()
    monkeypatch.setattr(home_refresh, "publish", recorder)
    with settings_in_use(load_settings({"CRM_HOME_REFRESH_INTERVAL": str(INTERVAL)})):
        yield recorder


def actor(company_id: int = 1) -> Actor:
    return Actor(company_id=company_id, kind="member", origin="slack", member_id=1)


def test_a_burst_of_writes_publishes_twice_and_the_last_write_is_drawn(
    published: Published,
) -> None:
    home_refresh.refresh(None, actor(), "UBURST")  # type: ignore[arg-type]
    assert published.wait_for(1) == ["UBURST"]  # the first write: at once
    for _ in range(5):  # within the interval: one more publish, when it is over
        home_refresh.refresh(None, actor(), "UBURST")  # type: ignore[arg-type]
    assert published.wait_for(2) == ["UBURST", "UBURST"]
    with published.cond:  # and no third: the burst is drawn by the second
        assert not published.cond.wait_for(lambda: len(published.users) > 2, INTERVAL * 2)


def test_members_do_not_wait_for_each_other(published: Published) -> None:
    home_refresh.refresh(None, actor(), "UONE")  # type: ignore[arg-type]
    home_refresh.refresh(None, actor(), "UTWO")  # type: ignore[arg-type]
    home_refresh.refresh(None, actor(2), "UONE")  # type: ignore[arg-type]  (another workspace)
    assert sorted(published.wait_for(3, timeout=INTERVAL / 2)) == ["UONE", "UONE", "UTWO"]


def test_opening_home_publishes_at_once_instead_of_the_waiting_publish(
    published: Published,
) -> None:
    home_refresh.refresh(None, actor(), "UOPEN")  # type: ignore[arg-type]
    published.wait_for(1)
    home_refresh.refresh(None, actor(), "UOPEN")  # type: ignore[arg-type]  (held back)
    home_refresh.refresh(None, actor(), "UOPEN", at_once=True)  # type: ignore[arg-type]
    assert published.wait_for(2, timeout=INTERVAL / 2) == ["UOPEN", "UOPEN"]
    with published.cond:  # the held-back publish was called off
        assert not published.cond.wait_for(lambda: len(published.users) > 2, INTERVAL * 2)


def test_a_bad_interval_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="CRM_HOME_REFRESH_INTERVAL='soon'"):
        load_settings({"CRM_HOME_REFRESH_INTERVAL": "soon"})
