"""Rebalance planning: holdings + target weights -> orders in lots, with costs and a cash check. Pure.

Steps, all in the account currency:
  NAV = cash + sum q_i p_i; current weight q_i p_i / NAV; drift = max |w_i - t_i|.
  Not triggered (drift under the threshold, or the calendar not due) -> no orders.
  Target quantity t_i NAV / p_i; trade = round((target - q_i) / lot) * lot (without allow_short a sell
  is at most the whole lots held, so an odd-lot remainder stays); trades under min_trade_value are skipped.
  Cost of a trade: |trade| p (commission_bps + half_spread_bps) / 1e4 + fixed_per_order.
  Buys are funded by cash plus sells net of their costs: when they are not, every buy is scaled by
  the same factor and rounded down to its lot, so the cash after trading is never negative.
"""

from __future__ import annotations

import datetime as dt
import math

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.portfolio.models.rebalance import PlannedOrder, RebalancePlan, RebalanceRequest, Skipped

#: Tolerance of "target weights sum to the budget".
BUDGET_TOL = 1e-6


def _trigger(req: RebalanceRequest, drift: float) -> tuple[bool, str]:
    d = req.drift
    reasons = []
    if d.threshold is None and d.calendar_days is None:
        return True, "no trigger configured: always rebalance"
    if d.threshold is not None and drift >= d.threshold:
        reasons.append(f"drift {drift:.4%} >= threshold {d.threshold:.4%}")
    if d.calendar_days is not None and d.last_rebalance is not None:
        as_of = d.as_of or dt.datetime.now(dt.UTC).date()
        days = (as_of - d.last_rebalance).days
        if days >= d.calendar_days:
            reasons.append(f"{days} days since the last rebalance >= {d.calendar_days}")
    if reasons:
        return True, "; ".join(reasons)
    return False, f"not due: drift {drift:.4%}" + (
        f" under threshold {d.threshold:.4%}" if d.threshold is not None else "") + (
        " and calendar not due" if d.calendar_days is not None else "")


def _cost(req: RebalanceRequest, notional: float) -> float:
    c = req.costs
    return abs(notional) * (c.commission_bps + c.half_spread_bps) * 1e-4 + c.fixed_per_order


def plan(req: RebalanceRequest, ctx: OpContext | None = None) -> RebalancePlan:
    total = math.fsum(req.target_weights.values())
    if abs(total - req.budget) > BUDGET_TOL:
        raise InvalidInput(f"target weights sum to {total:.8g}, not the budget {req.budget}", field="target_weights")
    if not req.allow_short and any(w < 0 for w in req.target_weights.values()):
        s = next(k for k, w in req.target_weights.items() if w < 0)
        raise InvalidInput(f"negative target for {s} needs allow_short", field=f"target_weights.{s}")
    held = {h.symbol: h.qty for h in req.holdings or []}
    if len(held) != len(req.holdings or []):
        raise InvalidInput("a symbol appears twice", field="holdings")
    symbols = sorted(set(held) | set(req.target_weights))
    prices = req.prices or {}
    missing = [s for s in symbols if s not in prices]
    if missing:
        raise InvalidInput(f"no price for {missing[:10]}", field="prices")
    lots = req.lot_sizes or {}
    cash = float(req.cash or 0.0)
    nav = cash + math.fsum(held.get(s, 0.0) * prices[s] for s in symbols)
    if nav <= 0:
        raise InvalidInput(f"net asset value is {nav:.2f}; nothing to allocate", field="cash")
    cur_w = {s: held.get(s, 0.0) * prices[s] / nav for s in symbols}
    tgt_w = {s: float(req.target_weights.get(s, 0.0)) for s in symbols}
    drift = max(abs(cur_w[s] - tgt_w[s]) for s in symbols)
    triggered, reason = _trigger(req, drift)

    trades: dict[str, float] = {}
    skipped: list[Skipped] = []
    if triggered:
        for s in symbols:
            lot = float(lots.get(s, 1.0))
            raw = tgt_w[s] * nav / prices[s] - held.get(s, 0.0)
            q = round(raw / lot) * lot
            if q < 0 and not req.allow_short:  # sell at most the whole lots held (the trading core takes lots only)
                q = max(q, -math.floor(max(held.get(s, 0.0), 0.0) / lot) * lot)
            if q == 0:
                if raw != 0:
                    skipped.append(Skipped(symbol=s, reason=f"trade of {raw:.6g} rounds to 0 lots of {lot:g}"))
                continue
            if abs(q) * prices[s] < req.min_trade_value:
                skipped.append(Skipped(symbol=s, reason=f"notional {abs(q) * prices[s]:.2f} under min_trade_value"))
                continue
            trades[s] = q
        _fund_buys(req, trades, held, prices, lots, cash)

    orders = []
    for s in sorted(trades, key=lambda k: (trades[k] > 0, k)):  # sells first
        q = trades[s]
        notional = abs(q) * prices[s]
        post = held.get(s, 0.0) + q
        orders.append(PlannedOrder(
            symbol=s, side="buy" if q > 0 else "sell", qty=abs(q), price=prices[s], notional=notional,
            estimated_cost=_cost(req, notional), current_qty=held.get(s, 0.0), target_qty=tgt_w[s] * nav / prices[s],
            current_weight=cur_w[s], target_weight=tgt_w[s], post_trade_weight=post * prices[s] / nav))
    buy = math.fsum(o.notional for o in orders if o.side == "buy")
    sell = math.fsum(o.notional for o in orders if o.side == "sell")
    cost = math.fsum(o.estimated_cost for o in orders)
    cash_after = cash - buy + sell - cost
    post_w = {s: (held.get(s, 0.0) + trades.get(s, 0.0)) * prices[s] / nav for s in symbols}
    return RebalancePlan(
        triggered=triggered, reason=reason, nav=nav, max_drift=drift, orders=orders, skipped=skipped,
        total_buy=buy, total_sell=sell, turnover=(buy + sell) / nav, estimated_cost=cost, cash_after=cash_after,
        residual_max_drift=max(abs(post_w[s] - tgt_w[s]) for s in symbols))


def _fund_buys(req: RebalanceRequest, trades: dict[str, float], held: dict[str, float], prices: dict[str, float],
               lots: dict[str, float], cash: float) -> None:
    """Scale buys down (to whole lots) until cash + sells - buys - costs >= 0. Mutates ``trades``."""
    def cash_after() -> float:
        return cash - math.fsum(q * prices[s] + _cost(req, q * prices[s]) for s, q in trades.items())

    buys = [s for s, q in trades.items() if q > 0]
    if not buys or cash_after() >= 0:
        return
    sells_net = cash - math.fsum(q * prices[s] + _cost(req, q * prices[s]) for s, q in trades.items() if q < 0)
    need = math.fsum(trades[s] * prices[s] + _cost(req, trades[s] * prices[s]) for s in buys)
    scale = max(sells_net, 0.0) / need if need > 0 else 0.0
    for s in buys:
        lot = float(lots.get(s, 1.0))
        trades[s] = math.floor(trades[s] * scale / lot) * lot
    # a fixed cost per order can still leave a small deficit: drop lots from the largest buy
    for _ in range(10_000):
        if cash_after() >= 0:
            break
        s = max((k for k in buys if trades[k] > 0), key=lambda k: trades[k] * prices[k], default=None)
        if s is None:
            break
        trades[s] -= float(lots.get(s, 1.0))
    for s in buys:
        if trades[s] <= 0:
            del trades[s]
