"""The fixtures of the ``/crm`` record command tests (loaded with ``pytest_plugins``; the
helpers they share are in :mod:`tests.records_support`): ONE real web process per test module
and backend, a fresh workspace per test, and a Slack client whose payloads are validated."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator

import pytest

from crm.db import open_database
from crm.models import ALL_MODELS
from tests.conftest import BACKENDS
from tests.e2e_support import SlackClient, SlackUserRef, check_all_payloads, start_web
from tests.records_support import Site, Team, check_action_ids
from tests.slack_fake import FakeSlack, SlackUser

_teams = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"web-{backend}")
    if backend == "sqlite":
        path = workdir / "crm.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        handle = open_database(url)
    else:
        url = request.getfixturevalue("pg_url")
        handle = open_database(url)
        tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
        handle.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    handle.connect(reuse_if_open=True)
    try:
        with FakeSlack() as fake, start_web(url, fake, workdir) as web:
            yield Site(backend, web, fake, handle)
    finally:
        if not handle.is_closed():
            handle.close()


@pytest.fixture
def team(site: Site) -> Team:
    n = next(_teams)
    team_id = f"TR{n}"
    refs = []
    for role, admin in (("ADM", True), ("REP", False), ("REPB", False)):
        user = SlackUser(f"U{n}{role}", f"{role.title()} {n}", team_id=team_id, is_admin=admin)
        site.fake.add_user(user)
        refs.append(SlackUserRef(user.id, team_id, team_id.lower()))
    return Team(team_id, *refs)


@pytest.fixture
def outsider(site: Site) -> SlackUserRef:
    """A member of another workspace (rule 8: what they name of ours is "not found")."""
    n = next(_teams)
    user = site.fake.add_user(SlackUser(f"U{n}OUT", f"Out {n}", team_id=f"TX{n}"))
    return SlackUserRef(user.id, user.team_id, "other")


@pytest.fixture
def slack(site: Site) -> Iterator[SlackClient]:
    """A Slack client for one test; every Block Kit payload it saw is validated at the end."""
    site.fake.clear()
    client = SlackClient(site.web)
    yield client
    assert check_all_payloads(client, site.fake) > 0
    check_action_ids(client, site.fake)
