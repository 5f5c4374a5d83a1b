"""Per-customer summaries for the lifetime-value models, built by the database (set-based).

One statement per question, grouped by customer, never a loop over orders in Python:
- a customer's orders of one local day are one transaction (their amounts summed);
- ``x`` (frequency) is the number of purchase days after the first, ``t_x`` (recency) the days
  from the first purchase day to the last, ``T`` the days from the first to the end of the
  calibration period, both returned in days and turned into weeks by the caller;
- the average repeat spend leaves the first day out, as the Gamma-Gamma model expects.

Local days use the company's UTC offset at the end of the calibration period (one fixed
offset, because SQLite has no time-zone database); in a zone with daylight saving an order
within an hour of midnight may land on the neighbouring day, which moves no figure that
matters at the scale of weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from crm.clock import to_utc
from crm.customer_value import db_timestamp
from crm.db import database, is_postgres

__all__ = ["Summaries", "holdout_purchases", "summaries"]


@dataclass(frozen=True)
class Summaries:
    """Columns over the customers who bought by the end of the period, in customer id order."""

    customer_ids: NDArray[np.int64]
    frequency: NDArray[np.float64]  # repeat purchase days, x
    recency: NDArray[np.float64]  # weeks from the first to the last purchase day, t_x
    age: NDArray[np.float64]  # weeks from the first purchase day to the period's end, T
    average_repeat_spend: NDArray[np.float64]  # in currency units; 0 without a repeat

    def __len__(self) -> int:
        return len(self.customer_ids)

    @property
    def repeaters(self) -> int:
        return int(np.count_nonzero(self.frequency))


def _offset_seconds(tz: str, day: date) -> int:
    moment = datetime.combine(day, time(12), ZoneInfo(tz))
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset else 0


def _end_utc(day: date, tz: str) -> datetime:
    """The first UTC instant after the local day ``day``."""
    return to_utc(datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(tz)))


def _local_day(offset: int) -> str:
    """SQL for the local calendar day of ``ordered_at`` (as a date on PostgreSQL, ISO text on
    SQLite) and, below, the whole days between two of them."""
    if is_postgres():
        return f"CAST(ordered_at + INTERVAL '{offset} seconds' AS date)"
    return f"date(ordered_at, '{offset:+d} seconds')"


def _days_between(later: str, earlier: str) -> str:
    if is_postgres():
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _purchase_days_sql(offset: int) -> str:
    """Purchase days (customer, day, spend in cents) of one company before a bound."""
    p = database.param
    return (
        f"SELECT customer_id, {_local_day(offset)} AS day, SUM(amount) AS spend "
        f"FROM cms_orders WHERE company_id = {p} AND ordered_at < {p} "
        "GROUP BY customer_id, day"
    )


def summaries(company_id: int, until: date, tz: str) -> Summaries:
    """x, t_x, T and the average repeat spend of every customer of the company who bought
    on or before ``until`` (local day in ``tz``)."""
    offset = _offset_seconds(tz, until)
    p = database.param
    end_day = f"CAST({p} AS date)" if is_postgres() else p
    sql = (
        f"WITH days AS ({_purchase_days_sql(offset)}), "
        "per AS (SELECT customer_id, COUNT(*) - 1 AS x, MIN(day) AS first_day, "
        "MAX(day) AS last_day, SUM(spend) AS total FROM days GROUP BY customer_id) "
        "SELECT per.customer_id, per.x, "
        f"{_days_between('per.last_day', 'per.first_day')}, "
        f"{_days_between(end_day, 'per.first_day')}, "
        "per.total - days.spend "
        "FROM per JOIN days ON days.customer_id = per.customer_id AND days.day = per.first_day "
        "ORDER BY per.customer_id"
    )
    params = [company_id, db_timestamp(_end_utc(until, tz)), until.isoformat()]
    rows = database.execute_sql(sql, params).fetchall()
    if not rows:
        empty = np.zeros(0)
        return Summaries(np.zeros(0, dtype=np.int64), empty, empty, empty, empty)
    table = np.array(rows, dtype=float)
    x = table[:, 1]
    repeat_cents = table[:, 4]
    average = np.divide(repeat_cents / 100.0, x, out=np.zeros_like(x), where=x > 0)
    return Summaries(
        customer_ids=table[:, 0].astype(np.int64),
        frequency=x,
        recency=table[:, 2] / 7.0,
        age=table[:, 3] / 7.0,
        average_repeat_spend=average,
    )


def holdout_purchases(company_id: int, until: date, holdout_until: date, tz: str) -> dict[int, int]:
    """Purchase days per customer after ``until`` up to ``holdout_until`` (inclusive)."""
    offset = _offset_seconds(tz, until)
    after = f"CAST({database.param} AS date)" if is_postgres() else database.param
    sql = (
        f"WITH days AS ({_purchase_days_sql(offset)}) "
        f"SELECT customer_id, COUNT(*) FROM days WHERE day > {after} GROUP BY customer_id"
    )
    params = [company_id, db_timestamp(_end_utc(holdout_until, tz)), until.isoformat()]
    return {int(c): int(n) for c, n in database.execute_sql(sql, params).fetchall()}
