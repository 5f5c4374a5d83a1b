"""Customer metrics: rules 3 and 4 at their edges, in Python and in the set-based SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from crm import customer_value
from crm.companies import update_settings
from crm.customer_value import (
    churn_risk_for,
    get_metrics,
    recompute_all,
    recompute_company,
    tier_for,
)
from crm.errors import NotFound
from crm.models import Customer, CustomerMetric, Order
from tests.conftest import Workspace

NOW = datetime(2026, 3, 10, 12, 0, 0)


def add_customer(ws: Workspace, name: str, **fields) -> Customer:
    return Customer.create(company=ws.company.id, name=name, **fields)


def add_order(
    ws: Workspace, customer: Customer, amount: str, at: datetime = NOW, cost: str | None = None
) -> Order:
    """Orders straight into the table: metrics are tested apart from the order use case."""
    return Order.create(
        company=ws.company.id,
        customer=customer.id,
        amount=Decimal(amount),
        cost=None if cost is None else Decimal(cost),
        ordered_at=at,
    )


def metric(customer: Customer) -> CustomerMetric:
    return CustomerMetric.get(CustomerMetric.customer == customer.id)


# --- pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ltv", "tier"),
    [
        ("0", "bronze"),
        ("19999.99", "bronze"),
        ("20000", "silver"),
        ("49999.99", "silver"),
        ("50000", "gold"),
        ("99999.99", "gold"),
        ("100000", "platinum"),
        ("12000000", "platinum"),
    ],
)
def test_tier_edges(ltv: str, tier: str) -> None:
    assert tier_for(Decimal(ltv)) == tier


def test_tier_custom_thresholds() -> None:
    thresholds = (Decimal(1000), Decimal(2000), Decimal(3000))
    assert tier_for(Decimal("999.99"), thresholds) == "bronze"
    assert tier_for(Decimal("1000"), thresholds) == "silver"
    assert tier_for(Decimal("2000"), thresholds) == "gold"
    assert tier_for(Decimal("3000"), thresholds) == "platinum"


@pytest.mark.parametrize(
    ("days", "risk"),
    [(None, None), (0, "low"), (89, "low"), (90, "medium"), (179, "medium"), (180, "high")],
)
def test_churn_edges(days: int | None, risk: str | None) -> None:
    assert churn_risk_for(days) == risk


# --- the SQL recompute ------------------------------------------------------------------------


def test_tier_edges_in_sql_match_python(acme: Workspace) -> None:
    amounts = ["19999.99", "20000", "49999.99", "50000", "99999.99", "100000"]
    customers = []
    for amount in amounts:
        customer = add_customer(acme, f"c{amount}")
        # split over two orders so the SUM, not a single value, crosses the edge
        half = (Decimal(amount) / 2).quantize(Decimal("0.01"))
        add_order(acme, customer, str(half), NOW - timedelta(days=1))
        add_order(acme, customer, str(Decimal(amount) - half), NOW - timedelta(days=2))
        customers.append(customer)
    assert recompute_company(acme.company.id, NOW) == len(amounts)
    got = [metric(c).tier for c in customers]
    assert got == ["bronze", "silver", "silver", "gold", "gold", "platinum"]
    assert got == [tier_for(Decimal(a)) for a in amounts]
    assert [metric(c).lifetime_value for c in customers] == [Decimal(a) for a in amounts]


def test_company_thresholds_are_used_by_the_sql(acme: Workspace, globex: Workspace) -> None:
    update_settings(acme.actor(), tiers=(Decimal(1000), Decimal(2000), Decimal(3000)))
    edge = {}
    for amount in ["999.99", "1000", "2000", "3000"]:
        edge[amount] = add_customer(acme, amount)
        add_order(acme, edge[amount], amount, NOW - timedelta(days=3))
    other = add_customer(globex, "g")
    add_order(globex, other, "3000", NOW - timedelta(days=3))
    written = recompute_all(NOW)
    assert written == 5
    assert {a: metric(c).tier for a, c in edge.items()} == {
        "999.99": "bronze",
        "1000": "silver",
        "2000": "gold",
        "3000": "platinum",
    }
    assert metric(other).tier == "bronze"  # the same 3,000 under the default thresholds


@pytest.mark.parametrize(
    ("age", "days", "risk"),
    [
        (timedelta(days=90) - timedelta(seconds=1), 89, "low"),
        (timedelta(days=89), 89, "low"),
        (timedelta(days=90), 90, "medium"),
        (timedelta(days=179, hours=23, minutes=59, seconds=59), 179, "medium"),
        (timedelta(days=180), 180, "high"),
        (timedelta(days=400), 400, "high"),
        (timedelta(0), 0, "low"),
    ],
)
def test_churn_edges_in_sql(acme: Workspace, age: timedelta, days: int, risk: str) -> None:
    customer = add_customer(acme, "c")
    add_order(acme, customer, "10", NOW - age)
    recompute_company(acme.company.id, NOW)
    row = metric(customer)
    assert (row.days_since_last_purchase, row.churn_risk) == (days, risk)
    assert churn_risk_for(days) == risk


def test_customer_without_orders(acme: Workspace) -> None:
    customer = add_customer(acme, "new")
    recompute_company(acme.company.id, NOW)
    row = metric(customer)
    assert row.order_count == 0
    assert row.lifetime_value == Decimal("0.00")
    assert row.average_order_value == Decimal("0.00")
    assert row.purchase_frequency == 0
    assert row.first_purchase_at is None and row.last_purchase_at is None
    assert row.days_since_last_purchase is None
    assert row.churn_risk is None
    assert row.profit_margin is None
    assert row.tier == "bronze"


def test_all_figures(acme: Workspace) -> None:
    customer = add_customer(acme, "c")
    add_order(acme, customer, "100.00", NOW - timedelta(days=61), cost="60.00")
    add_order(acme, customer, "300.01", NOW - timedelta(days=1))  # no cost: all profit
    recompute_company(acme.company.id, NOW)
    row = metric(customer)
    assert row.order_count == 2
    assert row.lifetime_value == row.total_revenue == Decimal("400.01")
    assert row.average_order_value == Decimal("200.01")  # 200.005 rounded half up
    assert row.total_profit == Decimal("340.01")
    assert row.profit_margin == pytest.approx(340.01 / 400.01 * 100)
    assert row.purchase_frequency == pytest.approx(2 / (61 / customer_value.DAYS_PER_MONTH))
    assert row.first_purchase_at == NOW - timedelta(days=61)
    assert row.last_purchase_at == NOW - timedelta(days=1)
    assert row.days_since_last_purchase == 1
    assert row.computed_at == NOW


def test_frequency_counts_at_least_one_month(acme: Workspace) -> None:
    customer = add_customer(acme, "c")
    add_order(acme, customer, "5", NOW - timedelta(hours=2))
    add_order(acme, customer, "5", NOW - timedelta(hours=1))
    recompute_company(acme.company.id, NOW)
    assert metric(customer).purchase_frequency == pytest.approx(2.0)


def test_recompute_updates_in_place(acme: Workspace) -> None:
    customer = add_customer(acme, "c")
    add_order(acme, customer, "19999.99", NOW - timedelta(days=200))
    recompute_company(acme.company.id, NOW)
    first = metric(customer)
    assert (first.tier, first.churn_risk) == ("bronze", "high")
    add_order(acme, customer, "0.01", NOW)
    later = NOW + timedelta(hours=1)
    customer_value.recompute_customer(acme.company.id, customer.id, later)
    row = metric(customer)
    assert (row.tier, row.churn_risk, row.order_count) == ("silver", "low", 2)
    assert row.created_at == first.created_at and row.computed_at == later
    assert CustomerMetric.select().where(CustomerMetric.customer == customer.id).count() == 1


def test_recompute_company_touches_only_that_company(acme: Workspace, globex: Workspace) -> None:
    mine = add_customer(acme, "mine")
    theirs = add_customer(globex, "theirs")
    add_order(globex, theirs, "50000")
    assert recompute_company(acme.company.id, NOW) == 1
    assert CustomerMetric.get_or_none(CustomerMetric.customer == theirs.id) is None
    assert metric(mine).company_id == acme.company.id


def test_get_metrics_computes_on_first_read_and_hides_other_companies(
    acme: Workspace, globex: Workspace
) -> None:
    customer = add_customer(acme, "c")
    add_order(acme, customer, "50000", NOW - timedelta(days=10))
    with time_machine.travel(NOW.replace(tzinfo=UTC), tick=False):
        row = get_metrics(acme.actor(acme.rep), customer.id)
    assert (row.tier, row.churn_risk, row.days_since_last_purchase) == ("gold", "low", 10)
    with pytest.raises(NotFound):
        get_metrics(globex.actor(globex.admin), customer.id)
