"""Vectorised backtest of signal strategies: many parameter sets at once, in torch (CPU or GPU).

For a ``SignalStrategy`` (long-only, all-in, entries and exits decided on each bar's close) the whole
run is array arithmetic, with the same conventions as the event-driven backtest:

- state s_t: 1 after an entry-only bar, 0 after an exit-only bar, unchanged otherwise (a bar with both,
  or an entry while long, does nothing); position p_t = s_t when fills happen at the signal bar's close,
  p_t = s_{t-1} when they happen at the next bar's open;
- an entry at bar t buys at X_t + s with all the cash net of the taker fee (X = close or open, s = the
  half-spread of the event-driven quotes: ``slippage_ticks`` x tick, at least 1e-8); an exit sells at
  X_t - s and pays the fee;
- log equity grows by  held_t * log(c_t / c_{t-1})  +  entry_t * log(c_t / ((X_t + s)(1 + f)))
  +  exit_t * log((X_t - s)(1 - f) / c_{t-1}),  held_t = p_{t-1} p_t.

Quantities are fractional (the event-driven run's lot size is the only difference, tested to agree to
1e-6 relative with a 1e-6 lot). ``fraction`` must be 1: a part-invested account does not compound
multiplicatively, so it is the event-driven engine's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from backend.core.errors import InvalidInput
from engines.strategy.api import Strategy
from engines.strategy.backtest import MIN_HALF_SPREAD, BacktestConfig, BarData
from engines.strategy.results import BacktestResult, metrics


def positions(entries: torch.Tensor, exits: torch.Tensor, next_open: bool) -> torch.Tensor:
    """(P, T) bool entries/exits -> (P, T) bool position held after each bar's fills."""
    sig = entries.to(torch.int8) - exits.to(torch.int8)
    P, T = sig.shape
    ar = torch.arange(T, device=sig.device).expand(P, T)
    idx = torch.where(sig != 0, ar, torch.full_like(ar, -1))
    last = torch.cummax(idx, dim=1).values
    state = (torch.gather(sig, 1, last.clamp(min=0)) == 1) & (last >= 0)
    if next_open:
        state = torch.cat([torch.zeros((P, 1), dtype=torch.bool, device=sig.device), state[:, :-1]], dim=1)
    return state


def simulate(close: np.ndarray, exec_px: np.ndarray, entries: np.ndarray, exits: np.ndarray, cfg: BacktestConfig,
             device: str = "cpu") -> dict[str, np.ndarray]:
    """Equity (P, T) and the position (P, T) of each parameter set's signals (see the module docstring)."""
    dev = torch.device(device)
    c = torch.as_tensor(np.array(close, dtype=np.float64), device=dev)
    x = torch.as_tensor(np.array(exec_px, dtype=np.float64), device=dev)
    e = torch.as_tensor(np.atleast_2d(entries), dtype=torch.bool, device=dev)
    q = torch.as_tensor(np.atleast_2d(exits), dtype=torch.bool, device=dev)
    p = positions(e, q, cfg.fill_at == "next_open")
    prev = torch.cat([torch.zeros_like(p[:, :1]), p[:, :-1]], dim=1)
    entry, exit_, held = p & ~prev, prev & ~p, p & prev
    s = max(cfg.slippage_ticks * cfg.tick_size, MIN_HALF_SPREAD)
    f = cfg.taker_fee_bps * 1e-4
    c_prev = torch.cat([c[:1], c[:-1]])
    lr = torch.log(c / c_prev)
    buy = torch.log(c / ((x + s) * (1.0 + f)))
    sell = torch.log((x - s) * (1.0 - f) / c_prev)
    zero = torch.zeros((), dtype=torch.float64, device=dev)
    growth = torch.where(held, lr, zero) + torch.where(entry, buy, zero) + torch.where(exit_, sell, zero)
    equity = cfg.initial_cash * torch.exp(torch.cumsum(growth, dim=1))
    return {"equity": equity.cpu().numpy(), "position": p.cpu().numpy(), "entry": entry.cpu().numpy(),
            "exit": exit_.cpu().numpy()}


def _exec_prices(bars: BarData, cfg: BacktestConfig) -> np.ndarray:
    return bars.open if cfg.fill_at == "next_open" else bars.close


def check_vectorisable(cls: type[Strategy], params: Mapping[str, Any]) -> None:
    if not cls.vectorised:
        raise InvalidInput(f"{cls.__name__} gives no vectorised signals; use the event-driven backtest",
                           field="strategy")
    if params.get("fraction", 1.0) != 1.0:
        raise InvalidInput("the vectorised backtest is all-in: fraction must be 1", field="params.fraction")


def signal_matrix(cls: type[Strategy], bars: BarData, param_sets: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """(P, T) entries and exits of each parameter set (each resolved and range-checked)."""
    m = bars.as_mapping()
    ent, ex = [], []
    for ps in param_sets:
        resolved = cls.resolve(ps)
        check_vectorisable(cls, resolved)
        a, b = cls.signals(m, resolved)
        ent.append(a)
        ex.append(b)
    return np.asarray(ent, dtype=bool), np.asarray(ex, dtype=bool)


def run_vector(cls: type[Strategy], params: Mapping[str, Any], bars: BarData, cfg: BacktestConfig | None = None,
               device: str = "cpu", symbol: str = "") -> BacktestResult:
    """One vectorised run with the same result shape as the event-driven one (orders and fills omitted)."""
    cfg = cfg or BacktestConfig()
    ent, ex = signal_matrix(cls, bars, [params])
    out = simulate(bars.close, _exec_prices(bars, cfg), ent, ex, cfg, device)
    eq = out["equity"][0]
    trades = trades_of(bars, cfg, out["entry"][0], out["exit"][0], eq, symbol)
    expo = out["position"][0].astype(np.float64)  # all-in: exposure is 1 while long (before fees)
    fees = sum(t["fees"] for t in trades)
    m = metrics(bars.ts, eq, expo, trades, cfg.initial_cash, cfg.periods_per_year, fees)
    return BacktestResult(ts=bars.ts, equity=eq, exposure=expo, trades=trades, metrics=m)


def trades_of(bars: BarData, cfg: BacktestConfig, entry: np.ndarray, exit_: np.ndarray, equity: np.ndarray,
              symbol: str = "") -> list[dict[str, Any]]:
    """Round trips of one parameter set, in the event-driven result's format."""
    x = _exec_prices(bars, cfg)
    s = max(cfg.slippage_ticks * cfg.tick_size, MIN_HALF_SPREAD)
    f = cfg.taker_fee_bps * 1e-4
    ins, outs = np.flatnonzero(entry), np.flatnonzero(exit_)
    trades = []
    for k, i in enumerate(ins):
        cash = equity[i - 1] if i > 0 else cfg.initial_cash
        px_in = float(x[i] + s)
        qty = float(cash / (px_in * (1 + f)))
        fee_in = qty * px_in * f
        j = int(outs[k]) if k < outs.size else None
        px_out = float(x[j] - s) if j is not None else None
        fee_out = qty * px_out * f if px_out is not None else 0.0
        pnl = qty * (px_out - px_in) - fee_in - fee_out if px_out is not None else None
        trades.append({"symbol": symbol, "direction": "long", "entry_ts_ns": int(bars.ts[i]),
                       "exit_ts_ns": int(bars.ts[j]) if j is not None else None, "qty": qty, "entry_price": px_in,
                       "exit_price": px_out, "fees": fee_in + fee_out, "pnl": pnl,
                       "return": pnl / (qty * px_in) if pnl is not None else None, "open": j is None})
    return trades
