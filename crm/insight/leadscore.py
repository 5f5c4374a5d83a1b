"""The lead score (SPEC 13): naive Bayes over a company's closed leads, +0.1 smoothing.

Naive Bayes because a manager can read it: a lead's log-odds of being won is the company's
prior log-odds plus one term per field, so "the fields that pushed it up and down most" are
exactly the largest and smallest terms. Written here (numpy) rather than taken from
scikit-learn because the model is a table of counts: scikit-learn's categorical naive Bayes
would need the same encoding and could not give the leave-one-out calibration for free, which
here is a subtraction of each lead's own counts.

Features are the fields a manager would name: source, priority, value band, assignee,
company, whether email and phone are known, communications count band, days to first contact
band. They are read for all of a company's leads in one query (communications aggregated per
lead by the database).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
from peewee import JOIN, fn

from crm.acting import Actor
from crm.clock import utcnow
from crm.db import database
from crm.leads import OPEN_STATUSES
from crm.models import Communication, Company, InsightFit, Lead, LeadScore, Member

__all__ = [
    "FEATURES",
    "MIN_CLOSED",
    "Calibration",
    "LeadModel",
    "calibration",
    "explain_lead",
    "latest_model",
    "lead_features",
    "lead_scores",
    "not_enough_leads_text",
    "rebuild_scores",
]

SMOOTHING = 0.1
MIN_CLOSED = 20
MIN_EACH = 5  # won and lost: a class seen less often has no usable counts

FEATURES: tuple[str, ...] = (
    "source",
    "priority",
    "value band",
    "assignee",
    "company",
    "email known",
    "phone known",
    "communications",
    "days to first contact",
)

_VALUE_BANDS = ((Decimal(100_000), "100k+"), (Decimal(20_000), "20k-100k"),
                (Decimal(5_000), "5k-20k"), (Decimal(0), "under 5k"))  # fmt: skip


def _value_band(value: Decimal | None) -> str:
    if value is None:
        return "none"
    return next(label for bound, label in _VALUE_BANDS if value >= bound)


def _count_band(n: int) -> str:
    if n == 0:
        return "none"
    return "1-2" if n <= 2 else "3-5" if n <= 5 else "6+"


def _contact_band(created: datetime, first: datetime | None) -> str:
    if first is None:
        return "never"
    days = (first - created).total_seconds() / 86400
    return (
        "same day"
        if days < 1
        else "1-3 days"
        if days < 4
        else "4-7 days"
        if days < 8
        else "8+ days"
    )


def lead_features(company_id: int, lead_ids: Sequence[int] | None = None,
                  statuses: Sequence[str] | None = None) -> tuple[list[int], list[str], list[list[str]]]:  # fmt: skip
    """(lead ids, statuses, one row of feature values per lead) for a company's leads."""
    comms = (
        Communication.scoped(
            company_id,
            Communication.communicable_id.alias("lead_id"),
            fn.COUNT(Communication.id).alias("n"),
            fn.MIN(Communication.communicated_at).alias("first_at"),
        )
        .where(Communication.communicable_type == "lead")
        .group_by(Communication.communicable_id)
        .alias("comms")
    )
    query = Lead.scoped(
        company_id,
        Lead.id,
        Lead.status,
        Lead.source,
        Lead.priority,
        Lead.estimated_value,
        Member.slack_user_id,
        Lead.company_name,
        Lead.email,
        Lead.phone,
        Lead.created_at,
        comms.c.n,
        comms.c.first_at,
    )
    query = (
        query.join(Member, JOIN.LEFT_OUTER, on=(Lead.assigned_to == Member.id))
        .join(comms, JOIN.LEFT_OUTER, on=(comms.c.lead_id == Lead.id))
        .order_by(Lead.id)
    )
    if lead_ids is not None:
        query = query.where(Lead.id.in_(list(lead_ids)))
    if statuses is not None:
        query = query.where(Lead.status.in_(list(statuses)))
    ids, states, rows = [], [], []
    value_field = Lead.estimated_value
    for (lead_id, status, source, priority, value, assignee, company_name, email, phone,
         created, n, first_at) in query.tuples().iterator():  # fmt: skip
        if isinstance(first_at, str):  # SQLite returns an aggregated timestamp as text
            first_at = datetime.fromisoformat(first_at)
        ids.append(lead_id)
        states.append(status)
        rows.append([
            source, priority, _value_band(value_field.python_value(value)),
            assignee or "unassigned", (company_name or "").strip().lower() or "none",
            "yes" if email else "no", "yes" if phone else "no",
            _count_band(int(n or 0)), _contact_band(created, first_at),
        ])  # fmt: skip
    return ids, states, rows


@dataclass(frozen=True)
class LeadModel:
    """Counts of won and lost leads per feature value; everything else follows from them."""

    won: int
    lost: int
    counts: dict[str, dict[str, list[int]]]  # feature -> value -> [won, lost]

    @classmethod
    def fit(cls, rows: list[list[str]], won: Sequence[bool]) -> LeadModel:
        counts: dict[str, dict[str, list[int]]] = {f: {} for f in FEATURES}
        for row, label in zip(rows, won, strict=True):
            for feature, value in zip(FEATURES, row, strict=True):
                cell = counts[feature].setdefault(value, [0, 0])
                cell[0 if label else 1] += 1
        n_won = int(sum(bool(w) for w in won))
        return cls(n_won, len(rows) - n_won, counts)

    def to_json(self) -> dict:
        return {"won": self.won, "lost": self.lost, "counts": self.counts, "smoothing": SMOOTHING}

    @classmethod
    def from_json(cls, data: dict) -> LeadModel:
        return cls(int(data["won"]), int(data["lost"]), data["counts"])

    def _terms(self, rows: list[list[str]], leave_out: Sequence[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Prior log-odds (per lead) and the per-feature log-likelihood ratios (lead x
        feature). ``leave_out``: each row is a training lead with that outcome whose own counts
        are taken out first (leave-one-out)."""
        n = len(rows)
        won = np.full(n, float(self.won))
        lost = np.full(n, float(self.lost))
        own_won = own_lost = np.zeros(n)
        if leave_out is not None:
            label = np.asarray(leave_out, dtype=bool)
            own_won, own_lost = label.astype(float), (~label).astype(float)
            won, lost = won - own_won, lost - own_lost
        terms = np.zeros((n, len(FEATURES)))
        for j, feature in enumerate(FEATURES):
            table = self.counts.get(feature, {})
            k = len(table) + 1  # the values seen and one for any value not seen
            cells = np.array([table.get(row[j], (0, 0)) for row in rows], dtype=float).reshape(n, 2)
            w = cells[:, 0] - own_won
            lo = cells[:, 1] - own_lost
            terms[:, j] = (np.log(w + SMOOTHING) - np.log(won + SMOOTHING * k)
                           - np.log(lo + SMOOTHING) + np.log(lost + SMOOTHING * k))  # fmt: skip
        prior = np.log(np.maximum(won, SMOOTHING)) - np.log(np.maximum(lost, SMOOTHING))
        return prior, terms

    def probabilities(self, rows: list[list[str]], leave_out: Sequence[bool] | None = None) -> np.ndarray:  # fmt: skip
        if not rows:
            return np.zeros(0)
        prior, terms = self._terms(rows, leave_out)
        return 1.0 / (1.0 + np.exp(-(prior + terms.sum(axis=1))))

    def explain(self, row: list[str], top: int = 3) -> tuple[int, list[dict], list[dict]]:
        """Score 0-100 and the ``top`` fields that pushed it most up and most down."""
        prior, terms = self._terms([row])
        score = _score(1.0 / (1.0 + math.exp(-(prior[0] + terms[0].sum()))))
        effects = [
            {"field": f, "value": v, "effect": round(float(t), 3)}
            for f, v, t in zip(FEATURES, row, terms[0], strict=True)
        ]
        up = sorted((e for e in effects if e["effect"] > 0), key=lambda e: -e["effect"])[:top]
        down = sorted((e for e in effects if e["effect"] < 0), key=lambda e: e["effect"])[:top]
        return score, up, down


def _score(probability: float) -> int:
    return round(probability * 100)


def _closed_counts(company_id: int) -> tuple[int, int]:
    rows = dict(
        Lead.scoped(company_id, Lead.status, fn.COUNT(Lead.id))
        .where(Lead.status.in_(("won", "lost")))
        .group_by(Lead.status)
        .tuples()
    )
    return int(rows.get("won", 0)), int(rows.get("lost", 0))


def not_enough_leads_text(company_id: int) -> str:
    won, lost = _closed_counts(company_id)
    return (
        f"not enough history ({won + lost} closed leads, {won} won and {lost} lost; "
        f"{MIN_CLOSED} needed, at least {MIN_EACH} of each)"
    )


def latest_model(company_id: int) -> tuple[InsightFit, LeadModel | None] | None:
    fit = (
        InsightFit.scoped(company_id)
        .where(InsightFit.kind == "lead_score")
        .order_by(InsightFit.fitted_at.desc(), InsightFit.id.desc())
        .first()
    )
    if fit is None:
        return None
    return fit, LeadModel.from_json(fit.params) if fit.params else None


@dataclass(frozen=True)
class Rebuilt:
    fit: InsightFit
    model: LeadModel | None
    scored: int

    @property
    def needed_more(self) -> bool:
        return self.model is None


def rebuild_scores(company: Company, now: datetime | None = None) -> Rebuilt:
    """Fit on the closed leads, store the model, and score every open lead (nightly, after a
    lead is won or lost, and by ``crm insight scores``)."""
    now = now or utcnow()
    _, states, rows = lead_features(company.id, statuses=("won", "lost"))
    won = [s == "won" for s in states]
    n_won = sum(won)
    enough = len(rows) >= MIN_CLOSED and n_won >= MIN_EACH and len(rows) - n_won >= MIN_EACH
    model = LeadModel.fit(rows, won) if enough else None
    with database.atomic():
        fit = InsightFit.create(
            company=company.id, kind="lead_score", fitted_at=now, sample_size=len(rows),
            informative=n_won, needed=MIN_CLOSED, params=model.to_json() if model else None,
        )  # fmt: skip
        LeadScore.scoped_delete(company.id).execute()
        if model is None:
            return Rebuilt(fit, None, 0)
        ids, _, open_rows = lead_features(company.id, statuses=OPEN_STATUSES)
        if not ids:
            return Rebuilt(fit, model, 0)
        prior, terms = model._terms(open_rows)
        probabilities = 1.0 / (1.0 + np.exp(-(prior + terms.sum(axis=1))))
        records = []
        for i, lead_id in enumerate(ids):
            order = np.argsort(terms[i])
            reasons = [
                {
                    "field": FEATURES[j],
                    "value": open_rows[i][j],
                    "effect": round(float(terms[i, j]), 3),
                }
                for j in [*order[::-1][:3], *order[:3]]
                if terms[i, j] != 0
            ]
            records.append({
                "company": company.id, "lead": lead_id, "score": _score(float(probabilities[i])),
                "reasons": reasons, "computed_at": now, "created_at": now, "updated_at": now,
            })  # fmt: skip
        for start in range(0, len(records), 500):
            LeadScore.insert_many(records[start : start + 500]).execute()
    return Rebuilt(fit, model, len(records))


@dataclass(frozen=True)
class LeadExplanation:
    score: int | None
    up: list[dict] = field(default_factory=list)
    down: list[dict] = field(default_factory=list)
    fitted_at: datetime | None = None
    closed: int = 0
    message: str | None = None  # "not enough history (...)" instead of a score


def explain_lead(lead: Lead) -> LeadExplanation | None:
    """The card's view: scored live from the latest model, so a lead added since the nightly
    rebuild has its score too. None before any model was built."""
    found = latest_model(lead.company_id)
    if found is None:
        return None
    fit, model = found
    if model is None:
        return LeadExplanation(None, closed=fit.sample_size, fitted_at=fit.fitted_at,
                               message=not_enough_leads_text(lead.company_id))  # fmt: skip
    _, _, rows = lead_features(lead.company_id, lead_ids=[lead.id])
    score, up, down = model.explain(rows[0])
    return LeadExplanation(score, up, down, fit.fitted_at, fit.sample_size)


@dataclass(frozen=True)
class Decile:
    decile: int
    count: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class Calibration:
    closed: int
    base_rate: float
    brier: float
    base_brier: float
    deciles: list[Decile]
    probabilities: np.ndarray
    outcomes: np.ndarray


def calibration(company: Company) -> Calibration | None:
    """Leave-one-out predictions for every closed lead (each scored by a model fitted without
    it), by decile of prediction, and the Brier score against the base rate's."""
    found = latest_model(company.id)
    if found is None or found[1] is None:
        return None
    model = found[1]
    _, states, rows = lead_features(company.id, statuses=("won", "lost"))
    outcome = np.array([s == "won" for s in states])
    predicted = model.probabilities(rows, leave_out=outcome)
    y = outcome.astype(float)
    base = float(y.mean())
    # the base rate is left-one-out too, so neither side sees the lead it predicts
    n = len(y)
    base_loo = (y.sum() - y) / (n - 1)
    order = np.argsort(predicted, kind="stable")
    deciles = []
    for d, chunk in enumerate(np.array_split(order, 10), start=1):
        if len(chunk):
            deciles.append(
                Decile(d, len(chunk), float(predicted[chunk].mean()), float(y[chunk].mean()))
            )
    return Calibration(
        closed=n, base_rate=base, brier=float(np.mean((predicted - y) ** 2)),
        base_brier=float(np.mean((base_loo - y) ** 2)), deciles=deciles,
        probabilities=predicted, outcomes=y,
    )  # fmt: skip


def lead_scores(actor: Actor, lead_ids: Sequence[int]) -> dict[int, int]:
    """Stored scores of the company's leads among ``lead_ids`` (one query, for lists)."""
    if not lead_ids:
        return {}
    rows = LeadScore.scoped(actor, LeadScore.lead, LeadScore.score).where(
        LeadScore.lead.in_(list(lead_ids))
    )
    return dict(rows.tuples())
