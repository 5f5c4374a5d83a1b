"""The cached segment counts of rule 7, apart from the segment use cases.

Metrics, predictions, imports and conversions refresh these counts after they change the
figures segments read. Keeping the counts here, below :mod:`crm.audit`, lets those modules
(and the audit's Undo, which recomputes metrics) call them without an import cycle through
:mod:`crm.segments`, whose use cases are audited. Cache writes are not audited (see
:mod:`crm.segments`).
"""

from __future__ import annotations

from datetime import datetime

from peewee import Case, fn

from crm.clock import utcnow
from crm.models import Customer, CustomerSegment
from crm.segment_criteria import compile_criteria, customer_query, joined

__all__ = ["recount_all", "recount_company", "recount_segment"]


def recount_segment(segment: CustomerSegment, now: datetime | None = None) -> int:
    """Refresh one segment's cached count; returns it."""
    now = now or utcnow()
    count = customer_query(segment.company_id, segment.criteria, now).order_by().count()
    _store_counts(segment.company_id, {segment.id: count}, now)
    segment.customer_count, segment.counted_at = count, now
    return count


def recount_company(company_id: int, now: datetime | None = None) -> int:
    """Refresh the counts of all the company's active segments: one SELECT with one
    ``SUM(CASE ...)`` column per segment, one UPDATE. Returns the number of segments."""
    now = now or utcnow()
    segments = list(
        CustomerSegment.scoped(company_id, CustomerSegment.id, CustomerSegment.criteria).where(
            CustomerSegment.is_active
        )
    )
    if not segments:
        return 0
    columns = [
        fn.COALESCE(
            fn.SUM(Case(None, [(compile_criteria(company_id, s.criteria, now), 1)], 0)), 0
        ).alias(f"s{s.id}")
        for s in segments
    ]
    row = joined(Customer.scoped(company_id, *columns)).tuples().get()
    _store_counts(company_id, {s.id: int(n) for s, n in zip(segments, row, strict=True)}, now)
    return len(segments)


def recount_all(now: datetime | None = None) -> int:
    """Every company with active segments (the nightly job); returns segments counted."""
    now = now or utcnow()
    companies = (
        CustomerSegment.unscoped(CustomerSegment.company, why="the nightly job finds the companies")
        .where(CustomerSegment.is_active)
        .distinct()
        .tuples()
    )
    return sum(recount_company(company_id, now) for (company_id,) in list(companies))


def _store_counts(company_id: int, counts: dict[int, int], now: datetime) -> None:
    if not counts:
        return
    value = Case(CustomerSegment.id, [(sid, n) for sid, n in counts.items()], 0)
    CustomerSegment.scoped_update(company_id, customer_count=value, counted_at=now).where(
        CustomerSegment.id.in_(list(counts))
    ).execute()
