"""Evaluate a limit set against a portfolio snapshot: each limit's value, utilisation and status.

utilisation = value / threshold; status 'breach' when utilisation > 1, 'warning' when it is at least
the limit's warning_fraction, else 'ok'. An input a limit needs but the snapshot lacks is a 422 naming it
(a limit never passes silently for want of data). Definitions of the values: models.limits.LimitType.
"""

from __future__ import annotations

import numpy as np

from backend.core.errors import InvalidInput
from engines.analytics.compute import drawdown_stats
from engines.risk.compute.market import panel
from engines.risk.compute.tail import var_cvar
from engines.risk.models.common import Position
from engines.risk.models.limits import Limit, LimitStatus, LimitType, PortfolioSnapshot

DEFAULT_CONFIDENCE = 0.99


def _need(ok: bool, what: str, field: str, lim: Limit) -> None:
    if not ok:
        raise InvalidInput(f"limit {lim.id} ({lim.limit_type.value}) needs {what}", field=field)


def _scoped(values: dict[str, float], lim: Limit) -> tuple[float, str]:
    if lim.scope is not None:
        return abs(values.get(lim.scope, 0.0)), lim.scope
    if not values:
        return 0.0, ""
    key = max(values, key=lambda k: abs(values[k]))
    return abs(values[key]), key


def limit_value(lim: Limit, snap: PortfolioSnapshot) -> tuple[float, str]:
    """(value, detail) of one limit for the snapshot."""
    pos = snap.positions
    v = np.array([p.value for p in pos])
    gross = float(np.abs(v).sum())
    t = lim.limit_type
    if t is LimitType.gross_exposure:
        return gross, "sum |value|"
    if t is LimitType.net_exposure:
        return abs(float(v.sum())), "|sum value|"
    if t in (LimitType.leverage, LimitType.single_name_concentration, LimitType.sector_concentration):
        _need(snap.equity is not None, "portfolio equity", "portfolio.equity", lim)
        if t is LimitType.leverage:
            return gross / snap.equity, "gross / equity"
        if t is LimitType.single_name_concentration:
            val, key = _scoped({p.symbol: abs(p.value) for p in pos}, lim)
            return val / snap.equity, f"|value of {key}| / equity"
        sectors: dict[str, float] = {}
        for i, p in enumerate(pos):
            _need(p.sector is not None, f"a sector for {p.symbol}", f"portfolio.positions.{i}.sector", lim)
            sectors[p.sector] = sectors.get(p.sector, 0.0) + abs(p.value)
        val, key = _scoped(sectors, lim)
        return val / snap.equity, f"gross of sector {key} / equity"
    if t in (LimitType.var, LimitType.cvar):
        _need(snap.market is not None, "market data (a return history)", "portfolio.market", lim)
        p = panel(snap.market, [Position(symbol=q.symbol, value=q.value) for q in pos])
        losses = -(p.require_history("a VaR limit") @ p.w)
        a = lim.confidence or DEFAULT_CONFIDENCE
        var, cvar = var_cvar(losses, a)
        return (var if t is LimitType.var else cvar), f"1-day historical {t.value} at {a:g}"
    if t is LimitType.max_drawdown:
        _need(snap.equity_curve is not None, "an equity curve", "portfolio.equity_curve", lim)
        eq = np.asarray(snap.equity_curve)
        if (eq <= 0).any():
            raise InvalidInput("equity values must be > 0", field="portfolio.equity_curve")
        mdd, *_ = drawdown_stats(eq[1:] / eq[:-1] - 1.0)
        return -mdd, "max peak-to-trough fall of the equity curve"
    if t is LimitType.daily_loss:
        _need(snap.daily_pnl is not None, "the daily P&L", "portfolio.daily_pnl", lim)
        return max(0.0, -snap.daily_pnl), "max(0, -daily P&L)"
    if t is LimitType.position_size:
        q = {}
        for i, p in enumerate(pos):
            _need(p.quantity is not None, f"a quantity for {p.symbol}", f"portfolio.positions.{i}.quantity", lim)
            q[p.symbol] = p.quantity
        val, key = _scoped(q, lim)
        return val, f"|quantity of {key}|"
    if t is LimitType.order_notional:
        _need(snap.order is not None, "a proposed order", "portfolio.order", lim)
        return abs(snap.order.notional), f"|notional| of the order in {snap.order.symbol}"
    if t is LimitType.liquidity:
        frac = {}
        for i, p in enumerate(pos):
            _need(p.quantity is not None, f"a quantity for {p.symbol}", f"portfolio.positions.{i}.quantity", lim)
            _need(p.average_daily_volume is not None, f"the average daily volume of {p.symbol}",
                  f"portfolio.positions.{i}.average_daily_volume", lim)
            frac[p.symbol] = abs(p.quantity) / p.average_daily_volume
        val, key = _scoped(frac, lim)
        return val, f"|quantity of {key}| / average daily volume"
    if t is LimitType.beta_exposure:
        total = 0.0
        for i, p in enumerate(pos):
            _need(p.beta is not None, f"a beta for {p.symbol}", f"portfolio.positions.{i}.beta", lim)
            total += p.value * p.beta
        return abs(total), "|sum value * beta|"
    raise InvalidInput(f"unknown limit type {t}", field="limit_type")  # pragma: no cover - enum is closed


def evaluate(limits: list[Limit], snap: PortfolioSnapshot) -> list[LimitStatus]:
    out = []
    for lim in limits:
        value, detail = limit_value(lim, snap)
        u = value / lim.threshold
        status = "breach" if u > 1.0 else ("warning" if u >= lim.warning_fraction else "ok")
        out.append(LimitStatus(limit_id=lim.id, limit_type=lim.limit_type, scope=lim.scope, value=value,
                               threshold=lim.threshold, utilisation=u, status=status, detail=detail))
    return out
