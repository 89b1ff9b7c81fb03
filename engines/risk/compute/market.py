"""Inline market data -> aligned numpy arrays; covariance checks and the nearest-PSD repair.

A ``Panel`` holds what the risk formulas need for one portfolio: the exposure vector
``w`` (currency, one per column) and either a return history ``R`` (T x N, simple daily
returns) or a parametric ``mean``/``cov`` (daily). Positions are aligned to the market
data's columns by symbol; a position whose symbol has no column is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from backend.contract.arrays import as_matrix
from backend.core.errors import InvalidInput
from engines.risk.models.common import MarketData, Position

#: Relative eigenvalue tolerance below which a covariance counts as not PSD.
PSD_RTOL = 1e-10


@dataclass(frozen=True)
class Panel:
    symbols: list[str]
    w: np.ndarray  # (N,) exposures in currency
    R: np.ndarray | None  # (T, N) simple returns, or None for a parametric input
    dates: list[dt.date] | None  # one per row of R
    mean: np.ndarray  # (N,) daily mean return
    cov: np.ndarray  # (N, N) daily covariance
    cov_repaired: bool = False
    cov_repair_distance: float = 0.0

    @property
    def has_history(self) -> bool:
        return self.R is not None

    def require_history(self, why: str) -> np.ndarray:
        if self.R is None:
            raise InvalidInput(f"{why} needs a return history (returns, prices or a reference), not a covariance",
                               field="market")
        return self.R


def returns_from_prices(P: np.ndarray, field: str) -> np.ndarray:
    if (P <= 0).any():
        i, j = np.argwhere(P <= 0)[0]
        raise InvalidInput("prices must be > 0", field=f"{field}.{i}.{j}")
    return P[1:] / P[:-1] - 1.0


def nearest_psd(A: np.ndarray) -> np.ndarray:
    """Nearest symmetric PSD matrix in the Frobenius norm (Higham 1988): clip eigenvalues at 0."""
    B = 0.5 * (A + A.T)
    vals, vecs = np.linalg.eigh(B)
    floor = max(float(vals.max()), 0.0) * 1e-12
    return (vecs * np.maximum(vals, floor)) @ vecs.T


def check_covariance(C: np.ndarray, repair: bool, field: str = "market.covariance") -> tuple[np.ndarray, bool, float]:
    """(covariance, repaired?, Frobenius distance moved). Not symmetric or not PSD -> 422 unless repair."""
    asym = float(np.max(np.abs(C - C.T))) if C.size else 0.0
    scale = max(float(np.max(np.abs(C))), 1e-300)
    bad_sym = asym > 1e-9 * scale
    sym = 0.5 * (C + C.T)
    if not bad_sym:
        try:  # a Cholesky factor exists only for a positive definite matrix: a few times cheaper than eigenvalues
            np.linalg.cholesky(sym)
            return sym, False, 0.0
        except np.linalg.LinAlgError:
            pass  # singular or indefinite: the eigenvalues decide, within PSD_RTOL
    vals = np.linalg.eigvalsh(sym)
    bad_psd = float(vals.min()) < -PSD_RTOL * max(float(vals.max()), 0.0) or vals.max() <= 0
    if not (bad_sym or bad_psd):
        return sym, False, 0.0
    if not repair:
        what = "not symmetric" if bad_sym else f"not positive semi-definite (smallest eigenvalue {vals.min():.3g})"
        raise InvalidInput(f"covariance is {what}; set market.repair_covariance=true to use the nearest "
                           "positive semi-definite matrix", field=field)
    fixed = nearest_psd(C)
    return fixed, True, float(np.linalg.norm(fixed - C))


def panel(market: MarketData, positions: list[Position]) -> Panel:
    """Align positions to inline market data. References must be resolved before (engines.risk.data)."""
    if positions is None:
        raise InvalidInput("positions by account reference need the database; they were not resolved "
                           "(call through the risk engine or the gateway)", field="account")
    if market.is_reference:
        raise InvalidInput("market data by reference needs the database; it was not resolved", field="market")
    if market.symbols is None:
        raise InvalidInput("inline market data needs symbols naming its columns", field="market.symbols")
    symbols = list(market.symbols)
    if len(set(symbols)) != len(symbols):
        raise InvalidInput("symbols must be unique", field="market.symbols")
    col = {s: j for j, s in enumerate(symbols)}
    w = np.zeros(len(symbols))
    seen: set[str] = set()
    for i, p in enumerate(positions):
        if p.symbol in seen:
            raise InvalidInput(f"symbol {p.symbol} appears twice", field=f"positions.{i}.symbol")
        seen.add(p.symbol)
        if p.symbol not in col:
            raise InvalidInput(f"unknown symbol {p.symbol}: not among market.symbols", field=f"positions.{i}.symbol")
        w[col[p.symbol]] = p.value

    n = len(symbols)
    dates = list(market.dates) if market.dates is not None else None
    if market.covariance is not None:
        C = as_matrix(market.covariance, "market.covariance")
        if C.shape != (n, n):
            raise InvalidInput(f"covariance is {C.shape[0]}x{C.shape[1]}, expected {n}x{n}", field="market.covariance")
        mu = np.zeros(n) if market.mean is None else np.asarray(market.mean, dtype=np.float64)
        if mu.shape != (n,):
            raise InvalidInput(f"mean has {mu.size} values, expected {n}", field="market.mean")
        C, repaired, dist = check_covariance(C, market.repair_covariance)
        return Panel(symbols, w, None, None, mu, C, repaired, dist)

    field = "market.returns" if market.returns is not None else "market.prices"
    M = as_matrix(market.returns if market.returns is not None else market.prices, field, min_rows=2)
    if M.shape[1] != n:
        raise InvalidInput(f"{M.shape[1]} columns but {n} symbols", field=field)
    if market.prices is not None:
        if dates is not None and len(dates) != M.shape[0]:
            raise InvalidInput(f"needs {M.shape[0]} dates (one per price row), got {len(dates)}", field="market.dates")
        R = returns_from_prices(M, field)
        dates = dates[1:] if dates is not None else None
    else:
        R = M
        if (R <= -1.0).any():
            i, j = np.argwhere(R <= -1.0)[0]
            raise InvalidInput("a return must be > -1", field=f"{field}.{i}.{j}")
        if dates is not None and len(dates) != R.shape[0]:
            raise InvalidInput(f"needs {R.shape[0]} dates (one per return row), got {len(dates)}", field="market.dates")
    if R.shape[0] < 2:
        raise InvalidInput("needs at least 2 return periods", field=field)
    if dates is not None and any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
        raise InvalidInput("dates must be strictly increasing", field="market.dates")
    return Panel(symbols, w, R, dates, R.mean(axis=0), np.atleast_2d(np.cov(R, rowvar=False, ddof=1)))


def factor(C: np.ndarray) -> np.ndarray:
    """A matrix L with L @ L.T == C: Cholesky, or the eigen square root when C is only semi-definite."""
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(C)
        return vecs * np.sqrt(np.maximum(vals, 0.0))
