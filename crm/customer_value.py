"""Customer metrics (SPEC 7) and the tier and churn rules (rules 3 and 4).

The rules are defined once, as ordered steps (:func:`tier_steps`, :data:`CHURN_STEPS`): the
pure functions :func:`tier_for` / :func:`churn_risk_for` walk them in Python, and the SQL
``CASE`` expressions of the recompute are built from the very same steps, so the database and
the Python code cannot disagree about where silver starts.

Recomputing is set-based: one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE`` per
distinct set of tier thresholds (companies on the defaults share one statement), never a query
per customer. Customers without orders get a row too (LEFT JOIN), with no churn risk.
The metrics table is a derived cache, so its writes are not audited; the orders are.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from peewee import JOIN, Case, Cast, ColumnBase, Expression, ModelSelect, Select, Value, fn

from crm.acting import Actor
from crm.clock import utcnow
from crm.db import database, is_postgres
from crm.models import TIERS, Company, Customer, CustomerMetric, Order
from crm.segment_counts import recount_all, recount_company
from crm.tenancy import fetch

__all__ = [
    "CHURN_STEPS",
    "DAYS_PER_MONTH",
    "DEFAULT_TIERS",
    "churn_risk_for",
    "get_metrics",
    "recompute_all",
    "recompute_company",
    "recompute_customer",
    "tier_for",
    "tier_steps",
    "tier_thresholds",
]

Thresholds = Sequence[Decimal | int]

CHURN_STEPS: tuple[tuple[int, str], ...] = ((180, "high"), (90, "medium"), (0, "low"))
"""(lower bound in days, risk), highest first: low < 90 <= medium < 180 <= high (rule 4)."""

DAYS_PER_MONTH = 30.44
"""A month for purchase frequency: the mean Gregorian month, so frequency does not jump at
month ends; a customer's first month counts as a whole month (no 30 orders/month for one
order yesterday)."""

_SECONDS_PER_DAY = 86400

DEFAULT_TIERS = (Decimal(20_000), Decimal(50_000), Decimal(100_000))
"""(silver, gold, platinum) lower bounds of a company that has not set its own (rule 3)."""


def tier_thresholds(company: Company) -> tuple[Decimal, Decimal, Decimal]:
    """The company's (silver, gold, platinum) lower bounds, or the defaults (rule 3)."""
    if company.tier_thresholds:
        a, b, c = (Decimal(x) for x in company.tier_thresholds)
        return a, b, c
    return DEFAULT_TIERS


def tier_steps(thresholds: Thresholds = DEFAULT_TIERS) -> tuple[tuple[Decimal, str], ...]:
    """(lower bound, tier), highest first: the one definition of rule 3."""
    silver, gold, platinum = (Decimal(t) for t in thresholds)
    return ((platinum, TIERS[3]), (gold, TIERS[2]), (silver, TIERS[1]), (Decimal(0), TIERS[0]))


def tier_for(ltv: Decimal, thresholds: Thresholds = DEFAULT_TIERS) -> str:
    """bronze < silver threshold <= silver < gold <= gold < platinum <= platinum."""
    for bound, tier in tier_steps(thresholds):
        if ltv >= bound:
            return tier
    return TIERS[0]  # a negative value cannot happen with non-negative orders; still bronze


def churn_risk_for(days: int | None) -> str | None:
    """Churn risk for days since the last purchase; ``None`` means no purchases yet."""
    if days is None:
        return None
    for bound, risk in CHURN_STEPS:
        if days >= bound:
            return risk
    return CHURN_STEPS[-1][1]  # a purchase dated in the future is as fresh as it gets


# --- SQL building blocks --------------------------------------------------------------------


def _cents(amount: Decimal) -> int:
    """Money columns hold integer cents, so raw SQL compares against cents."""
    return int(Decimal(amount) * 100)


def tier_case(ltv_cents: ColumnBase, thresholds: Thresholds = DEFAULT_TIERS) -> Case:
    """Rule 3 as a CASE over an expression in cents, built from :func:`tier_steps`."""
    steps = tier_steps(thresholds)
    return Case(
        None,
        [(ltv_cents >= _lit(_cents(bound)), _lit(tier)) for bound, tier in steps[:-1]],
        _lit(steps[-1][1]),
    )


def churn_case(days: ColumnBase) -> Case:
    """Rule 4 as a CASE built from :data:`CHURN_STEPS`; NULL days (no purchases) stay NULL."""
    return Case(
        None,
        [(days.is_null(), None)]
        + [(days >= _lit(bound), _lit(risk)) for bound, risk in CHURN_STEPS[:-1]],
        _lit(CHURN_STEPS[-1][1]),
    )


def _lit(value: Any) -> Value:
    """A bound parameter that no field converter touches (cents stay cents)."""
    return Value(value, converter=False)


def db_timestamp(moment: datetime) -> Any:
    """A naive-UTC datetime as the parameter the current database compares correctly: SQLite
    stores peewee datetimes as ``YYYY-MM-DD HH:MM:SS`` text, PostgreSQL as timestamps."""
    if is_postgres():
        return moment
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def epoch_seconds(expr: ColumnBase) -> ColumnBase:
    """Whole seconds since 1970 of a timestamp expression; the one dialect difference here."""
    if is_postgres():
        return Cast(fn.date_part("epoch", expr), "bigint")
    return Cast(fn.strftime("%s", expr), "INTEGER")


def _greatest(a: ColumnBase, b: ColumnBase) -> ColumnBase:
    return fn.GREATEST(a, b) if is_postgres() else fn.MAX(a, b)


def _aggregates(customers: ModelSelect, now: datetime) -> Any:
    """Per customer, the raw aggregates, each computed once: orders, revenue and profit in
    cents, first/last purchase and the seconds from them to ``now`` (``now`` as a literal
    epoch, so the database converts only the two aggregated timestamps per customer).

    ``customers`` is a ``Customer.scoped(...)`` query (or the nightly job's marked one): the
    figures are computed over the rows it selects, with these columns instead of its own."""
    now_epoch = _lit(calendar.timegm(now.timetuple()))
    first, last = fn.MIN(Order.ordered_at), fn.MAX(Order.ordered_at)
    return (
        customers.select(
            Customer.company.alias("company_id"),
            Customer.id.alias("customer_id"),
            fn.COUNT(Order.id).alias("n"),
            fn.COALESCE(fn.SUM(Order.amount), 0).alias("revenue"),
            fn.COALESCE(fn.SUM(Order.amount - fn.COALESCE(Order.cost, 0)), 0).alias("profit"),
            first.alias("first_at"),
            last.alias("last_at"),
            (now_epoch - epoch_seconds(first)).alias("since_first"),
            (now_epoch - epoch_seconds(last)).alias("since_last"),
        )
        .join(
            Order,
            JOIN.LEFT_OUTER,
            on=(Order.customer == Customer.id) & (Order.company == Customer.company),
        )
        .group_by(Customer.id, Customer.company)
    )


def _metrics_select(customers: ModelSelect, now: datetime, thresholds: Thresholds) -> Select:
    """The derived figures over :func:`_aggregates`, in the column order of :data:`_FIELDS`."""
    agg = _aggregates(customers, now).alias("agg")
    c = agg.c
    # whole days, floored, never negative (a purchase dated ahead); NULL without purchases
    days = Case(
        None, [(c.since_last < 0, 0)], Expression(c.since_last, "/", _lit(_SECONDS_PER_DAY))
    )
    months = _greatest(_lit(1.0), c.since_first / _lit(DAYS_PER_MONTH * _SECONDS_PER_DAY))
    average = Cast(fn.ROUND(c.revenue * _lit(1.0) / fn.NULLIF(c.n, 0)), "bigint")
    stamp = _lit(db_timestamp(now))
    columns = [
        c.company_id,
        c.customer_id,
        c.n,
        c.revenue,
        fn.COALESCE(average, 0),
        fn.COALESCE(c.n * _lit(1.0) / months, 0),
        c.first_at,
        c.last_at,
        days,
        c.revenue,
        c.profit,
        c.profit * _lit(100.0) / fn.NULLIF(c.revenue, 0),
        tier_case(c.revenue, thresholds),
        churn_case(days),
        stamp,
        stamp,
        stamp,
    ]
    # the WHERE is always true; SQLite needs one to tell the upsert's ON from a join's ON
    return Select([agg], columns).where(c.n >= 0)


_FIELDS = [
    CustomerMetric.company,
    CustomerMetric.customer,
    CustomerMetric.order_count,
    CustomerMetric.lifetime_value,
    CustomerMetric.average_order_value,
    CustomerMetric.purchase_frequency,
    CustomerMetric.first_purchase_at,
    CustomerMetric.last_purchase_at,
    CustomerMetric.days_since_last_purchase,
    CustomerMetric.total_revenue,
    CustomerMetric.total_profit,
    CustomerMetric.profit_margin,
    CustomerMetric.tier,
    CustomerMetric.churn_risk,
    CustomerMetric.computed_at,
    CustomerMetric.created_at,
    CustomerMetric.updated_at,
]


def _upsert(customers: ModelSelect, now: datetime, thresholds: Thresholds) -> int:
    """One INSERT ... SELECT ... ON CONFLICT(customer_id) DO UPDATE for ``customers``."""
    query = _metrics_select(customers, now, thresholds)
    preserve = [f for f in _FIELDS if f.name not in ("customer", "created_at")]
    upsert = CustomerMetric.insert_from(query, _FIELDS).on_conflict(
        conflict_target=[CustomerMetric.customer], preserve=preserve
    )
    # the cursor's rowcount counts inserted and updated rows on both databases (peewee's own
    # execute() would return the last inserted id instead)
    return database.execute(upsert).rowcount


def _threshold_groups(company_ids: Sequence[int] | None) -> dict[tuple[Decimal, ...], list[int]]:
    """Companies grouped by their tier thresholds, so each group is one statement."""
    query = Company.select(Company.id, Company.tier_thresholds)
    if company_ids is not None:
        query = query.where(Company.id.in_(list(company_ids)))
    groups: dict[tuple[Decimal, ...], list[int]] = {}
    for company in query:
        groups.setdefault(tuple(tier_thresholds(company)), []).append(company.id)
    return groups


def recompute_customer(
    company_id: int, customer_id: int, now: datetime | None = None
) -> CustomerMetric:
    """Refresh one customer's row (after an order) and the company's segment counts (rule 7)."""
    now = now or utcnow()
    company = Company.get_by_id(company_id)
    _upsert(
        Customer.scoped(company_id).where(Customer.id == customer_id),
        now,
        tier_thresholds(company),
    )
    recount_company(company_id, now)
    return CustomerMetric.scoped(company_id).where(CustomerMetric.customer == customer_id).get()


def recompute_company(company_id: int, now: datetime | None = None) -> int:
    """Refresh every customer of one company; returns how many rows were written."""
    now = now or utcnow()
    company = Company.get_by_id(company_id)
    written = _upsert(Customer.scoped(company_id), now, tier_thresholds(company))
    recount_company(company_id, now)
    return written


def recompute_all(now: datetime | None = None, *, recount: bool = True) -> int:
    """The nightly job: every customer of every company (one statement per threshold set),
    then every company's active segments; returns the number of metric rows written."""
    now = now or utcnow()
    written = 0
    for thresholds, ids in _threshold_groups(None).items():
        customers = Customer.unscoped(
            why="the nightly job: every company that shares one set of tier thresholds"
        ).where(Customer.company.in_(ids))
        written += _upsert(customers, now, thresholds)
    if recount:
        recount_all(now)
    return written


def get_metrics(actor: Actor, customer_id: int) -> CustomerMetric:
    """A customer's metrics; computed on first read if no order has triggered it yet."""
    customer = fetch(Customer, actor, customer_id, "customer")
    metric = CustomerMetric.scoped(actor).where(CustomerMetric.customer == customer.id).first()
    if metric is None:
        metric = recompute_customer(actor.company_id, customer.id)
    return metric
