"""The fixtures of the ``/crm`` record command tests (loaded with ``pytest_plugins``; the
helpers they share are in :mod:`tests.records_support`): ONE real web process per test module
and backend, a fresh workspace per test, and a Slack client whose payloads are validated."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from crm.companies import get_or_create_company
from tests.e2e_support import Site, SlackClient, SlackUserRef, check_all_payloads, site_fixture
from tests.records_support import Team, check_action_ids
from tests.slack_fake import SlackUser

_teams = itertools.count(1)


site = site_fixture("web")


@pytest.fixture
def team(site: Site) -> Team:
    n = next(_teams)
    team_id = f"TR{n}"
    get_or_create_company(team_id, team_id.lower())  # installed: only then does Slack talk
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
    get_or_create_company(f"TX{n}", "other")
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
