"""P&L of an account or strategy from its fills and daily marks. Pure.

Fills are applied in time order with the trading core's own position bookkeeping
(``backend.trading.positions.Position``: average cost, realised on reduction, fees apart), so a
position's realised P&L here equals the trading core's stored one. Each reported day is a day with a
stored mark on or after the first fill; a symbol is marked at its latest close on or before the day,
or at its last fill price before it has a close. Equity = starting equity + total P&L.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from backend.trading.positions import Position
from engines.analytics.models_pnl import PnlDay, PnlRequest, PnlResponse, SymbolPnl


def pnl(req: PnlRequest, ctx: OpContext | None = None) -> PnlResponse:
    fills = sorted(req.fills or [], key=lambda f: f.ts)
    if not fills:
        raise InvalidInput("no fills to compute P&L from", field="fills")
    closes: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for m in req.marks or []:
        closes[m.symbol][m.date] = m.close
    day_of = [f.ts.astimezone(dt.UTC).date() if f.ts.tzinfo else f.ts.date() for f in fills]
    first = day_of[0]
    days = sorted({d for c in closes.values() for d in c if d >= first} | set(day_of))
    if req.start is not None:
        days = [d for d in days if d >= req.start]
    if req.end is not None:
        days = [d for d in days if d <= req.end]
    if not days:
        raise InvalidInput("no day with a fill or a mark in the requested window", field="start")
    positions: dict[str, Position] = {}
    last_px: dict[str, float] = {}
    mark_hist = {s: sorted(c.items()) for s, c in closes.items()}
    cursor = {s: -1 for s in mark_hist}
    out: list[PnlDay] = []
    i = 0
    prev_total, prev_equity = 0.0, req.starting_equity
    for d in days:
        while i < len(fills) and day_of[i] <= d:
            f = fills[i]
            p = positions.setdefault(f.symbol, Position("", "", f.symbol))
            p.apply(f.qty if f.side == "buy" else -f.qty, f.price, f.fee)
            last_px[f.symbol] = f.price
            i += 1
        for s, hist in mark_hist.items():
            k = cursor[s]
            while k + 1 < len(hist) and hist[k + 1][0] <= d:
                k += 1
            cursor[s] = k
            if k >= 0:
                last_px[s] = hist[k][1]
        realised = sum(p.realised_pnl for p in positions.values())
        unrealised = sum(p.unrealised(last_px.get(s)) for s, p in positions.items())
        fees = sum(p.fees for p in positions.values())
        total = realised + unrealised - fees
        equity = None if req.starting_equity is None else req.starting_equity + total
        ret = (total - prev_total) / prev_equity if prev_equity else None
        out.append(PnlDay(date=d, realised=realised, unrealised=unrealised, fees=fees, total=total,
                          daily=total - prev_total, equity=equity, ret=ret))
        prev_total, prev_equity = total, equity
    syms = [SymbolPnl(symbol=s, qty=p.qty, avg_cost=p.avg_cost, mark=last_px.get(s), realised=p.realised_pnl,
                      unrealised=p.unrealised(last_px.get(s)), fees=p.fees) for s, p in sorted(positions.items())]
    last = out[-1]
    return PnlResponse(days=out, symbols=syms, realised=last.realised, unrealised=last.unrealised, fees=last.fees,
                       total=last.total, n_fills=i)
