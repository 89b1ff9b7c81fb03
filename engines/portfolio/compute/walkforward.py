"""Walk-forward evaluation: re-optimise every N rows on the last L rows, apply costs, compare. Pure.

Rows t = L .. T-1 are evaluated. At each rebalance row t_k = L + kN the policy is fitted on rows
[t_k - L, t_k) only (no look-ahead) and its weights hold from row t_k on. A strategy's return on
row t is w_t·R_t minus, on a rebalance row, cost_bps/1e4 · sum|target - w_t^-| (the drifted weights
just before; zero weights before the first). With ``drift`` the weights then move with prices:
w_{t+1} = w_t (1 + R_t) / (1 + w_t·R_t). Equal weight and 60/40 run on the same rows, schedule and
costs; every result is summarised by the analytics engine's ``performance`` (one definition of Sharpe).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest
from engines.portfolio.compute.optimize import solve
from engines.portfolio.compute.problem import Problem, load_problem
from engines.portfolio.models.walkforward import (
    MAX_REBALANCES,
    Rebalance,
    StrategyResult,
    WalkForwardRequest,
    WalkForwardResponse,
)


def _run(name: str, cols: list[int], symbols: list[str], R: np.ndarray, start: int, every: int, cost: float,
         drift: bool, target: Callable[[int], np.ndarray], dates: list | None) -> tuple[np.ndarray, list[Rebalance],
                                                                                     float]:
    T = R.shape[0]
    sub = R[:, cols]
    w = np.zeros(len(cols))
    out = np.empty(T - start)
    rebalances: list[Rebalance] = []
    total_cost = 0.0
    for t in range(start, T):
        c = 0.0
        if (t - start) % every == 0:
            new = target(t)
            turnover = float(np.abs(new - w).sum())
            c = cost * turnover
            total_cost += c
            w = new
            rebalances.append(Rebalance(index=t, date=dates[t] if dates else None, weights=new.tolist(),
                                        turnover=turnover))
        gross = float(w @ sub[t])
        out[t - start] = gross - c
        if drift:
            w = w * (1.0 + sub[t]) / (1.0 + gross) if 1.0 + gross > 0 else w
    return out, rebalances, total_cost


def evaluate(req: WalkForwardRequest, ctx: OpContext | None = None) -> WalkForwardResponse:
    problem = load_problem(req.market)
    X = problem.need_returns("walk-forward evaluation")
    R = X.to_numpy()
    T, L, N = R.shape[0], req.lookback_days, req.rebalance_every_days
    if T <= L:
        raise InvalidInput(f"{T} return rows leave nothing after a look-back of {L}", field="lookback_days")
    n_reb = -(-(T - L) // N)
    if n_reb > MAX_REBALANCES:
        raise InvalidInput(f"{n_reb} rebalances; at most {MAX_REBALANCES} (raise rebalance_every_days)",
                           field="rebalance_every_days")
    syms = problem.symbols
    pol = list(req.policy_symbols or syms)
    unknown = [s for s in pol if s not in syms]
    if unknown:
        raise InvalidInput(f"not in the market data: {unknown[:10]}", field="policy_symbols")
    cols = [syms.index(s) for s in pol]
    given = req.market.dates
    dates = list(given[-T:]) if given and len(given) >= T else None
    cost = req.cost_bps * 1e-4
    spec = req.policy.model_copy(update={"periods_per_year": req.periods_per_year,
                                         "risk_free_rate": req.risk_free_rate})

    def policy(t: int) -> np.ndarray:
        window = Problem(pol, X.iloc[t - L:t, cols], None, None)
        return solve(spec, window).weights

    runs = [("policy", cols, pol, policy),
            ("equal_weight", cols, pol, lambda t: np.full(len(cols), 1.0 / len(cols)))]
    if req.sixty_forty is not None:
        legs = [req.sixty_forty.equity, req.sixty_forty.bond]
        missing = [s for s in legs if s not in syms]
        if missing:
            raise InvalidInput(f"not in the market data: {missing}", field="sixty_forty")
        runs.append(("sixty_forty", [syms.index(s) for s in legs], legs, lambda t: np.array([0.6, 0.4])))
    strategies = []
    for name, c, names, fn in runs:
        r, rebalances, total = _run(name, c, names, R, L, N, cost, req.drift, fn, dates)
        perf = performance(PerformanceRequest(
            returns=r.tolist(), dates=dates[L:] if dates else None, periods_per_year=req.periods_per_year,
            risk_free_rate=req.risk_free_rate))
        strategies.append(StrategyResult(
            name=name, symbols=names, returns=r.tolist(), performance=perf, total_cost=total,
            average_turnover=float(np.mean([x.turnover for x in rebalances])), rebalances=rebalances))
    return WalkForwardResponse(dates=dates[L:] if dates else None, n_rebalances=n_reb, strategies=strategies)
