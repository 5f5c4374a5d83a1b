"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005b, "RFM and CLV";
Colombo & Jiang 1999), on numpy and scipy, for the reason :mod:`crm.insight.bgnbd` gives.

Fitted over customers with at least one repeat transaction, on the number of repeat
transactions ``x`` and their average value ``m``; L-BFGS-B on ``log p, log q, log gamma`` with
the analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

__all__ = ["GammaGammaFit", "GammaGammaParams", "expected_spend", "fit_gamma_gamma"]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.p, self.q, self.gamma)


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float


def log_likelihood(params: GammaGammaParams | ArrayLike, x: ArrayLike, m: ArrayLike) -> float:
    """Sum over customers of log f(m | p, q, gamma, x)."""
    p, q, g = params.as_tuple() if isinstance(params, GammaGammaParams) else params
    x, m = np.asarray(x, float), np.asarray(m, float)
    px = p * x
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + m * x)
    )  # fmt: skip
    return float(np.sum(ll))


def _negative_ll_and_gradient(log_params: Array, x: Array, m: Array) -> tuple[float, Array]:
    p, q, g = np.exp(log_params)
    px = p * x
    log_gmx = np.log(g + m * x)
    ll = log_likelihood((p, q, g), x, m)
    d_p = np.sum(x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_gmx))
    d_q = np.sum(digamma(px + q) - digamma(q) + np.log(g) - log_gmx)
    d_g = np.sum(q / g - (px + q) / (g + m * x))
    return -ll, -np.array([d_p, d_q, d_g]) * np.array([p, q, g])


def fit_gamma_gamma(
    x: ArrayLike, m: ArrayLike, start: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> GammaGammaFit:
    """Maximum-likelihood ``p, q, gamma`` over customers with ``x > 0`` and ``m > 0``."""
    x, m = np.asarray(x, float), np.asarray(m, float)
    keep = (x > 0) & (m > 0)
    result = minimize(
        _negative_ll_and_gradient,
        np.log(np.asarray(start, dtype=float)),
        args=(x[keep], m[keep]),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-8},
    )
    p, q, g = (float(v) for v in np.exp(result.x))
    return GammaGammaFit(GammaGammaParams(p, q, g), -float(result.fun))


def expected_spend(params: GammaGammaParams, x: ArrayLike, m: ArrayLike) -> Array:
    """E[M | x, m]: the customer's expected average spend, shrunk from their own average
    towards the population mean ``p gamma / (q - 1)`` (the population mean for ``x = 0``)."""
    p, q, g = params.as_tuple()
    x, m = np.asarray(x, float), np.asarray(m, float)
    m = np.where(x > 0, m, 0.0)
    return p * (g + x * m) / (p * x + q - 1)
