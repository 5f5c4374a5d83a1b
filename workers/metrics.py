"""Customer metrics and segment counts off the request path (SPEC 7, rule 7).

How a new order reaches the worker without ``crm/`` knowing about queues: the worker side
*subscribes by scanning*. ``scan_new_orders`` (every minute) asks the database which customers
have an order at least as new as their metrics row, and enqueues ``recompute_customer`` for
each. That covers every way an order arrives (Slack, the JSON API, a CSV import, a bulk
insert) and survives a Redis outage: the database remembers what is stale, not the queue.
(``crm.customers.add_order`` also refreshes the customer in its own transaction; the scan then
finds a metrics row as new as the order and enqueues it once more at most.)

``recompute_all_metrics`` is the nightly job: every company's metrics, then every segment
count, set-based in :mod:`crm.customer_value`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from peewee import JOIN

from crm import customer_value
from crm.models import CustomerMetric, Order
from workers.reminders import parse_now

__all__ = [
    "recompute_all_metrics",
    "recompute_customer",
    "scan_new_orders",
    "stale_customers",
]

log = logging.getLogger("crm.workers")

LOOKBACK = timedelta(days=2)  # older stragglers are the nightly job's


def stale_customers(now: datetime, lookback: timedelta = LOOKBACK) -> list[tuple[int, int]]:
    """(company id, customer id) of customers with an order created since ``now - lookback``
    that is not older than their metrics row (or who have no row yet): one query."""
    rows = (
        Order.unscoped(
            Order.company, Order.customer, why="the job finds stale customers in every workspace"
        )
        .join(CustomerMetric, JOIN.LEFT_OUTER, on=(CustomerMetric.customer == Order.customer))
        .where(
            (Order.created_at >= now - lookback)
            & (CustomerMetric.id.is_null() | (Order.created_at >= CustomerMetric.computed_at))
        )
        .distinct()
        .tuples()
    )
    return list(rows)


@dramatiq.actor(queue_name="metrics", max_retries=0, time_limit=5 * 60_000)
def scan_new_orders(now: str | None = None) -> None:
    """Periodic, so never retried."""
    stale = stale_customers(parse_now(now))
    for company_id, customer_id in stale:
        recompute_customer.send(customer_id, company_id=company_id)


@dramatiq.actor(
    queue_name="metrics",
    max_retries=5,
    min_backoff=5_000,
    max_backoff=10 * 60_000,
    time_limit=120_000,
)
def recompute_customer(customer_id: int, company_id: int) -> None:
    """Idempotent: recomputing twice writes the same row."""
    customer_value.recompute_customer(company_id, customer_id)


@dramatiq.actor(
    queue_name="metrics",
    max_retries=3,
    min_backoff=60_000,
    max_backoff=30 * 60_000,
    time_limit=60 * 60_000,
)
def recompute_all_metrics(now: str | None = None) -> None:
    """The nightly job: every customer of every company, then every segment count."""
    written = customer_value.recompute_all(parse_now(now) if now else None)
    log.info("nightly metrics: %d customer rows", written)
