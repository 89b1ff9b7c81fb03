"""A backtest's results: round-trip trades from fills, the equity curve, and performance metrics.

Performance comes from the analytics engine's ``performance`` (one definition of Sharpe, drawdown,
CAGR, ... in the codebase), computed on the equity curve (one point per bar, at its close). Trade
statistics are computed here from round trips: a round trip opens when a symbol's position leaves
zero and closes when it returns to zero (a fill through zero closes one and opens the next); its P&L
is the cash it moved, net of fees, and its return that P&L over its entry notional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest

EPS = 1e-9


@dataclass
class BacktestResult:
    ts: np.ndarray  # int64 ns, one per equity point
    equity: np.ndarray
    exposure: np.ndarray  # gross exposure / equity
    trades: list[dict[str, Any]]
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return self.metrics


def round_trips(fills: list[tuple[str, int, float, float, float]]) -> list[dict[str, Any]]:
    """Round trips from fills (symbol, ts_ns, signed qty, price, fee), in execution order."""
    open_: dict[str, dict[str, Any]] = {}
    pos: dict[str, float] = {}
    out: list[dict[str, Any]] = []
    for sym, ts, q, px, fee in fills:
        while abs(q) > EPS:
            p = pos.get(sym, 0.0)
            t = open_.get(sym)
            if t is None:
                t = open_[sym] = {"symbol": sym, "direction": "long" if q > 0 else "short", "entry_ts_ns": ts,
                                  "qty": 0.0, "entry_value": 0.0, "exit_value": 0.0, "exit_qty": 0.0, "fees": 0.0,
                                  "fills": 0}
            same = (p >= 0) == (q > 0) if abs(p) > EPS else True
            part = q if same else math.copysign(min(abs(q), abs(p)), q)
            share = abs(part / q) if q else 1.0
            t["fees"] += fee * share
            t["fills"] += 1
            if same:
                t["qty"] += abs(part)
                t["entry_value"] += abs(part) * px
            else:
                t["exit_qty"] += abs(part)
                t["exit_value"] += abs(part) * px
            pos[sym] = p + part
            fee -= fee * share
            q -= part
            if abs(pos[sym]) <= EPS:
                pos[sym] = 0.0
                out.append(_closed(open_.pop(sym), ts))
    for t in open_.values():
        out.append(_closed(t, None))
    return out


def _closed(t: dict[str, Any], exit_ts: int | None) -> dict[str, Any]:
    sign = 1.0 if t["direction"] == "long" else -1.0
    entry_px = t["entry_value"] / t["qty"] if t["qty"] else 0.0
    exit_px = t["exit_value"] / t["exit_qty"] if t["exit_qty"] else None
    closed = exit_ts is not None
    pnl = sign * (t["exit_value"] - entry_px * t["exit_qty"]) - t["fees"] if closed else None
    return {"symbol": t["symbol"], "direction": t["direction"], "entry_ts_ns": t["entry_ts_ns"], "exit_ts_ns": exit_ts,
            "qty": t["qty"], "entry_price": entry_px, "exit_price": exit_px, "fees": t["fees"], "pnl": pnl,
            "return": pnl / t["entry_value"] if closed and t["entry_value"] else None, "open": not closed}


def metrics(ts: np.ndarray, equity: np.ndarray, exposure: np.ndarray, trades: list[dict[str, Any]],
            initial_cash: float, periods_per_year: int, fees: float) -> dict[str, Any]:
    """Summary metrics: the analytics engine's performance on the equity curve plus trade statistics."""
    if equity.size < 2:
        raise InvalidInput("a backtest needs at least 2 bars", field="start")
    if (equity <= 0).any():
        perf: dict[str, Any] = {"note": "equity reached zero or below: return-based metrics are undefined"}
    else:
        p = performance(PerformanceRequest(equity=equity, periods_per_year=periods_per_year))
        perf = {"total_return": p.total_return, "cagr": p.cagr, "annualized_volatility": p.annualized_volatility,
                "sharpe": p.sharpe, "sortino": p.sortino, "calmar": p.calmar,
                "max_drawdown": p.drawdown.max_drawdown, "max_drawdown_duration_bars": p.drawdown.duration_periods}
    closed = [t for t in trades if not t["open"]]
    wins = [t["pnl"] for t in closed if t["pnl"] > 0]
    losses = [t["pnl"] for t in closed if t["pnl"] <= 0]
    out = perf | {
        "initial_cash": initial_cash, "final_value": float(equity[-1]), "bars": int(equity.size),
        "start_ts_ns": int(ts[0]), "end_ts_ns": int(ts[-1]),
        "trade_count": len(trades), "closed_trades": len(closed),
        "win_rate": len(wins) / len(closed) if closed else None,
        "profit_factor": (sum(wins) / -sum(losses)) if losses and sum(losses) < 0 else None,
        "avg_trade_return": float(np.mean([t["return"] for t in closed])) if closed else None,
        "exposure_mean": float(np.mean(exposure)), "fees": fees,
    }
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in out.items()}


def summarise(run: Any, ts: np.ndarray, equity: np.ndarray, exposure: np.ndarray) -> BacktestResult:
    """The result of an ``EventBacktest`` that has run."""
    fills = run.fills
    trades = round_trips([(f.symbol, f.ts_ns, f.side.sign * f.qty, f.price, f.fee) for f in fills])
    with np.errstate(divide="ignore", invalid="ignore"):
        expo = np.where(equity > 0, exposure / equity, np.nan)
    fees = float(sum(f.fee for f in fills))
    m = metrics(ts, equity, np.nan_to_num(expo), trades, run.cfg.initial_cash, run.cfg.periods_per_year, fees)
    orders = [{"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value, "type": o.type.value,
               "qty": o.qty, "limit_price": o.limit_price, "stop_price": o.stop_price, "status": o.status.value,
               "filled_qty": o.filled_qty, "avg_fill_price": o.avg_fill_price, "fees": o.fees, "reason": o.reason,
               "created_ts_ns": o.created_ns, "updated_ts_ns": o.updated_ns} for o in run.all_orders.values()]
    return BacktestResult(ts=ts, equity=equity, exposure=np.nan_to_num(expo), trades=trades, orders=orders,
                          fills=[f.as_dict() for f in fills], metrics=m, logs=list(run.ctx._logbuf.lines),
                          state=dict(run.ctx.state))
