"""Type-ahead (SPEC 5.2): every modal field that refers to a lead, customer, opportunity or
segment is an ``external_select``; a ``block_suggestion`` for it, signed and sent to the web
process, answers the workspace's own matches of the right kinds, best match first, within
Slack's limit (asserted at 1 s; ``bench/suggest.py`` measures the real figures)."""

from __future__ import annotations

import time

import pytest

from bot.blocks.modals import Origin, followup_modal, log_modal, opportunity_modal
from tests.e2e_support import SlackClient, SlackUserRef
from tests.records_support import Team, ask, ref_in

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)


def record_fields(view: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """block_id -> action_id of the view's type-ahead inputs."""
    return {
        b["block_id"]: b["element"]["action_id"]
        for b in view["blocks"]
        if b.get("type") == "input" and "external_select" in b["element"]["type"]
    }


def options(slack: SlackClient, action_id: str, typed: str, user: SlackUserRef) -> list[str]:
    started = time.monotonic()
    r = slack.suggest(action_id, typed, user)
    elapsed = time.monotonic() - started
    assert r.status == 200, r.text
    assert elapsed < 1.0, f"{elapsed:.2f}s for {typed!r}"
    answer = r.json()
    assert all(len(o["text"]["text"]) <= 75 for o in answer["options"])
    return [o["value"] for o in answer["options"]]


def test_every_record_field_suggests_its_kinds_best_first_in_the_workspace(
    slack: SlackClient, team: Team, outsider: SlackUserRef
) -> None:
    lid = ref_in(ask(slack, 'lead add "Jane Doe" email=jane@initech.io', team.rep), "L")
    cid = ref_in(ask(slack, 'customer add "Janet Smith" company=Janssen', team.rep), "C")
    oid = ref_in(ask(slack, f'opp add "Jan renewal" customer=C{cid} amount=5k', team.rep), "O")
    ask(slack, f'followup L{lid} "call" due=tomorrow', team.rep)

    origin = Origin(channel="C1")
    opp_fields = record_fields(opportunity_modal(origin, assignee=None))
    log_fields = record_fields(log_modal(origin))
    follow_fields = record_fields(followup_modal(origin, assignee=None))
    assert set(opp_fields) == set(log_fields) == set(follow_fields) == {"ref"}

    # New opportunity: customers and leads only; a whole word ranks over a prefix
    assert options(slack, opp_fields["ref"], "jane", team.rep) == [f"L{lid}", f"C{cid}"]
    assert options(slack, opp_fields["ref"], "ja", team.rep) == [f"C{cid}", f"L{lid}"]
    # Log and follow-up: all three kinds
    for fields in (log_fields, follow_fields):
        assert options(slack, fields["ref"], "jan", team.rep2) == [
            f"O{oid}", f"C{cid}", f"L{lid}",
        ]  # fmt: skip  # "Jan" is a whole word of the deal's name
        assert options(slack, fields["ref"], "initech", team.rep) == [f"L{lid}"]
    # nothing of another workspace, and nothing for text that searches nothing
    assert options(slack, log_fields["ref"], "jan", outsider) == []
    assert options(slack, log_fields["ref"], "--", team.rep) == []
    # an action id that is not a type-ahead of ours answers no options, not an error
    assert options(slack, "value:zz", "jan", team.rep) == []


def test_segment_and_customer_list_fields(slack: SlackClient, team: Team) -> None:
    from bot.blocks.modals import record_select

    ask(slack, 'customer add "Acme Ltd"', team.rep)
    sid = ref_in(ask(slack, 'segment add "Gold accounts" tier=gold', team.admin), "S")
    ref_in(ask(slack, 'segment add "Silver accounts" tier=silver', team.admin), "S")
    segment = record_select("segment", "Segment", ("segment",))["element"]["action_id"]
    assert options(slack, segment, "gol", team.rep) == [f"S{sid}"]
    assert len(options(slack, segment, "acc", team.rep)) == 2
    many = record_select("customers", "Customers", ("customer",), multi=True)["element"]
    assert many["type"] == "multi_external_select"
    assert [o[:1] for o in options(slack, many["action_id"], "acme", team.rep)] == ["C"]
