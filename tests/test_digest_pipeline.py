"""The weekly digest's open pipeline (issue 14): per stage, the count, amount and weighted
value now and the change since last week, rebuilt from the stage history and the audit
trail, with hand-computed figures; edits made through the services, under controlled time."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import time_machine

from bot.blocks.followups import weekly_digest_blocks
from crm import customers, digests, opportunities
from tests.conftest import Workspace

MONDAY = datetime(2026, 3, 9, 7, 0)  # 09:00 in Lusaka


def test_stage_totals_now_and_last_week(acme: Workspace) -> None:
    admin = acme.actor()
    with time_machine.travel(MONDAY - timedelta(days=10), tick=False):
        cust = customers.create_customer(admin, name="Acme Buyer")
        kept = opportunities.create_opportunity(
            admin, name="Kept", customer_id=cust.id, amount=Decimal(100_000), stage="proposal"
        )  # proposal 50%: weighted 50,000
        moved = opportunities.create_opportunity(
            admin, name="Moved", customer_id=cust.id, amount=Decimal(40_000)
        )  # prospecting 10%: weighted 4,000
        closed = opportunities.create_opportunity(
            admin, name="Closed", customer_id=cust.id, amount=Decimal(10_000)
        )  # prospecting 10%: weighted 1,000
    with time_machine.travel(MONDAY - timedelta(days=2), tick=False):
        opportunities.update_opportunity(admin, kept.id, amount="120k", probability=75)
        opportunities.move_stage(admin, moved.id, "negotiation")  # 75%: weighted 30,000
        opportunities.mark_lost(admin, closed.id, reason="price")
        opportunities.create_opportunity(
            admin, name="New", customer_id=cust.id, amount=Decimal(20_000)
        )  # prospecting 10%: weighted 2,000

    week = {s.stage: s for s in digests.weekly_digest(acme.company.id, MONDAY).stages}
    assert (week["proposal"].count, week["proposal"].amount, week["proposal"].weighted) == (
        1, Decimal(120_000), Decimal(90_000),
    )  # fmt: skip
    assert (week["proposal"].amount_before, week["proposal"].weighted_before) == (
        Decimal(100_000), Decimal(50_000),
    )  # fmt: skip
    assert (week["prospecting"].count, week["prospecting"].count_before) == (1, 2)
    assert (week["prospecting"].weighted, week["prospecting"].weighted_before) == (
        Decimal(2_000), Decimal(5_000),
    )  # fmt: skip
    assert (week["negotiation"].count, week["negotiation"].count_before) == (1, 0)
    assert week["negotiation"].weighted == Decimal(30_000)

    text = "\n".join(
        b["text"]["text"]
        for b in weekly_digest_blocks(digests.weekly_digest(acme.company.id, MONDAY))
        if b.get("type") == "section"
    )
    assert (
        "• Proposal: 1 deal · ZMW 120,000 (+ZMW 20,000) · weighted ZMW 90,000 (+ZMW 40,000)" in text
    )
    assert "• Prospecting: 1 deal (-1) · ZMW 20,000 (−ZMW 30,000)" in text
    # total now 3 deals, 180,000, weighted 122,000; a week ago 3 deals, 150,000, 55,000
    assert (
        "• *Total*: 3 deals · ZMW 180,000 (+ZMW 30,000) · weighted ZMW 122,000 (+ZMW 67,000)"
        in text
    )
