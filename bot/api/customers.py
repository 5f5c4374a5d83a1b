"""``/cms/crm/customers``: create, list, read, update; their orders and metrics.

A customer answers with its figures (rules 3 and 4): ``metrics`` (lifetime value, average
order value, profit margin, tier, churn risk, ...) and, once the company's lifetime-value
model has been fitted (SPEC 13), ``insight`` (probability alive, expected purchases in 90
days, predicted 12-month value).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from bot.api.common import (
    CreateQuery,
    MemberRef,
    Moment,
    Money,
    NoQuery,
    PageQuery,
    Tags,
    Text200,
    currency,
    iso,
    member_id,
    moment,
    money,
    page,
)
from bot.api.core import Call, Output, Schema, operation
from crm import collections, customer_value, customers, tenancy
from crm.models import Customer, CustomerMetric, CustomerPrediction, Order

ZERO = Decimal("0.00")


class CustomerIn(Schema):
    name: Text200
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    company_name: Text200 | None = None
    industry: str | None = Field(None, max_length=100)
    tags: Tags | None = None
    assigned_to: MemberRef | None = None


class CustomerPatch(Schema):
    name: Text200 | None = None
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    company_name: Text200 | None = None
    industry: str | None = Field(None, max_length=100)
    tags: Tags | None = None
    assigned_to: MemberRef | None = None


class CustomerQuery(PageQuery):
    q: str | None = Field(None, max_length=200, description="part of name, email or company")
    industry: str | None = Field(None, max_length=100)


class OrderIn(Schema):
    """A repeated ``external_ref`` answers the existing order (200) and adds nothing."""

    amount: Money
    cost: Money | None = None
    ordered_at: Moment | None = None
    external_ref: str | None = Field(None, min_length=1, max_length=100)


class Metrics(Output):
    order_count: int
    lifetime_value: str
    average_order_value: str
    purchase_frequency: float
    first_purchase_at: str | None
    last_purchase_at: str | None
    days_since_last_purchase: int | None
    total_revenue: str
    total_profit: str
    profit_margin: float | None
    tier: str
    churn_risk: str | None
    computed_at: str | None


class Insight(Output):
    p_alive: float
    expected_purchases_90d: float
    predicted_value_12m: str
    computed_at: str


class CustomerRecord(Output):
    id: int
    ref: str
    name: str
    email: str | None
    phone: str | None
    company_name: str | None
    industry: str | None
    tags: list[str]
    lead_id: int | None
    assigned_to: int | None
    last_contacted_at: str | None
    unsubscribed: list[str]
    currency: str
    metrics: Metrics
    insight: Insight | None
    created_at: str
    updated_at: str


class CustomerOut(Output):
    data: CustomerRecord


class CustomerList(Output):
    data: list[CustomerRecord]
    next: str | None


class MetricsOut(Output):
    data: Metrics


class OrderRecord(Output):
    id: int
    customer_id: int
    amount: str
    cost: str | None
    currency: str
    ordered_at: str
    external_ref: str | None
    created_at: str


class OrderOut(Output):
    data: OrderRecord


def render_metrics(m: CustomerMetric | None) -> dict[str, Any]:
    """A customer without a metrics row has bought nothing yet: zeros, bronze, no churn risk
    (rule 4's "no purchases")."""
    if m is None:
        return {
            "order_count": 0,
            "lifetime_value": str(ZERO),
            "average_order_value": str(ZERO),
            "purchase_frequency": 0.0,
            "first_purchase_at": None,
            "last_purchase_at": None,
            "days_since_last_purchase": None,
            "total_revenue": str(ZERO),
            "total_profit": str(ZERO),
            "profit_margin": None,
            "tier": customer_value.tier_for(ZERO),
            "churn_risk": None,
            "computed_at": None,
        }
    return {
        "order_count": m.order_count,
        "lifetime_value": money(m.lifetime_value),
        "average_order_value": money(m.average_order_value),
        "purchase_frequency": round(m.purchase_frequency or 0.0, 4),
        "first_purchase_at": iso(m.first_purchase_at),
        "last_purchase_at": iso(m.last_purchase_at),
        "days_since_last_purchase": m.days_since_last_purchase,
        "total_revenue": money(m.total_revenue),
        "total_profit": money(m.total_profit),
        "profit_margin": None if m.profit_margin is None else round(m.profit_margin, 2),
        "tier": m.tier,
        "churn_risk": m.churn_risk,
        "computed_at": iso(m.computed_at),
    }


def _insight(p: CustomerPrediction | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "p_alive": round(p.p_alive, 4),
        "expected_purchases_90d": round(p.expected_purchases, 4),
        "predicted_value_12m": money(p.predicted_clv),
        "computed_at": iso(p.computed_at),
    }


def render(
    c: Customer, cur: str, metric: CustomerMetric | None, prediction: CustomerPrediction | None
) -> dict[str, Any]:
    return {
        "id": c.id,
        "ref": f"C{c.id}",
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "company_name": c.company_name,
        "industry": c.industry,
        "tags": list(c.tags or []),
        "lead_id": c.lead_id,
        "assigned_to": c.assigned_to_id,
        "last_contacted_at": iso(c.last_contacted_at),
        "unsubscribed": list(c.unsubscribed or []),
        "currency": cur,
        "metrics": render_metrics(metric),
        "insight": _insight(prediction),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def _predictions(call: Call, rows: list[Customer]) -> dict[int, CustomerPrediction]:
    ids = [c.id for c in rows]
    if not ids:
        return {}
    found = CustomerPrediction.scoped(call.actor).where(CustomerPrediction.customer.in_(ids))
    return {p.customer_id: p for p in found}


def _render_all(call: Call, rows: list[Customer]) -> list[dict[str, Any]]:
    cur = currency(call.actor)
    metrics = collections.metrics_of(call.actor, rows)
    predictions = _predictions(call, rows)
    return [render(c, cur, metrics.get(c.id), predictions.get(c.id)) for c in rows]


def _one(call: Call, customer: Customer) -> dict[str, Any]:
    return {"data": _render_all(call, [customer])[0]}


@operation(
    "POST",
    "/customers",
    body=CustomerIn,
    query=CreateQuery,
    response=CustomerOut,
    status=201,
    scope="write",
    summary="Create a customer",
    tag="customers",
)
def create(call: Call) -> Any:
    """A likely duplicate is 409 with its ``ref`` unless ``?allow_duplicate=true``."""
    b = call.body
    customer = customers.create_customer(
        call.actor,
        name=b.name,
        email=b.email,
        phone=b.phone,
        company_name=b.company_name,
        industry=b.industry,
        tags=b.tags,
        assigned_to_id=member_id(call.actor, b.assigned_to),
        allow_duplicate=call.query.allow_duplicate,
    )
    return _one(call, customer)


@operation(
    "GET",
    "/customers",
    query=CustomerQuery,
    response=CustomerList,
    scope="read",
    summary="List customers",
    tag="customers",
)
def list_(call: Call) -> Any:
    q = call.query
    rows = collections.customers(
        call.actor, after=q.after, limit=q.limit, q=q.q, industry=q.industry
    )
    body = page(rows, q.limit, lambda c: c)
    body["data"] = _render_all(call, body["data"])
    return body


@operation(
    "GET",
    "/customers/{id}",
    query=NoQuery,
    response=CustomerOut,
    scope="read",
    summary="Read a customer",
    tag="customers",
)
def read(call: Call) -> Any:
    return _one(call, customers.get_customer(call.actor, call.path["id"]))


@operation(
    "PATCH",
    "/customers/{id}",
    body=CustomerPatch,
    response=CustomerOut,
    scope="write",
    summary="Update a customer",
    tag="customers",
)
def update(call: Call) -> Any:
    fields = call.given()
    if "assigned_to" in fields:
        fields["assigned_to_id"] = member_id(call.actor, fields.pop("assigned_to"))
    return _one(call, customers.update_customer(call.actor, call.path["id"], **fields))


def render_order(o: Order, cur: str) -> dict[str, Any]:
    return {
        "id": o.id,
        "customer_id": o.customer_id,
        "amount": money(o.amount),
        "cost": money(o.cost),
        "currency": cur,
        "ordered_at": iso(o.ordered_at),
        "external_ref": o.external_ref,
        "created_at": iso(o.created_at),
    }


@operation(
    "POST",
    "/customers/{id}/orders",
    body=OrderIn,
    response=OrderOut,
    status=201,
    statuses=(200,),
    scope="write",
    summary="Record a purchase",
    tag="customers",
)
def add_order(call: Call) -> Any:
    """Refreshes the customer's metrics and credits the campaign that brought the customer
    (the order use case does both). A repeated ``external_ref`` answers the existing order
    with 200."""
    b = call.body
    order = customers.add_order(
        call.actor,
        call.path["id"],
        amount=b.amount,
        cost=b.cost,
        ordered_at=moment(call.actor, b.ordered_at, "ordered_at"),
        external_ref=b.external_ref,
    )
    status = 201 if getattr(order, "created", True) else 200
    return {"data": render_order(order, currency(call.actor))}, status


@operation(
    "POST",
    "/customers/{id}/calculate-metrics",
    response=MetricsOut,
    scope="write",
    summary="Recompute and return a customer's metrics",
    tag="customers",
)
def calculate_metrics(call: Call) -> Any:
    """Lifetime value, average order value, purchase frequency, profit margin, tier (rule 3)
    and churn risk (rule 4), computed now from the customer's orders."""
    customer = tenancy.fetch(Customer, call.actor, call.path["id"], "customer")
    metric = customer_value.recompute_customer(call.actor.company_id, customer.id)
    return {"data": render_metrics(metric)}
