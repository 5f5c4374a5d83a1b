"""The BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005, "Counting your customers
the easy way"), on numpy and scipy.

Written here rather than taken from the ``lifetimes`` package, which is no longer maintained
and pins old pandas/scipy. The likelihood is vectorised over customers; customers with the
same ``(x, t_x, T)`` are fitted once with a weight, because many share a history (every
customer who never came back and started on the same day). The fit runs L-BFGS-B on the
logarithms of ``r, alpha, a, b`` (so they stay positive without bounds) with the analytic
gradient, which needs a few dozen likelihood evaluations where a derivative-free simplex needs
hundreds.

Time is in weeks throughout, as in the papers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1

__all__ = [
    "BGNBDFit",
    "BGNBDParams",
    "compress",
    "conditional_expected",
    "fit_bgnbd",
    "log_likelihood",
    "p_alive",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


def compress(*columns: ArrayLike) -> tuple[list[Array], Array]:
    """Unique rows of the given columns and how often each occurs: the likelihood of a group
    of identical customers is the one customer's times the count."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(float)


def _terms(
    params: Array, x: Array, tx: Array, T: Array
) -> tuple[Array, Array, Array, Array, Array]:
    """Per customer: A1 + A2, the two exponents of the bracket (A3, A4) and their log-sum."""
    r, alpha, a, b = params
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    # A4 exists only for customers who repeated; elsewhere it is log(0)
    a4 = np.full_like(x, -np.inf)
    xs = x[repeat]
    a4[repeat] = np.log(a) - np.log(b + xs - 1) - (r + xs) * np.log(alpha + tx[repeat])
    return a1, a2, a3, a4, np.logaddexp(a3, a4)


def log_likelihood(
    params: BGNBDParams | ArrayLike,
    x: ArrayLike,
    tx: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """The sample log-likelihood (equation 6 of the paper, summed over customers)."""
    p = np.asarray(params.as_tuple() if isinstance(params, BGNBDParams) else params, float)
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    a1, a2, _, _, lse = _terms(p, x, tx, T)
    return float(np.sum(w * (a1 + a2 + lse)))


def _negative_ll_and_gradient(
    log_params: Array, x: Array, tx: Array, T: Array, w: Array
) -> tuple[float, Array]:
    """−LL and its gradient with respect to the log-parameters (chain rule: d/dlog p = p d/dp)."""
    params = np.exp(log_params)
    r, alpha, a, b = params
    a1, a2, a3, a4, lse = _terms(params, x, tx, T)
    w3 = np.exp(a3 - lse)  # the share of each bracket term, for the derivative of the log-sum
    w4 = np.exp(a4 - lse)
    repeat = x > 0
    log_alpha_t = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + tx)
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * log_alpha_t - w4 * log_alpha_tx
    d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + tx)
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / b_x1
    grad = np.array([np.dot(w, d) for d in (d_r, d_alpha, d_a, d_b)]) * params
    return -float(np.dot(w, a1 + a2 + lse)), -grad


@dataclass(frozen=True)
class BGNBDFit:
    params: BGNBDParams
    log_likelihood: float
    iterations: int


def fit_bgnbd(
    x: ArrayLike,
    tx: ArrayLike,
    T: ArrayLike,
    start: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
) -> BGNBDFit:
    """Maximum-likelihood ``r, alpha, a, b`` by L-BFGS-B on their logarithms."""
    (xu, txu, tu), w = compress(x, tx, T)
    result = minimize(
        _negative_ll_and_gradient,
        np.log(np.asarray(start, dtype=float)),
        args=(xu, txu, tu, w),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8},
    )
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return BGNBDFit(BGNBDParams(r, alpha, a, b), -float(result.fun), int(result.nit))


def p_alive(params: BGNBDParams, x: ArrayLike, tx: ArrayLike, T: ArrayLike) -> Array:
    """P(still active | x, t_x, T) (equation 11): 1 for a customer who never repeated."""
    r, alpha, a, b = params.as_tuple()
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    repeat = x > 0
    ratio = np.zeros_like(x)
    xs = x[repeat]
    log_ratio = (
        np.log(a)
        - np.log(b + xs - 1)
        + (r + xs) * (np.log(alpha + T[repeat]) - np.log(alpha + tx[repeat]))
    )
    ratio[repeat] = np.exp(log_ratio)
    return 1.0 / (1.0 + ratio)


def conditional_expected(
    params: BGNBDParams, t: float | ArrayLike, x: ArrayLike, tx: ArrayLike, T: ArrayLike
) -> Array:
    """E[Y(t) | x, t_x, T], the purchases expected in the next ``t`` weeks (equation 10)."""
    r, alpha, a, b = params.as_tuple()
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    t = np.asarray(t, dtype=float)
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp2f1(
        r + x, b + x, a + b + x - 1, z
    )
    return head * tail * p_alive(params, x, tx, T)
