"""The CDNOW sample as the product's own CSV files, for the insight tests and benchmark.

The published figures (Fader, Hardie & Lee 2005) treat a customer's purchases of one day as
one transaction; the product does the same when it summarises orders, so the rows go in as
they are. Eight sample customers made a single purchase of $0.00, which the order rules
refuse (an order must be worth more than 0): they go in at $0.01 so that they still count as
the one-time buyers they are. Their value never reaches a figure: spend is modelled from repeat
purchases only, and they have none.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# The published transaction logs are not copied into the repository: they sit in the shared
# data folder beside the clone (as on the developers' machines and in CI); CRM_CDNOW_DIR
# points elsewhere.
CDNOW_DIR = Path(
    os.environ.get(
        "CRM_CDNOW_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow"
    )
)
SAMPLE = CDNOW_DIR / "CDNOW_sample.txt"
MASTER = CDNOW_DIR / "CDNOW_master.txt"


@dataclass(frozen=True)
class Line:
    customer: int
    day: date
    dollars: str


def read_cdnow(path: Path) -> Iterator[Line]:
    """Both layouts: the sample has master and sample ids, the master a header and CRLFs."""
    with path.open() as handle:
        for raw in handle:
            cells = raw.split()
            if not cells or not cells[0].isdigit():
                continue
            if path.name == SAMPLE.name:
                _, customer, stamp, _, dollars = cells
            else:
                customer, stamp, _, dollars = cells
            yield Line(
                int(customer), date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:])), dollars
            )


def email(customer: int) -> str:
    return f"cdnow{customer}@example.com"


def write_csvs(path: Path, folder: Path) -> tuple[Path, Path]:
    """customers.csv and orders.csv in the columns ``crm import`` reads."""
    lines = list(read_cdnow(path))
    customers = folder / "customers.csv"
    orders = folder / "orders.csv"
    with customers.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "email"])
        for customer in sorted({line.customer for line in lines}):
            out.writerow([f"CDNOW customer {customer}", email(customer)])
    with orders.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer", "amount", "date", "ref"])
        for n, line in enumerate(lines):
            amount = line.dollars if float(line.dollars) > 0 else "0.01"
            out.writerow([email(line.customer), amount, line.day.isoformat(), f"cdnow-{n}"])
    return customers, orders


def load_orders(company_id: int, path: Path, tz: str = "America/New_York") -> dict[int, int]:
    """The CDNOW lines as customers and orders of ``company_id`` in a few bulk inserts (for
    tests of what reads orders; ``crm import`` itself is tested on the sample): each order at
    09:00 local on its day. Returns CDNOW customer id -> customer id."""
    from datetime import datetime, time
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from crm.clock import to_utc
    from crm.db import database
    from crm.models import Customer, Order

    lines = list(read_cdnow(path))
    ids = sorted({line.customer for line in lines})
    with database.atomic():
        for start in range(0, len(ids), 500):
            Customer.insert_many(
                [{"company": company_id, "name": f"CDNOW customer {c}", "email": email(c)}
                 for c in ids[start : start + 500]]
            ).execute()  # fmt: skip
        known = dict(
            Customer.select(Customer.email, Customer.id)
            .where(Customer.company == company_id)
            .tuples()
        )
        mapping = {c: known[email(c)] for c in ids}
        zone = ZoneInfo(tz)
        rows = [
            {
                "company": company_id,
                "customer": mapping[line.customer],
                "amount": max(Decimal(line.dollars), Decimal("0.01")),
                "ordered_at": to_utc(datetime.combine(line.day, time(9), zone)),
                "external_ref": f"cdnow-{n}",
            }
            for n, line in enumerate(lines)
        ]
        for start in range(0, len(rows), 1000):
            Order.insert_many(rows[start : start + 1000]).execute()
    return mapping
