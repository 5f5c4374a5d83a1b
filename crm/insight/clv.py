"""Predictive lifetime value of a company's customers (SPEC 13): fit, store, predict.

The split: :mod:`crm.insight.data` asks the database for the per-customer summaries,
:mod:`crm.insight.bgnbd` and :mod:`crm.insight.gammagamma` fit and predict on arrays, this
module stores the parameters (:class:`~crm.models.InsightFit`) and the per-customer figures
(:class:`~crm.models.CustomerPrediction`) that the card, the segment criteria and the digest
read. A company with too few repeat buyers gets a fit row without parameters, and its
predictions are removed: "not enough history" is shown, never a made-up figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from crm.clock import to_local, utcnow
from crm.db import database
from crm.errors import ValidationError
from crm.insight.bgnbd import BGNBDParams, conditional_expected, fit_bgnbd, p_alive
from crm.insight.data import Summaries, holdout_purchases, summaries
from crm.insight.gammagamma import GammaGammaParams, expected_spend, fit_gamma_gamma
from crm.models import Company, CustomerPrediction, InsightFit
from crm.segment_counts import recount_company

__all__ = [
    "MIN_REPEATERS",
    "ClvFit",
    "CustomerOutlook",
    "HoldoutCheck",
    "clv_discount",
    "customer_outlook",
    "fit_company",
    "latest_fit",
    "parse_discount",
    "predict_company",
]

MIN_REPEATERS = 30
"""Customers with a repeat purchase needed before a company is fitted: below this, four
BG/NBD and three Gamma-Gamma parameters are guesses, not estimates."""

WEEKS_PER_MONTH = 365.25 / 12 / 7
EXPECTED_PURCHASES_DAYS = 90
CLV_MONTHS = 12
DEFAULT_DISCOUNT = 0.01  # per month
HOLDOUT_BUCKETS = 8  # calibration repeat purchases 0, 1, ..., 7+


def not_enough_text(repeaters: int, needed: int) -> str:
    return f"not enough history ({repeaters} customers with a repeat purchase, {needed} needed)"


@dataclass(frozen=True)
class HoldoutCheck:
    """Predicted against actual repeat purchases in the holdout weeks, in total and by the
    number of calibration-period repeat purchases (the paper's conditional-expectation plot)."""

    weeks: float
    predicted: float
    actual: int
    buckets: list[tuple[str, int, float, float]] = field(default_factory=list)
    # (label, customers, mean predicted, mean actual)


@dataclass(frozen=True)
class ClvFit:
    fit: InsightFit
    customers: int
    repeaters: int
    bgnbd: BGNBDParams | None
    gamma_gamma: GammaGammaParams | None
    log_likelihood: float | None
    holdout: HoldoutCheck | None = None

    @property
    def enough(self) -> bool:
        return self.bgnbd is not None


MAX_DISCOUNT = 0.2  # a month; above this a year's value is mostly discounted away


def parse_discount(text: str | float) -> float:
    """A monthly discount rate as typed by an admin: ``1%``, ``1.5%`` or ``0.015``."""
    hint = "discount=1%"
    raw = str(text).strip()
    match = re.fullmatch(r"([0-9]{1,2}(?:\.[0-9]{1,3})?)\s*(%?)", raw)
    if not match:
        raise ValidationError("discount", f"{raw[:20]!r} is not a monthly rate", hint=hint)
    value = float(match[1]) / (100 if match[2] or float(match[1]) >= 1 else 1)
    if value > MAX_DISCOUNT:
        raise ValidationError(
            "discount", f"{raw[:20]} a month is more than {MAX_DISCOUNT:.0%}", hint=hint
        )
    return value


def clv_discount(company: Company) -> float:
    """The company's monthly discount rate for the 12-month value (a setting; 1% default)."""
    value = (company.settings or {}).get("clv_discount")
    return DEFAULT_DISCOUNT if value is None else float(value)


def _local_today(company: Company, now: datetime) -> date:
    return to_local(now, company.timezone).date()


def fit_company(
    company: Company,
    *,
    until: date | None = None,
    holdout_until: date | None = None,
    now: datetime | None = None,
) -> ClvFit:
    """Fit both models on the orders up to ``until`` (default: today), store the parameters,
    and, with ``holdout_until``, compare predicted with actual purchases after ``until``."""
    now = now or utcnow()
    today = _local_today(company, now)
    until = until or today
    if holdout_until is not None and holdout_until <= until:
        raise ValidationError(
            "holdout-until",
            "must be after --until",
            hint=f"--holdout-until {until + timedelta(days=273)}",
        )
    data = summaries(company.id, until, company.timezone)
    repeaters = data.repeaters
    with database.atomic():
        if repeaters < MIN_REPEATERS:
            row = InsightFit.create(
                company=company.id, kind="clv", fitted_at=now, data_until=until,
                sample_size=len(data), informative=repeaters, needed=MIN_REPEATERS,
            )  # fmt: skip
            CustomerPrediction.scoped_delete(company.id).execute()
            return ClvFit(row, len(data), repeaters, None, None, None)
        bg = fit_bgnbd(data.frequency, data.recency, data.age)
        gg = fit_gamma_gamma(data.frequency, data.average_repeat_spend)
        params = {
            "r": bg.params.r, "alpha": bg.params.alpha, "a": bg.params.a, "b": bg.params.b,
            "p": gg.params.p, "q": gg.params.q, "gamma": gg.params.gamma,
            "gamma_gamma_log_likelihood": gg.log_likelihood,
        }  # fmt: skip
        row = InsightFit.create(
            company=company.id, kind="clv", fitted_at=now, data_until=until,
            sample_size=len(data), informative=repeaters, needed=MIN_REPEATERS,
            params=params, log_likelihood=bg.log_likelihood,
        )  # fmt: skip
    check = None
    if holdout_until is not None:
        check = _holdout(company, bg.params, data, until, holdout_until)
    return ClvFit(row, len(data), repeaters, bg.params, gg.params, bg.log_likelihood, check)


def _holdout(
    company: Company, params: BGNBDParams, data: Summaries, until: date, holdout_until: date
) -> HoldoutCheck:
    weeks = (holdout_until - until).days / 7
    expected = conditional_expected(params, weeks, data.frequency, data.recency, data.age)
    actual_by_customer = holdout_purchases(company.id, until, holdout_until, company.timezone)
    actual = np.array([actual_by_customer.get(int(c), 0) for c in data.customer_ids], float)
    bucket = np.minimum(data.frequency, HOLDOUT_BUCKETS - 1).astype(int)
    rows = []
    for k in range(HOLDOUT_BUCKETS):
        mask = bucket == k
        if not mask.any():
            continue
        label = f"{k}+" if k == HOLDOUT_BUCKETS - 1 else str(k)
        rows.append(
            (label, int(mask.sum()), float(expected[mask].mean()), float(actual[mask].mean()))
        )
    return HoldoutCheck(weeks, float(expected.sum()), int(actual.sum()), rows)


def latest_fit(company_id: int) -> InsightFit | None:
    return (
        InsightFit.scoped(company_id)
        .where(InsightFit.kind == "clv")
        .order_by(InsightFit.fitted_at.desc(), InsightFit.id.desc())
        .first()
    )


def fit_params(fit: InsightFit) -> tuple[BGNBDParams, GammaGammaParams]:
    p = fit.params
    return (
        BGNBDParams(p["r"], p["alpha"], p["a"], p["b"]),
        GammaGammaParams(p["p"], p["q"], p["gamma"]),
    )


def twelve_month_value(
    bg: BGNBDParams, gg: GammaGammaParams, data: Summaries, discount: float
) -> np.ndarray:
    """Expected spend over the next 12 months, each month's expected purchases times the
    expected average spend, discounted by ``(1 + discount) ** month``."""
    x, tx, T = data.frequency, data.recency, data.age
    spend = expected_spend(gg, x, data.average_repeat_spend)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for month in range(1, CLV_MONTHS + 1):
        cumulative = conditional_expected(bg, month * WEEKS_PER_MONTH, x, tx, T)
        total += (cumulative - previous) / (1 + discount) ** month
        previous = cumulative
    return total * spend


def predict_company(company: Company, now: datetime | None = None) -> int:
    """Refresh every customer's prediction from the latest fit on the data up to today, and
    the segment counts that read them (rule 7); returns the number of customers written (0
    without a usable fit)."""
    now = now or utcnow()
    fit = latest_fit(company.id)
    if fit is None or fit.params is None:
        CustomerPrediction.scoped_delete(company.id).execute()
        recount_company(company.id, now)
        return 0
    bg, gg = fit_params(fit)
    data = summaries(company.id, _local_today(company, now), company.timezone)
    alive = p_alive(bg, data.frequency, data.recency, data.age)
    expected = conditional_expected(
        bg, EXPECTED_PURCHASES_DAYS / 7, data.frequency, data.recency, data.age
    )
    value = twelve_month_value(bg, gg, data, clv_discount(company))
    previous = dict(
        CustomerPrediction.scoped(
            company.id, CustomerPrediction.customer, CustomerPrediction.p_alive
        ).tuples()
    )
    crossed = dict(
        CustomerPrediction.scoped(
            company.id, CustomerPrediction.customer, CustomerPrediction.below_half_at
        ).tuples()
    )
    # a parameter set at the edge of its range can overflow for a few histories: those
    # customers get no figure rather than a wrong one
    finite = np.isfinite(alive) & np.isfinite(expected) & np.isfinite(value)
    rows = []
    for i, customer_id in enumerate(data.customer_ids.tolist()):
        if not finite[i]:
            continue
        before = previous.get(customer_id)
        below_at = crossed.get(customer_id)
        if alive[i] < 0.5 and before is not None and before >= 0.5:
            below_at = now  # a first prediction has no "before": nothing fell
        elif alive[i] >= 0.5:
            below_at = None
        rows.append(
            {
                "company": company.id,
                "customer": customer_id,
                "fit": fit.id,
                "repeat_purchases": int(data.frequency[i]),
                "p_alive": float(alive[i]),
                "expected_purchases": float(expected[i]),
                "predicted_clv": Decimal(str(float(value[i]))).quantize(
                    Decimal("0.01"), rounding=ROUND_HALF_UP
                ),
                "below_half_at": below_at,
                "computed_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    fields = [
        CustomerPrediction.fit, CustomerPrediction.repeat_purchases, CustomerPrediction.p_alive,
        CustomerPrediction.expected_purchases, CustomerPrediction.predicted_clv,
        CustomerPrediction.below_half_at, CustomerPrediction.computed_at,
        CustomerPrediction.updated_at,
    ]  # fmt: skip
    with database.atomic():
        for start in range(0, len(rows), 500):
            CustomerPrediction.insert_many(rows[start : start + 500]).on_conflict(
                conflict_target=[CustomerPrediction.customer], preserve=fields
            ).execute()
        # whoever this run did not write (a non-finite figure) keeps no older one
        CustomerPrediction.scoped_delete(company.id).where(
            CustomerPrediction.computed_at < now
        ).execute()
    recount_company(company.id, now)
    return len(rows)


@dataclass(frozen=True)
class CustomerOutlook:
    """What the customer card shows beside the historic figures: the customer's prediction
    and the fit it came from, or why there is none."""

    fit: InsightFit
    prediction: CustomerPrediction | None
    message: str | None = None  # "not enough history (...)"; None when there are figures


def customer_outlook(company_id: int, customer_id: int) -> CustomerOutlook | None:
    """None until the company's first fit (nothing to say yet)."""
    fit = latest_fit(company_id)
    if fit is None:
        return None
    if fit.params is None:
        return CustomerOutlook(fit, None, not_enough_text(fit.informative, fit.needed))
    prediction = (
        CustomerPrediction.scoped(company_id)
        .where(CustomerPrediction.customer == customer_id)
        .first()
    )
    return CustomerOutlook(fit, prediction)
