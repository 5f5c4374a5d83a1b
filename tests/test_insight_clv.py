"""Predictive lifetime value on the CDNOW sample, imported through ``crm import`` and fitted by
``crm insight fit`` (SPEC 13): the published parameters, the holdout check, and per-customer
conditional expectations worked out by hand."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crm.insight.bgnbd import BGNBDParams, conditional_expected
from crm.insight.data import summaries
from crm.models import Company, Customer, InsightFit
from tests.insight_support import SAMPLE, email, write_csvs
from tests.test_cli import crm

if TYPE_CHECKING:
    from tests.conftest import TestDB

PUBLISHED = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


def _number(text: str, label: str) -> float:
    found = re.search(rf"{label}\s+(-?[\d,]+\.\d+)", text)
    assert found, f"{label} not in {text}"
    return float(found.group(1).replace(",", ""))


def _hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss's series term by term (|z| < 1), independent of scipy."""
    term, total, n = 1.0, 1.0, 0
    while abs(term) > 1e-15 * abs(total):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        n += 1
    return total


def _by_hand(x: int, tx: float, T: float, t: float) -> float:
    """Equation (10) of Fader, Hardie & Lee (2005) with the published parameters."""
    r, alpha, a, b = PUBLISHED.as_tuple()
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * _hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + T + t)
    )
    alive = 1.0 if x == 0 else 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))
    return head * tail * alive


@pytest.mark.slow
def test_cdnow_sample_reproduces_the_published_fit(db: TestDB, tmp_path: Path) -> None:
    company = Company.create(
        team_id="TCDNOW", name="CDNOW", timezone="America/New_York", currency="USD"
    )
    customers_csv, orders_csv = write_csvs(SAMPLE, tmp_path)
    for kind, path in (("customers", customers_csv), ("orders", orders_csv)):
        imported = crm(db, "import", kind, str(path), "--team", "TCDNOW", cwd=tmp_path)
        assert imported.returncode == 0, imported.stderr
        assert "0 rejected" in imported.stdout, imported.stdout
    assert Customer.select().where(Customer.company == company.id).count() == 2357

    fitted = crm(db, "insight", "fit", "--team", "TCDNOW", "--until", "1997-09-30",
                 "--holdout-until", "1998-06-30", cwd=tmp_path)  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    out = fitted.stdout
    assert "2357 customers, 946 with a repeat purchase" in out
    for label, published in (("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426),
                             ("p", 6.25), ("q", 3.74), ("gamma", 15.44)):  # fmt: skip
        assert _number(out, rf"\b{label}") == pytest.approx(published, rel=0.01), label
    assert _number(out, "log-likelihood") == pytest.approx(-9582.4, abs=0.5)

    # stored with its date and data size, so a card can say how fresh it is
    fit = InsightFit.get((InsightFit.company == company.id) & (InsightFit.kind == "clv"))
    assert (fit.data_until, fit.sample_size, fit.informative) == (date(1997, 9, 30), 2357, 946)
    assert fit.params["r"] == pytest.approx(0.243, rel=0.01)

    # the holdout: 39 weeks, predicted ~1,653 (published parameters) against 1,882 actual
    holdout = re.search(r"Holdout \((\d+) weeks.*predicted ([\d,.]+) .* actual ([\d,]+)", out)
    assert holdout, out
    assert int(holdout.group(1)) == 39
    assert float(holdout.group(2).replace(",", "")) == pytest.approx(1653, rel=0.01)
    assert int(holdout.group(3).replace(",", "")) == 1882
    rows = re.findall(r"│\s*(\d\+?)\s*│\s*(\d+)\s*│\s*([\d.]+)\s*│\s*([\d.]+)\s*│", out)
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4", "5", "6", "7+"], out
    assert sum(int(r[1]) for r in rows) == 2357
    assert int(rows[0][1]) == 2357 - 946
    # customers who never repeated buy least in the holdout, the 7+ group most, in both columns
    for column in (2, 3):
        means = [float(r[column]) for r in rows]
        assert means[0] == min(means) and means[-1] == max(means)
    actual_total = sum(int(r[1]) * float(r[3]) for r in rows)
    rounding = sum(int(r[1]) for r in rows) * 0.005  # the means are printed to 2 places
    assert actual_total == pytest.approx(1882, abs=rounding)

    # three customers worked out by hand from the raw lines: one who never came back,
    # one frequent, one frequent but lapsed
    data = summaries(company.id, date(1997, 9, 30), company.timezone)
    index = {
        c.email: i
        for i, c in enumerate(
            Customer.select().where(Customer.company == company.id).order_by(Customer.id)
        )
    }
    t = 39.0
    cases = {
        3: (0, 0.0, 272 / 7),  # one purchase on 1997-01-01
        157: (29, 264 / 7, 266 / 7),  # first 1997-01-07, last 1997-09-28
        1901: (21, 33 / 7, 205 / 7),  # first 1997-03-09, last 1997-04-11
    }
    expected_row = data.customer_ids.tolist()
    for sample_id, (x, tx, T) in cases.items():
        customer_id = Customer.get(
            (Customer.company == company.id) & (Customer.email == email(sample_id))
        ).id
        i = expected_row.index(customer_id)
        assert (data.frequency[i], data.recency[i], data.age[i]) == pytest.approx((x, tx, T))
        product = float(conditional_expected(PUBLISHED, t, [x], [tx], [T])[0])
        assert product == pytest.approx(_by_hand(x, tx, T, t), rel=1e-9)
    assert index  # every sample customer is a customer of the workspace
    by_hand = {s: _by_hand(*cases[s], t) for s in cases}
    # the frequent buyer is expected to keep buying, the lapsed one hardly
    assert by_hand[157] > 5 > by_hand[3] > by_hand[1901]
    assert math.isfinite(sum(by_hand.values()))


def test_fit_refuses_bad_dates_and_says_when_history_is_too_short(
    db: TestDB, tmp_path: Path
) -> None:
    Company.create(team_id="TSHORT", name="Short")
    cases = {
        ("--until", "someday"): "until:",
        ("--until", "1997-09-30", "--holdout-until", "1997-01-01"): "holdout-until: must be after --until",
        ("--holdout-until", "1998-06-30"): "holdout-until: needs --until as well",
    }  # fmt: skip
    for args, fragment in cases.items():
        result = crm(db, "insight", "fit", "--team", "TSHORT", *args, cwd=tmp_path)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert InsightFit.select().count() == 0  # a refusal changes nothing

    result = crm(db, "insight", "fit", "--team", "TSHORT", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not enough history (0 customers with a repeat purchase, 30 needed)" in result.stdout
    assert "BG/NBD" not in result.stdout  # no made-up parameters
