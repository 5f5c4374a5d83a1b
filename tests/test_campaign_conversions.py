"""Conversions and ROI (SPEC 6) against hand-computed figures: the window's edges, two
campaigns competing for one order, and every way an order arrives (the order use case, a won
deal, the CSV import)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from crm import customers, importexport, opportunities
from crm.campaigns import service
from crm.models import Campaign, CampaignConversion, CampaignRecipient
from tests.campaign_support import channel_settings, make_audience

T0 = datetime(2026, 3, 1, 12, 0)  # campaign A sent
T1 = datetime(2026, 3, 5, 12, 0)  # campaign B sent


def _sent(aud, name, at, **extra):
    """A campaign to the segment, every recipient marked sent at ``at``."""
    actor = aud.ws.actor(aud.ws.manager)
    campaign = service.create_campaign(
        actor, name=name, channel="email", segment_id=aud.segment.id, subject="s",
        body="Buy https://shop.acme.test", **extra,
    )  # fmt: skip
    service.send_now(actor, campaign.id)
    CampaignRecipient.update(status="sent", sent_at=at).where(
        (CampaignRecipient.campaign == campaign.id) & (CampaignRecipient.status == "pending")
    ).execute()
    Campaign.update(status="sent").where(Campaign.id == campaign.id).execute()
    return campaign


@pytest.fixture
def aud(acme):
    before = T0.replace(tzinfo=UTC) - timedelta(days=1)
    with time_machine.travel(before, tick=False), channel_settings():
        yield make_audience(acme, 4)


def _order(aud, who, amount, at, ref=None):
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        return customers.add_order(
            aud.ws.actor(aud.ws.admin), aud.people[who].id, amount=Decimal(amount),
            ordered_at=at, external_ref=ref,
        )  # fmt: skip


def test_window_edges_and_roi(aud):
    a = _sent(aud, "A", T0, cost="1000", attribution_days=10, goal_type="revenue",
              goal_value="10000")  # fmt: skip
    _order(aud, 0, "3000", T0 + timedelta(days=10))  # just inside: exactly 10 days after
    _order(aud, 1, "5000", T0 + timedelta(days=10, seconds=1))  # just outside
    _order(aud, 2, "700", T0 - timedelta(seconds=1))  # before the send: never
    _order(aud, 0, "500", T0 + timedelta(hours=1))  # a second order of the same recipient
    f = service.figures(a)
    # converted: one recipient (customer 0); revenue 3000 + 500; ROI (3500-1000)/1000*100
    assert (f.converted, f.revenue) == (1, Decimal("3500.00"))
    assert f.roi == Decimal("250.00")
    assert f.goal_progress == Decimal("35.0")  # 3500 of 10000
    assert CampaignConversion.select().count() == 2


def test_two_campaigns_compete_for_one_order(aud):
    a = _sent(aud, "A", T0, budget="400", attribution_days=30)
    b = _sent(aud, "B", T1, cost="200", attribution_days=2)
    # inside both windows: the most recent campaign (B) gets it, once
    _order(aud, 0, "1000", T1 + timedelta(days=1))
    # outside B's 2 days, inside A's 30: A, the most recent one whose window holds it
    _order(aud, 1, "600", T1 + timedelta(days=3))
    # before B was sent: A
    _order(aud, 2, "100", T1 - timedelta(hours=1))
    fa, fb = service.figures(a), service.figures(b)
    assert (fb.converted, fb.revenue, fb.roi) == (1, Decimal("1000.00"), Decimal("400.00"))
    # A: 600 + 100 over its budget (no cost): (700 - 400) / 400 * 100 = 75
    assert (fa.converted, fa.revenue, fa.roi) == (2, Decimal("700.00"), Decimal("75.00"))
    assert fa.revenue + fb.revenue == Decimal("1700.00")  # never counted twice


def test_a_repeated_order_reference_credits_nothing_twice(aud):
    a = _sent(aud, "A", T0)
    _order(aud, 0, "250", T0 + timedelta(days=1), ref="SHOP-1")
    _order(aud, 0, "250", T0 + timedelta(days=1), ref="SHOP-1")
    assert service.figures(a).revenue == Decimal("250.00")


def test_a_won_deal_and_the_csv_import_credit_too(aud, tmp_path):
    a = _sent(aud, "A", T0)
    admin = aud.ws.actor(aud.ws.admin)
    with time_machine.travel(T0.replace(tzinfo=UTC) + timedelta(days=2), tick=False):
        deal = opportunities.create_opportunity(
            admin, name="Deal", customer_id=aud.people[3].id, amount=Decimal(900)
        )
        opportunities.mark_won(admin, deal.id)
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer,amount,ordered_at,ref\n"
        f"c1@tacme.test,120,{(T0 + timedelta(days=3)).isoformat()}Z,CSV-1\n"
        f"c2@tacme.test,80,{(T0 - timedelta(days=3)).isoformat()}Z,CSV-2\n",
        encoding="utf-8",
    )
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        report = importexport.import_csv(admin, "orders", path)
        assert not report.rejected, report.rejected
        importexport.import_csv(admin, "orders", path)  # again: nothing twice
    f = service.figures(a)
    assert (f.converted, f.revenue) == (2, Decimal("1020.00"))  # the deal's 900 + CSV-1's 120
