"""``/crm pipeline winloss`` end to end over signed HTTP (SPEC 7): win rate by member and by
lead source and the top loss reasons, for deals closed through the commands, hand-computed."""

from __future__ import annotations

import pytest

from tests.e2e_support import SlackClient
from tests.records_support import Team, ask, ref_in, text_of, warned

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)


def test_winloss_by_member_source_and_reason(slack: SlackClient, team: Team) -> None:
    lid = ref_in(ask(slack, 'lead add "Referred Co" source=referral', team.rep), "L")
    cid = ref_in(ask(slack, 'customer add "Walk In Ltd"', team.rep2), "C")
    won = ref_in(ask(slack, f'opp add "Won deal" customer=C{cid} amount=30k', team.rep), "O")
    lost1 = ref_in(ask(slack, f'opp add "Lost one" lead=L{lid} amount=10k', team.rep), "O")
    lost2 = ref_in(ask(slack, f'opp add "Lost two" customer=C{cid} amount=20k', team.rep2), "O")
    ask(slack, f"opp won O{won}", team.rep)
    ask(slack, f'opp lost O{lost1} reason="Price"', team.rep)
    ask(slack, f'opp lost O{lost2} reason="price"', team.rep2)

    text = text_of(ask(slack, "pipeline winloss team", team.admin))
    # 1 of 3 deals won; K30,000 of K60,000 closed
    assert "Everyone: 33% by count · 50% by value · won 1 (K30,000) · lost 2 (K30,000)" in text
    assert f"<@{team.rep.id}>: 50% by count · 75% by value · won 1 (K30,000) · lost 1" in text
    assert f"<@{team.rep2.id}>: 0% by count · 0% by value · won 0 (K0) · lost 1" in text
    assert "• referral: 0% by count · 0% by value · won 0 (K0) · lost 1 (K10,000)" in text
    assert "• unknown: 50% by count · 60% by value · won 1 (K30,000) · lost 1 (K20,000)" in text
    assert "1. Price: 2 deals · K30,000" in text

    mine = text_of(ask(slack, "pipeline winloss", team.rep2))
    assert "Your deals won and lost" in mine and "won 0 (K0) · lost 1 (K20,000)" in mine
    assert "team" in warned(ask(slack, f"pipeline winloss <@{team.rep.id}>", team.rep2))


def test_customer_card_shows_every_lifetime_value_figure(slack: SlackClient, team: Team) -> None:
    cid = ref_in(ask(slack, 'customer add "Figures Ltd"', team.rep), "C")
    ask(slack, f"order C{cid} amount=30k cost=12k date=2026-01-10", team.rep)
    ask(slack, f"order C{cid} amount=10k cost=4k", team.rep)
    card = text_of(ask(slack, f"customer C{cid}", team.rep))
    # rule 3: revenue 40,000; profit 40,000 - 16,000 = 24,000; margin 60%; AOV 20,000
    for figure in (
        "*Lifetime value*\nK40,000", "*Tier*\nsilver", "*Churn risk*\nlow",
        "*Total revenue*\nK40,000", "*Total profit*\nK24,000", "*Profit margin*\n60.0%",
        "*Average order*\nK20,000", "orders a month", "*First purchase*", "days ago",
    ):  # fmt: skip
        assert figure in card, (figure, card)
