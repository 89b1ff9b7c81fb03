"""Stress P&L of a linear book: historical windows and hypothetical shocks.

Window return of asset i over rows [t, t+N) of the daily returns: prod(1 + r) - 1 (compounded),
P&L_i = value_i * window return. Worst windows are chosen greedily from the lowest total P&L,
skipping windows that overlap one already chosen. A named window covers the returns dated within
[start, end] (the close before start to the close at end).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.risk.compute.market import panel
from engines.risk.models.common import Position
from engines.risk.models.stress import (
    HistoricalStressRequest,
    HistoricalStressResponse,
    HypotheticalResult,
    HypotheticalStressRequest,
    HypotheticalStressResponse,
    PositionPnl,
    StressResult,
)


def _result(name: str, symbols: list[str], w: np.ndarray, growth: np.ndarray, held: set[str], **where) -> StressResult:
    pnl = w * growth
    gross = float(np.abs(w).sum())
    return StressResult(
        name=name, pnl_total=float(pnl.sum()), pnl_pct=float(pnl.sum() / gross) if gross else None,
        positions=[PositionPnl(symbol=s, value=float(w[j]), pnl=float(pnl[j]), shock=float(growth[j]))
                   for j, s in enumerate(symbols) if s in held], **where)


def historical_stress(req: HistoricalStressRequest, ctx: OpContext | None = None) -> HistoricalStressResponse:
    p = panel(req.market, req.positions)
    R = p.require_history("historical stress")
    T, N = R.shape[0], req.window_days
    held = {q.symbol for q in req.positions}
    dates = p.dates
    if N > T:
        raise InvalidInput(f"window of {N} days is longer than the {T} days of history", field="window_days")
    cl = np.vstack([np.zeros(R.shape[1]), np.cumsum(np.log1p(R), axis=0)])
    G = np.expm1(cl[N:] - cl[:-N])  # (T - N + 1, assets): window starting at row t
    totals = G @ p.w
    worst: list[StressResult] = []
    taken: list[int] = []
    for t in np.argsort(totals, kind="stable"):
        if len(worst) >= req.worst_count:
            break
        if totals[t] >= 0:
            break
        if any(abs(int(t) - u) < N for u in taken):
            continue
        taken.append(int(t))
        worst.append(_result(f"worst_{len(worst) + 1}", p.symbols, p.w, G[t], held, start_index=int(t),
                             end_index=int(t) + N - 1, start_date=dates[t] if dates else None,
                             end_date=dates[t + N - 1] if dates else None))
    named = []
    for i, win in enumerate(req.named_windows):
        if dates is None:
            raise InvalidInput("named windows need dated market data", field="market.dates")
        rows = [j for j, d in enumerate(dates) if win.start <= d <= win.end]
        if not rows:
            raise InvalidInput(f"no returns dated between {win.start} and {win.end} (data covers {dates[0]} to "
                               f"{dates[-1]})", field=f"named_windows.{i}")
        g = np.expm1(cl[rows[-1] + 1] - cl[rows[0]])
        named.append(_result(win.name, p.symbols, p.w, g, held, start_index=rows[0], end_index=rows[-1],
                             start_date=dates[rows[0]], end_date=dates[rows[-1]]))
    return HistoricalStressResponse(window_days=N, n_observations=T, worst_windows=worst, named_windows=named)


def _gaussian_var(w: np.ndarray, mu: np.ndarray, cov: np.ndarray, z: float) -> float:
    return float(-(w @ mu) + z * math.sqrt(max(float(w @ cov @ w), 0.0)))


def hypothetical_stress(req: HypotheticalStressRequest, ctx: OpContext | None = None) -> HypotheticalStressResponse:
    symbols = [q.symbol for q in req.positions]
    if len(set(symbols)) != len(symbols):
        raise InvalidInput("each symbol may appear once", field="positions")
    w = np.array([q.value for q in req.positions])
    sectors = [q.sector for q in req.positions]
    betas = np.array([q.beta for q in req.positions])
    z = float(stats.norm.ppf(req.confidence))
    base = None
    if req.market is not None:
        p = panel(req.market, [Position(symbol=q.symbol, value=q.value) for q in req.positions])
        col = {s: j for j, s in enumerate(p.symbols)}
        idx = [col[s] for s in symbols]
        mu, cov = p.mean[idx], p.cov[np.ix_(idx, idx)]
        base = _gaussian_var(w, mu, cov, z)
    out = []
    for k, sc in enumerate(req.scenarios):
        for s in sc.asset_shocks:
            if s not in symbols:
                raise InvalidInput(f"shock for {s}, which is not in the portfolio", field=f"scenarios.{k}.asset_shocks")
        if sc.sector_shocks and any(sec is None for sec in sectors):
            missing = [s for s, sec in zip(symbols, sectors, strict=False) if sec is None]
            raise InvalidInput(f"sector shocks need a sector for every position; unknown for {missing[:5]}",
                               field=f"scenarios.{k}.sector_shocks")
        shock = np.zeros(len(symbols))
        for j, s in enumerate(symbols):
            if s in sc.asset_shocks:
                shock[j] = sc.asset_shocks[s]
            elif sectors[j] in sc.sector_shocks:
                shock[j] = sc.sector_shocks[sectors[j]]
            elif sc.market_shock is not None:
                shock[j] = sc.market_shock * betas[j]
        stressed = None
        if sc.volatility_multiplier != 1.0 or sc.correlation_to_one:
            if base is None:
                raise InvalidInput("volatility and correlation shocks need market data", field="market")
            sd = np.sqrt(np.diag(cov)) * sc.volatility_multiplier
            c2 = np.outer(sd, sd) if sc.correlation_to_one else cov * sc.volatility_multiplier**2
            stressed = _gaussian_var(w, mu, c2, z)
        r = _result(sc.name, symbols, w, shock, set(symbols))
        out.append(HypotheticalResult(**r.model_dump(), var_base=base, var_stressed=stressed))
    return HypotheticalStressResponse(confidence=req.confidence, scenarios=out)
