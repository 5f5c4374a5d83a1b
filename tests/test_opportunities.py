"""Opportunities: rule 2, stage moves and their history, winning (with its order) and losing.

Runs on every backend in CRM_TEST_BACKENDS. Customers and leads are made through the real
services so the rows look exactly like production ones.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from crm import opportunities as opps
from crm.acting import Actor
from crm.audit import revert
from crm.customers import create_customer
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm.leads import create_lead
from crm.models import Customer, Lead, Opportunity, Order, StageChange
from tests.conftest import Workspace


def history(opp_id: int) -> list[tuple[str | None, str]]:
    rows = (
        StageChange.select()
        .where((StageChange.entity_type == "opportunity") & (StageChange.entity_id == opp_id))
        .order_by(StageChange.id)
    )
    return [(r.from_stage, r.to_stage) for r in rows]


def customer(ws: Workspace, name: str = "Bank of Zambia") -> Customer:
    """Unassigned, so that any rep may record its orders."""
    return create_customer(
        ws.actor(ws.manager), name=name, assigned_to_id=None, allow_duplicate=True
    )


def lead(ws: Workspace, name: str = "Mwila Phiri", source: str = "referral") -> Lead:
    return create_lead(
        ws.actor(ws.manager), name=name, source=source, assigned_to_id=None, allow_duplicate=True
    )


def deal(ws: Workspace, member=None, **kwargs) -> Opportunity:
    actor = ws.actor(member or ws.rep)
    if "lead_id" not in kwargs and "customer_id" not in kwargs:
        kwargs["customer_id"] = customer(ws).id
    kwargs.setdefault("name", "Core banking licence")
    kwargs.setdefault("amount", Decimal("50000"))
    return opps.create_opportunity(actor, **kwargs)


# --- rule 2 (pure) ---------------------------------------------------------------------------


def test_weighted_amount_is_exact() -> None:
    assert opps.weighted_amount(Decimal("50000"), 40) == Decimal("20000")
    assert opps.weighted_amount(Decimal("10.01"), 25) == Decimal("2.5025")
    assert opps.weighted_amount(Decimal("999.99"), 0) == 0
    assert opps.weighted_amount(Decimal("999.99"), 100) == Decimal("999.99")


@pytest.mark.parametrize("bad", [-1, 101, True, "40"])
def test_weighted_amount_refuses_bad_probability(bad) -> None:
    with pytest.raises(ValidationError) as err:
        opps.weighted_amount(Decimal("100"), bad)
    assert err.value.field == "probability"


def test_default_probability_per_stage() -> None:
    assert [
        opps.default_probability(s)
        for s in (
            "prospecting",
            "qualification",
            "proposal",
            "negotiation",
            "closed_won",
            "closed_lost",
        )
    ] == [10, 25, 50, 75, 100, 0]
    with pytest.raises(ValidationError):
        opps.default_probability("won")


# --- creation --------------------------------------------------------------------------------


def test_default_probability_follows_the_stage(acme: Workspace) -> None:
    opp = deal(acme, stage="proposal", amount=Decimal("12000.50"))
    assert (opp.probability, opp.probability_explicit) == (50, False)
    assert opps.as_dict(opp)["weighted_amount"] == "6000.2500"
    assert opp.assigned_to_id == acme.rep.id  # the creator by default
    assert history(opp.id) == [(None, "proposal")]
    moved = opps.move_stage(acme.actor(acme.rep), opp.id, "negotiation")
    assert moved.probability == 75
    stored = Opportunity.get_by_id(opp.id)
    assert (stored.stage, stored.probability) == ("negotiation", 75)
    assert opps.weighted_amount(stored.amount, stored.probability) == Decimal("9000.375")


def test_explicit_probability_survives_moves(acme: Workspace) -> None:
    opp = deal(acme, probability=40)
    assert (opp.probability, opp.probability_explicit) == (40, True)
    opp = opps.move_stage(acme.actor(acme.rep), opp.id, "negotiation")
    assert opp.probability == 40
    assert opps.weighted_amount(opp.amount, opp.probability) == Decimal("20000")
    # clearing the estimate hands the probability back to the stage
    opp = opps.update_opportunity(acme.actor(acme.rep), opp.id, probability=None)
    assert (opp.probability, opp.probability_explicit) == (75, False)


def test_exactly_one_customer_or_lead(acme: Workspace) -> None:
    c, ld = customer(acme), lead(acme)
    for kwargs in ({}, {"customer_id": c.id, "lead_id": ld.id}):
        with pytest.raises(ValidationError) as err:
            opps.create_opportunity(acme.actor(acme.rep), name="X", amount=Decimal(1), **kwargs)
        assert err.value.field == "customer"
    assert Opportunity.select().count() == 0


def test_foreign_records_are_not_found(acme: Workspace, globex: Workspace) -> None:
    actor = acme.actor(acme.rep)
    with pytest.raises(NotFound):
        opps.create_opportunity(actor, name="X", amount=Decimal(1), customer_id=customer(globex).id)
    with pytest.raises(NotFound):
        opps.create_opportunity(actor, name="X", amount=Decimal(1), lead_id=lead(globex).id)
    with pytest.raises(NotFound):
        deal(acme, assigned_to_id=globex.rep.id)
    own = deal(acme)
    with pytest.raises(NotFound):
        opps.update_opportunity(actor, own.id, assigned_to_id=globex.rep.id)
    with pytest.raises(NotFound):
        opps.get_opportunity(globex.actor(globex.admin), own.id)
    assert Opportunity.get_by_id(own.id).assigned_to_id == acme.rep.id
    assert Opportunity.select().count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", Decimal("-1")), ("amount", Decimal("1.001")), ("probability", 101), ("name", " ")],
)
def test_bad_input_names_the_field_and_changes_nothing(acme: Workspace, field, value) -> None:
    with pytest.raises(ValidationError) as err:
        deal(acme, **{field: value})
    assert err.value.field == field
    assert Opportunity.select().count() == 0
    assert StageChange.select().where(StageChange.entity_type == "opportunity").count() == 0


def test_cannot_create_closed(acme: Workspace) -> None:
    with pytest.raises(ValidationError) as err:
        deal(acme, stage="closed_won")
    assert err.value.field == "stage"


def test_token_actor_leaves_the_deal_unassigned_and_keys_are_idempotent(acme: Workspace) -> None:
    token = Actor(company_id=acme.company.id, kind="token", origin="api", role="integration")
    c = customer(acme)
    first = opps.create_opportunity(
        token, name="Web order", customer_id=c.id, amount=Decimal(10), idempotency_key="k-1"
    )
    again = opps.create_opportunity(
        token, name="Web order", customer_id=c.id, amount=Decimal(10), idempotency_key="k-1"
    )
    assert first.assigned_to_id is None
    assert again.id == first.id and again.change_id == first.change_id
    assert Opportunity.select().count() == 1


# --- stage moves -----------------------------------------------------------------------------


def test_moves_write_history_and_closed_stages_need_their_action(acme: Workspace) -> None:
    actor = acme.actor(acme.rep)
    opp = deal(acme)
    for stage in ("qualification", "proposal", "qualification"):
        opp = opps.move_stage(actor, opp.id, stage)
    same = opps.move_stage(actor, opp.id, "qualification")
    assert same.change_id is None  # no-op: a double click is harmless
    for closed in ("closed_won", "closed_lost"):
        with pytest.raises(ValidationError) as err:
            opps.move_stage(actor, opp.id, closed)
        assert err.value.field == "stage"
    rows = list(StageChange.select().where(StageChange.entity_id == opp.id))
    assert {r.actor_id for r in rows} == {acme.rep.id}
    assert history(opp.id) == [
        (None, "prospecting"),
        ("prospecting", "qualification"),
        ("qualification", "proposal"),
        ("proposal", "qualification"),
    ]


def test_reps_move_only_their_own_deals(acme: Workspace) -> None:
    opp = deal(acme, member=acme.rep2)
    with pytest.raises(PermissionDenied):
        opps.move_stage(acme.actor(acme.rep), opp.id, "proposal")
    assert opps.move_stage(acme.actor(acme.manager), opp.id, "proposal").stage == "proposal"
    assert history(opp.id) == [(None, "prospecting"), ("prospecting", "proposal")]


def test_undo_of_a_move_restores_stage_probability_and_history(acme: Workspace) -> None:
    actor = acme.actor(acme.rep)
    opp = deal(acme)
    moved = opps.move_stage(actor, opp.id, "negotiation")
    revert(actor, moved.change_id)
    stored = Opportunity.get_by_id(opp.id)
    assert (stored.stage, stored.probability) == ("prospecting", 10)
    assert history(opp.id) == [(None, "prospecting")]


def test_update_patch(acme: Workspace) -> None:
    actor = acme.actor(acme.rep)
    opp = deal(acme)
    opp = opps.update_opportunity(
        actor,
        opp.id,
        name="Core banking, phase 2",
        amount=Decimal("75000"),
        stage="proposal",
        expected_close_date=date(2030, 6, 30),
        assigned_to_id=acme.rep2.id,
    )
    stored = Opportunity.get_by_id(opp.id)
    assert (stored.name, stored.amount, stored.stage, stored.probability) == (
        "Core banking, phase 2",
        Decimal("75000.00"),
        "proposal",
        50,
    )
    assert stored.expected_close_date == date(2030, 6, 30)
    assert stored.assigned_to_id == acme.rep2.id
    assert history(opp.id)[-1] == ("prospecting", "proposal")
    with pytest.raises(ValidationError) as err:
        opps.update_opportunity(acme.actor(acme.manager), opp.id, colour="red")
    assert err.value.field == "colour"
    with pytest.raises(PermissionDenied):  # now rep2's deal
        opps.update_opportunity(actor, opp.id, name="Mine again")


def test_list_filters(acme: Workspace, globex: Workspace) -> None:
    a = deal(acme)
    b = deal(acme, member=acme.rep2, stage="proposal")
    c = deal(acme)
    opps.mark_lost(acme.actor(acme.rep), c.id, reason="Budget cut")
    deal(globex)
    actor = acme.actor(acme.rep)
    assert [o.id for o in opps.list_opportunities(actor)] == [c.id, b.id, a.id]
    assert [o.id for o in opps.list_opportunities(actor, open_only=True)] == [b.id, a.id]
    assert [o.id for o in opps.list_opportunities(actor, stage="proposal")] == [b.id]
    assert [o.id for o in opps.list_opportunities(actor, assigned_to_id=acme.rep2.id)] == [b.id]
    assert [o.id for o in opps.list_opportunities(actor, limit=1, offset=1)] == [b.id]
    with pytest.raises(NotFound):
        opps.list_opportunities(actor, assigned_to_id=globex.rep.id)
    with pytest.raises(ValidationError):
        opps.list_opportunities(actor, limit=0)


# --- won and lost ----------------------------------------------------------------------------


def orders_of(opp_id: int) -> list[Order]:
    return list(Order.select().where(Order.opportunity == opp_id))


def test_won_creates_one_order_and_refuses_a_second_win(acme: Workspace) -> None:
    actor = acme.actor(acme.rep)
    opp = deal(acme, stage="negotiation", probability=60)
    with time_machine.travel(datetime(2026, 3, 10, 9, 30, tzinfo=UTC), tick=False):
        won = opps.mark_won(actor, opp.id, amount=Decimal("48000"))
        with pytest.raises(Conflict):
            opps.mark_won(actor, opp.id)
    assert (won.stage, won.probability, won.probability_explicit) == ("closed_won", 100, False)
    assert won.actual_close_date == date(2026, 3, 10)
    [order] = orders_of(opp.id)
    assert (order.customer_id, order.amount) == (opp.customer_id, Decimal("48000.00"))
    assert order.external_ref == f"opportunity:{opp.id}"
    assert order.ordered_at == datetime(2026, 3, 10, 9, 30)
    assert history(opp.id)[-1] == ("negotiation", "closed_won")
    # a won deal is final: no reopening, no loss, no new amount
    with pytest.raises(Conflict):
        opps.move_stage(actor, opp.id, "proposal")
    with pytest.raises(Conflict):
        opps.mark_lost(actor, opp.id, reason="changed their mind")
    with pytest.raises(Conflict):
        opps.update_opportunity(actor, opp.id, amount=Decimal(1))
    assert len(orders_of(opp.id)) == 1


def test_close_date_is_the_members_today(acme: Workspace) -> None:
    # 02:00 UTC on the 10th is still the 9th in New York (rep2's zone)
    opp = deal(acme, member=acme.rep2)
    with time_machine.travel(datetime(2026, 3, 10, 2, 0, tzinfo=UTC), tick=False):
        won = opps.mark_won(acme.actor(acme.rep2), opp.id)
    assert won.actual_close_date == date(2026, 3, 9)


def test_backdated_win_orders_at_local_noon(acme: Workspace) -> None:
    with time_machine.travel(datetime(2026, 3, 1, 8, 0, tzinfo=UTC), tick=False):
        opp = deal(acme, member=acme.rep2)
    with time_machine.travel(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=False):
        for bad in (date(2026, 3, 11), date(2026, 2, 27)):
            with pytest.raises(ValidationError) as err:
                opps.mark_won(acme.actor(acme.rep2), opp.id, close_date=bad)
            assert err.value.field == "close_date"
        opps.mark_won(acme.actor(acme.rep2), opp.id, close_date=date(2026, 3, 5))
    [order] = orders_of(opp.id)
    assert order.ordered_at == datetime(2026, 3, 5, 17, 0)  # noon in New York (EST)
    assert Opportunity.get_by_id(opp.id).actual_close_date == date(2026, 3, 5)


def test_winning_a_lead_deal_converts_the_lead(acme: Workspace) -> None:
    ld = lead(acme)
    opp = deal(acme, lead_id=ld.id, amount=Decimal("9000"))
    won = opps.mark_won(acme.actor(acme.manager), opp.id)
    convert = Customer.get(Customer.lead == ld.id)
    assert (won.customer_id, won.lead_id) == (convert.id, ld.id)
    [order] = orders_of(opp.id)
    assert order.customer_id == convert.id
    # a second deal of the same (now converted) lead reuses its customer
    second = deal(acme, lead_id=ld.id, amount=Decimal("100"))
    opps.mark_won(acme.actor(acme.manager), second.id)
    assert Opportunity.get_by_id(second.id).customer_id == convert.id
    assert Customer.select().where(Customer.lead == ld.id).count() == 1


def test_undo_of_a_win_removes_its_order_and_conversion(acme: Workspace) -> None:
    ld = lead(acme)
    opp = deal(acme, lead_id=ld.id, stage="proposal")
    actor = acme.actor(acme.manager)
    won = opps.mark_won(actor, opp.id)
    revert(actor, won.change_id)
    stored = Opportunity.get_by_id(opp.id)
    assert (stored.stage, stored.probability, stored.customer_id) == ("proposal", 50, None)
    assert orders_of(opp.id) == []
    assert Customer.select().where(Customer.lead == ld.id).count() == 0
    assert Lead.get_by_id(ld.id).converted_at is None
    assert history(opp.id) == [(None, "proposal")]
    again = opps.mark_won(actor, opp.id)  # and it can be won again, properly
    assert len(orders_of(again.id)) == 1


def test_lost_needs_a_reason_and_can_be_reopened(acme: Workspace) -> None:
    actor = acme.actor(acme.rep)
    opp = deal(acme, stage="proposal", probability=35)
    for bad in ("", "   "):
        with pytest.raises(ValidationError) as err:
            opps.mark_lost(actor, opp.id, reason=bad)
        assert err.value.field == "reason"
    assert Opportunity.get_by_id(opp.id).stage == "proposal"
    lost = opps.mark_lost(actor, opp.id, reason="Went with a competitor")
    assert (lost.stage, lost.probability, lost.loss_reason) == (
        "closed_lost",
        0,
        "Went with a competitor",
    )
    assert lost.actual_close_date is not None
    with pytest.raises(Conflict):
        opps.mark_lost(actor, opp.id, reason="again")
    with pytest.raises(Conflict):
        opps.update_opportunity(actor, opp.id, probability=50)
    reopened = opps.move_stage(actor, opp.id, "qualification")
    assert (reopened.stage, reopened.probability, reopened.loss_reason) == (
        "qualification",
        25,
        None,
    )
    assert reopened.actual_close_date is None
    assert history(opp.id) == [
        (None, "proposal"),
        ("proposal", "closed_lost"),
        ("closed_lost", "qualification"),
    ]
    assert orders_of(opp.id) == []


def test_every_bad_field_of_a_new_deal_is_named_at_once(acme):
    """A deal with a bad amount, a closed stage and no customer or lead is refused once,
    naming each (the JSON API lists them in one 422), and nothing is made."""
    from crm.errors import InvalidFields

    actor = acme.actor(acme.rep)
    with pytest.raises(InvalidFields) as err:
        opps.create_opportunity(actor, name="Deal", amount="lots", stage="won")
    assert [e.field for e in err.value.errors] == ["amount", "stage", "customer"]
    assert Opportunity.select().count() == 0


def test_every_bad_field_of_a_deal_update_is_named_at_once(acme):
    """A PATCH with a blank name, an amount that is no amount and an unknown stage is refused
    once, naming each, and the deal is as it was."""
    from crm.errors import InvalidFields

    opp = deal(acme, acme.rep)
    before = Opportunity.get_by_id(opp.id)
    with pytest.raises(InvalidFields) as err:
        opps.update_opportunity(
            acme.actor(acme.rep), opp.id, name=" ", amount="lots", stage="haggling"
        )
    assert [e.field for e in err.value.errors] == ["name", "amount", "stage"]
    after = Opportunity.get_by_id(opp.id)
    assert (after.name, after.amount, after.stage) == (before.name, before.amount, before.stage)
