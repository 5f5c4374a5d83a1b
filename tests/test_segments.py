"""Segments: criteria validation and the command form, live membership, rule 7 counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from crm import segments as seg
from crm.audit import revert
from crm.customer_value import recompute_company, recompute_customer
from crm.errors import Conflict, NotFound, PermissionDenied, ValidationError
from crm.models import AuditLog, Customer, CustomerSegment, Lead, Order
from tests.conftest import Workspace

NOW = datetime(2026, 3, 10, 9, 0, 0)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW.replace(tzinfo=UTC), tick=False) as traveller:
        yield traveller


def customer(ws: Workspace, name: str, *orders: tuple[str, int], **fields) -> Customer:
    """A customer with orders given as (amount, days ago)."""
    c = Customer.create(company=ws.company.id, name=name, **fields)
    for amount, days in orders:
        Order.create(
            company=ws.company.id,
            customer=c.id,
            amount=Decimal(amount),
            ordered_at=NOW - timedelta(days=days),
        )
    return c


# --- validation and the command form --------------------------------------------------------


def test_parse_the_slack_command_form() -> None:
    criteria = seg.parse_criteria_text(
        "tier=gold,platinum churn=high ltv>=20k last_purchase>90d industry=retail "
        "tags=vip orders>=3 source=referral created>=2026-01-01"
    )
    assert criteria == {
        "tier": ["gold", "platinum"],
        "churn_risk": ["high"],
        "lifetime_value": {"gte": "20000.00"},
        "days_since_last_purchase": {"gt": 90},
        "industry": ["retail"],
        "tags": ["vip"],
        "orders": {"gte": 3},
        "source": ["referral"],
        "created": {"gte": "2026-01-01"},
    }


def test_command_form_ranges_and_ordered_choices() -> None:
    assert seg.parse_criteria_text("ltv>=20k ltv<50k tier>=gold") == {
        "lifetime_value": {"gte": "20000.00", "lt": "50000.00"},
        "tier": ["gold", "platinum"],
    }
    assert seg.parse_criteria_text('orders=1..3 industry="real estate" churn=medium..high') == {
        "orders": {"gte": 1, "lte": 3},
        "industry": ["real estate"],
        "churn_risk": ["medium", "high"],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour=red", "criteria: 'colour' is not a criterion"),
        ("tier=diamond", "tier: 'diamond' is not one of bronze, silver, gold, platinum"),
        ("ltv>=lots", 'ltv: "lots" is not an amount; try ltv=12000'),
        ("last_purchase>soon", 'last_purchase: "soon" is not a period; try last_purchase=90d'),
        ("orders>=many", 'orders: "many" is not a whole number'),
        ("created>=someday", 'created: "someday" is not'),
        ("tier", "criteria: 'tier' is not key=value"),
        ("ltv>=50k ltv<=20k", "lifetime_value: this range is empty"),
        ("tier=gold tier=silver", "tier: given twice"),
        ('industry="open', "criteria: a quote is not closed"),
        ("", "criteria: no criteria given"),
    ],
)
def test_command_form_refusals(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        seg.parse_criteria_text(text)


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"vip": True}, "criteria: 'vip' is not a criterion; use tier, churn_risk"),
        ({"tier": {"between": "gold"}}, 'tier: a range has "gte", "gt", "lte" or "lt" bounds'),
        ({"orders": {"gte": 1, "gt": 2}}, "orders: a range has one lower and one upper bound"),
        ({"orders": -1}, 'orders: "-1" is not between 0'),
        ({"orders": True}, "orders: expected a number of orders"),
        ({"source": {"gte": "email"}}, "source: a range makes no sense here"),
        ({"tags": []}, "tags: a list needs 1 to 50 values"),
        ({"tags": [["vip"]]}, "tags: expected a single value here"),
        ({"industry": 7}, "industry: expected a word"),
        ({"churn_risk": {"gte": "none"}}, 'churn_risk: "none" .* has no order'),
        ({}, "criteria: at least one criterion"),
        ([], "criteria: expected an object"),
    ],
)
def test_criteria_refusals(criteria, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        seg.validate_criteria(criteria)
    assert "; try " in info.value.message  # always shows an accepted form


def test_json_values_are_normalised() -> None:
    assert seg.validate_criteria(
        {
            "tier": "Gold",
            "lifetime_value": {"gte": 20000},
            "orders": [1, 1, 2],
            "created": "2026-01-05",
        }
    ) == {
        "tier": ["gold"],
        "lifetime_value": {"gte": "20000.00"},
        "orders": [1, 2],
        "created": "2026-01-05",
    }


# --- membership --------------------------------------------------------------------------


def members(ws: Workspace, criteria: dict) -> set[str]:
    return {c.name for c in seg.customer_query(ws.company.id, criteria, NOW)}


def test_membership_by_every_key(acme: Workspace, globex: Workspace, frozen) -> None:
    referral = Lead.create(company=acme.company.id, name="l", source="referral")
    customer(acme, "gold_old", ("60000", 200), industry="Retail", tags=["VIP", "x"])
    customer(acme, "silver_recent", ("10000", 10), ("15000", 5), lead=referral.id, tags=["vipx"])
    customer(acme, "none", tags=["50%_off"])
    customer(globex, "foreign", ("60000", 200), industry="retail")
    recompute_company(acme.company.id, NOW)
    recompute_company(globex.company.id, NOW)
    assert members(acme, {"tier": ["gold", "platinum"]}) == {"gold_old"}
    assert members(acme, {"churn_risk": ["high"]}) == {"gold_old"}
    assert members(acme, {"churn_risk": ["none"]}) == {"none"}
    assert members(acme, {"industry": "retail"}) == {"gold_old"}
    assert members(acme, {"tags": "vip"}) == {"gold_old"}  # not "vipx"
    assert members(acme, {"tags": "50%_off"}) == {"none"}
    assert members(acme, {"tags": "5%"}) == set()  # wildcards are escaped
    assert members(acme, {"source": "referral"}) == {"silver_recent"}
    assert members(acme, {"lifetime_value": {"gte": "25000", "lt": "60000"}}) == {"silver_recent"}
    assert members(acme, {"lifetime_value": {"lte": 0}}) == {"none"}
    assert members(acme, {"orders": {"gte": 2}}) == {"silver_recent"}
    assert members(acme, {"orders": 0}) == {"none"}
    assert members(acme, {"created": {"gte": "2026-03-10"}}) == {
        "gold_old",
        "silver_recent",
        "none",
    }
    assert members(acme, {"created": {"lt": "2026-03-10"}}) == set()
    assert members(acme, {"tier": "silver", "churn_risk": "low"}) == {"silver_recent"}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"gt": 90}, {"d91", "d200"}),
        ({"gte": 90}, {"d90", "d91", "d200"}),
        ({"lt": 90}, {"d89"}),
        ({"lte": 90}, {"d89", "d90"}),
        (90, {"d90"}),
        ([89, 200], {"d89", "d200"}),
    ],
)
def test_days_since_last_purchase_edges(acme: Workspace, frozen, criteria, expected) -> None:
    for days in (89, 90, 91, 200):
        customer(acme, f"d{days}", ("10", days))
    customer(acme, "never")
    recompute_company(acme.company.id, NOW)
    assert members(acme, {"days_since_last_purchase": criteria}) == expected


def test_no_sql_text_from_values(acme: Workspace, frozen) -> None:
    customer(acme, "a", industry="x' OR '1'='1")
    recompute_company(acme.company.id, NOW)
    assert members(acme, {"industry": "x' OR '1'='1"}) == {"a"}
    assert members(acme, {"industry": "' OR 1=1 --"}) == set()


# --- use cases and rule 7 ----------------------------------------------------------------------


def test_create_counts_and_is_admin_only(acme: Workspace, frozen) -> None:
    customer(acme, "a", ("25000", 10))
    customer(acme, "b", ("5", 10))
    recompute_company(acme.company.id, NOW)
    with pytest.raises(PermissionDenied, match="Only admins may manage segments"):
        seg.create_segment(acme.actor(acme.manager), name="Silver", criteria={"tier": "silver"})
    s = seg.create_segment(acme.actor(), name=" Silver ", criteria={"tier": "silver"})
    assert (s.name, s.customer_count, s.counted_at) == ("Silver", 1, NOW)
    stored = CustomerSegment.get_by_id(s.id)
    assert (stored.customer_count, stored.criteria) == (1, {"tier": ["silver"]})
    assert [c.name for c in seg.segment_customers(acme.actor(acme.rep), s.id)] == ["a"]
    with pytest.raises(Conflict, match="already exists"):
        seg.create_segment(acme.actor(), name="Silver", criteria={"tier": "gold"})
    assert CustomerSegment.select().count() == 1


def test_count_recomputed_when_criteria_change_and_undo(acme: Workspace, frozen) -> None:
    customer(acme, "a", ("25000", 10))
    customer(acme, "b", ("55000", 10))
    customer(acme, "c", ("5", 10))
    recompute_company(acme.company.id, NOW)
    s = seg.create_segment(acme.actor(), name="S", criteria={"tier": "silver"})
    assert s.customer_count == 1
    edited = seg.update_segment(acme.actor(), s.id, criteria={"tier": {"gte": "silver"}})
    assert CustomerSegment.get_by_id(s.id).customer_count == edited.customer_count == 2
    row = AuditLog.get((AuditLog.change_id == edited.change_id) & (AuditLog.action == "update"))
    assert row.changes == {
        "criteria": [{"tier": ["silver"]}, {"tier": ["silver", "gold", "platinum"]}]
    }
    revert(acme.actor(), edited.change_id)
    assert CustomerSegment.get_by_id(s.id).criteria == {"tier": ["silver"]}
    renamed = seg.update_segment(acme.actor(), s.id, name="Silver", description="mid")
    assert (renamed.name, renamed.description) == ("Silver", "mid")
    with pytest.raises(ValidationError, match="customer_count: cannot be changed here"):
        seg.update_segment(acme.actor(), s.id, customer_count=5)


def test_count_kept_fresh_after_new_orders(acme: Workspace, frozen) -> None:
    c = customer(acme, "a", ("19999.99", 10))
    recompute_company(acme.company.id, NOW)
    silver = seg.create_segment(acme.actor(), name="Silver+", criteria={"tier": {"gte": "silver"}})
    buyers = seg.create_segment(acme.actor(), name="Buyers", criteria={"orders": {"gte": 2}})
    inactive = seg.create_segment(acme.actor(), name="Off", criteria={"orders": {"gte": 2}})
    seg.update_segment(acme.actor(), inactive.id, is_active=False)
    assert (silver.customer_count, buyers.customer_count) == (0, 0)
    Order.create(company=acme.company.id, customer=c.id, amount=Decimal("0.01"), ordered_at=NOW)
    recompute_customer(acme.company.id, c.id, NOW)
    counts = {s.name: s.customer_count for s in CustomerSegment.select()}
    assert counts == {"Silver+": 1, "Buyers": 1, "Off": 0}
    reactivated = seg.update_segment(acme.actor(), inactive.id, is_active=True)
    assert reactivated.customer_count == 1


def test_other_company_segments_are_not_found(acme: Workspace, globex: Workspace, frozen) -> None:
    s = seg.create_segment(acme.actor(), name="S", criteria={"orders": 0})
    for call in (seg.get_segment, seg.segment_customers):
        with pytest.raises(NotFound, match=r"S.* not found"):
            call(globex.actor(), s.id)
    with pytest.raises(NotFound):
        seg.update_segment(globex.actor(), s.id, name="mine")
    assert seg.list_segments(globex.actor()) == []
    assert [x.name for x in seg.list_segments(acme.actor(acme.rep))] == ["S"]


def test_counts_ignore_other_companies(acme: Workspace, globex: Workspace, frozen) -> None:
    customer(globex, "g", ("5", 1))
    customer(acme, "a", ("5", 1))
    recompute_company(acme.company.id, NOW)
    recompute_company(globex.company.id, NOW)
    s = seg.create_segment(acme.actor(), name="Buyers", criteria={"orders": 1})
    assert s.customer_count == 1
    assert seg.recount_all(NOW) == 1
    assert CustomerSegment.get_by_id(s.id).customer_count == 1


def test_add_order_refreshes_metrics_and_counts(acme: Workspace, frozen) -> None:
    """The real order use case (crm.customers) drives rules 3, 4 and 7 end to end."""
    from crm.customers import add_order

    c = customer(acme, "a", ("19999.99", 100))
    recompute_company(acme.company.id, NOW)
    s = seg.create_segment(
        acme.actor(), name="Silver", criteria=seg.parse_criteria_text("tier=silver churn=low")
    )
    assert s.customer_count == 0
    add_order(acme.actor(), c.id, amount=Decimal("0.01"), ordered_at=NOW - timedelta(days=1))
    stored = CustomerSegment.get_by_id(s.id)
    assert (stored.customer_count, stored.counted_at) == (1, NOW)
