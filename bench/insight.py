"""The BG/NBD fit (SPEC 13) on the CDNOW master file, against a plain scipy fit of the same
likelihood written here: Nelder-Mead from the same start on the log-parameters, no gradient,
no grouping of identical customers. Also the time to score 100,000 leads.

Dataset: ``CDNOW_master.txt`` (23,570 customers, 69,659 lines) as customers and orders of one
company, calibration to 1997-09-30 (weeks). The summaries come from the product's SQL
(:func:`crm.insight.data.summaries`, timed and printed); both fits then run on the same
arrays, alternating rounds. Goal: product fit <= 1.5x the baseline's time (a gradient method
should be faster) and both parameter sets equal to 3 significant digits.

    .venv/bin/python -m bench.insight [--rounds R] [--leads N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from bench._common import PG_DEFAULT, ensure_dataset, insert_companies, open_bench_database
from crm.insight.bgnbd import fit_bgnbd, log_likelihood
from crm.insight.data import summaries
from crm.insight.leadscore import FEATURES, LeadModel
from crm.models import Company
from tests.insight_support import MASTER, load_orders

UNTIL = date(1997, 9, 30)
TZ = "America/New_York"
START = (1.0, 1.0, 1.0, 1.0)
GOAL = 1.5


def plain_negative_ll(
    log_params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> float:
    """Equation (6) of Fader, Hardie & Lee (2005), written out once more for the baseline."""
    r, alpha, a, b = np.exp(log_params)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(
        x > 0,
        np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
        -np.inf,
    )
    return -float(np.sum(a1 + a2 + np.logaddexp(a3, a4)))


def plain_fit(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, float]:
    result = minimize(
        plain_negative_ll, np.log(START), args=(x, tx, T), method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-7, "maxiter": 20_000, "maxfev": 20_000},
    )  # fmt: skip
    return np.exp(result.x), -float(result.fun)


def _load(db: object) -> None:
    insert_companies(db, "TCDNOW", 1, "1997-01-01 00:00:00")  # type: ignore[arg-type]
    Company.update(timezone=TZ, currency="USD").execute()
    load_orders(Company.select().first().id, MASTER, tz=TZ)


def _synthetic_leads(n: int, seed: int = 11) -> list[list[str]]:
    rng = random.Random(seed)
    values = {
        "source": ["website", "referral", "event", "cold_call", "social", "email", "partner"],
        "priority": ["low", "medium", "high"],
        "value band": ["none", "under 5k", "5k-20k", "20k-100k", "100k+"],
        "assignee": [f"U{i:04d}" for i in range(40)],
        "company": [f"company {i}" for i in range(500)],
        "email known": ["yes", "no"],
        "phone known": ["yes", "no"],
        "communications": ["none", "1-2", "3-5", "6+"],
        "days to first contact": ["never", "same day", "1-3 days", "4-7 days", "8+ days"],
    }
    return [[rng.choice(values[f]) for f in FEATURES] for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.insight", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="sqlite:////tmp/crm_bench_insight.db",
                        help=f"peewee URL; try {PG_DEFAULT}")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (best is kept)")
    parser.add_argument("--leads", type=int, default=100_000, help="leads to score")
    args = parser.parse_args()
    db = open_bench_database(args.database_url)
    lines = sum(1 for line in Path(MASTER).read_text().splitlines() if line.strip()[:1].isdigit())
    ensure_dataset(db, "insight-cdnow-master", lines, _load)
    company = Company.get(Company.team_id.startswith("TCDNOW"))

    started = time.perf_counter()
    data = summaries(company.id, UNTIL, company.timezone)
    sql_seconds = time.perf_counter() - started
    x, tx, T = data.frequency, data.recency, data.age
    print(f"CDNOW master: {len(data):,} customers, {data.repeaters:,} with a repeat purchase "
          f"by {UNTIL}; summaries by SQL in {sql_seconds * 1000:.0f} ms")  # fmt: skip

    product_times, plain_times = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        plain, plain_ll = plain_fit(x, tx, T)
        plain_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        product = fit_bgnbd(x, tx, T, start=START)
        product_times.append(time.perf_counter() - started)
    ours = np.array(product.params.as_tuple())
    print(f"  baseline  Nelder-Mead   best {min(plain_times) * 1000:8.1f} ms  "
          f"r {plain[0]:.4f} alpha {plain[1]:.4f} a {plain[2]:.4f} b {plain[3]:.4f}  LL {plain_ll:.2f}")  # fmt: skip
    print(f"  product   L-BFGS-B+grad best {min(product_times) * 1000:8.1f} ms  "
          f"r {ours[0]:.4f} alpha {ours[1]:.4f} a {ours[2]:.4f} b {ours[3]:.4f}  "
          f"LL {product.log_likelihood:.2f} ({product.iterations} iterations)")  # fmt: skip
    ratio = min(product_times) / min(plain_times)
    same = bool(np.all(np.abs(ours - plain) <= 5e-4 * np.maximum(np.abs(plain), 1)))
    print(f"  ratio product/baseline = {ratio:.3f}  (goal <= {GOAL}: "
          f"{'ok' if ratio <= GOAL else 'OVER GOAL'}); parameters equal to 3 digits: "
          f"{'yes' if same else 'NO'}; LL check {log_likelihood(ours, x, tx, T):.2f}")  # fmt: skip

    closed = _synthetic_leads(5_000, seed=3)
    won = [random.Random(n).random() < 0.3 for n in range(len(closed))]
    model = LeadModel.fit(closed, won)
    rows = _synthetic_leads(args.leads)
    timings = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        scores = model.probabilities(rows)
        timings.append(time.perf_counter() - started)
    print(f"lead score: {args.leads:,} leads scored in best {min(timings) * 1000:.0f} ms "
          f"({min(timings) / args.leads * 1e6:.2f} µs per lead; mean score {scores.mean() * 100:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
