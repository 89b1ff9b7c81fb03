"""Margin requirements (all in currency).

Reg-T / FINRA 4210, strategy-free (no spread or hedge offsets):
  long stock      initial 50%, maintenance 25% of market value
  short stock     initial 50%; maintenance max(30% of value, $5/share) at price >= $5,
                  max(100% of value, $2.50/share) below $5
  long option     100% of premium (initial and maintenance)
  short call      premium + max(20% of underlying value - out-of-the-money amount, 10% of underlying value)
  short put       premium + max(20% of underlying value - out-of-the-money amount, 10% of strike value)
Portfolio margin (estimate in the spirit of TIMS): per underlying, revalue its stock and options (Black-Scholes,
implied vol held) at grid_points equally spaced moves in [-grid_move, +grid_move]; requirement = the largest
loss (>= 0); the total is the sum over underlyings (no cross-underlying offsets).
Equity = cash + net market value + sum(collateral * (1 - haircut)); a margin call when equity < requirement.
"""

from __future__ import annotations

import numpy as np
import torch

from backend.contract.operation import OpContext
from engines.risk.compute.options import bs_price
from engines.risk.models.margin import CollateralValue, MarginRequest, MarginResponse, PositionMargin, UnderlyingRisk

#: Default collateral haircuts by kind (fraction of value not lent against).
DEFAULT_HAIRCUTS = {"cash": 0.0, "government_bond": 0.02, "corporate_bond": 0.10, "equity": 0.25, "etf": 0.20,
                    "gold": 0.15, "other": 0.50}


def reg_t_stock(q: float, price: float) -> tuple[float, float, str]:
    value = abs(q) * price
    if q >= 0:
        return 0.5 * value, 0.25 * value, "long stock 50%/25%"
    if price >= 5.0:
        return 0.5 * value, max(0.30 * value, 5.0 * abs(q)), "short stock 50%/max(30%, $5/share)"
    return 0.5 * value, max(value, 2.5 * abs(q)), "short stock under $5: 50%/max(100%, $2.50/share)"


def reg_t_option(kind: str, q: float, mult: float, premium: float, S: float, K: float) -> tuple[float, str]:
    units = abs(q) * mult
    if q >= 0:
        return premium * units, "long option: premium"
    otm = max(K - S, 0.0) if kind == "call" else max(S - K, 0.0)
    floor = 0.10 * (S if kind == "call" else K)
    return (premium + max(0.20 * S - otm, floor)) * units, f"short {kind}: premium + max(20% S - OTM, 10%)"


def _value(req: MarginRequest, underlying: str, move: float) -> float:
    """Value of one underlying's stock and options at spot * (1 + move)."""
    v = sum(s.quantity * s.price * (1 + move) for s in req.stocks if s.symbol == underlying)
    opts = [o for o in req.options if o.underlying == underlying]
    if opts:
        t = lambda xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731
        price = bs_price(t([o.underlying_price * (1 + move) for o in opts]), t([o.strike for o in opts]),
                         t([o.expiry_years for o in opts]), t([o.implied_vol for o in opts]), req.rate, 0.0,
                         torch.tensor([o.kind == "call" for o in opts]))
        v += float((price * t([o.quantity * o.multiplier for o in opts])).sum())
    return v


def compute_margin(req: MarginRequest, ctx: OpContext | None = None) -> MarginResponse:
    rows: list[PositionMargin] = []
    mv = 0.0
    for s in req.stocks:
        init, maint, rule = reg_t_stock(s.quantity, s.price)
        rows.append(PositionMargin(instrument=s.symbol, market_value=s.quantity * s.price, initial=init,
                                   maintenance=maint, rule=rule))
        mv += s.quantity * s.price
    if req.options:
        t = lambda xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731
        prem = bs_price(t([o.underlying_price for o in req.options]), t([o.strike for o in req.options]),
                        t([o.expiry_years for o in req.options]), t([o.implied_vol for o in req.options]),
                        req.rate, 0.0, torch.tensor([o.kind == "call" for o in req.options])).tolist()
        for o, pr in zip(req.options, prem, strict=False):
            req_amt, rule = reg_t_option(o.kind, o.quantity, o.multiplier, pr, o.underlying_price, o.strike)
            val = o.quantity * o.multiplier * pr
            rows.append(PositionMargin(instrument=f"{o.underlying} {o.kind} {o.strike:g} {o.expiry_years:g}y",
                                       market_value=val, initial=req_amt, maintenance=req_amt, rule=rule))
            mv += val
    moves = np.linspace(-req.grid_move, req.grid_move, req.grid_points)
    by_und = []
    for u in sorted({s.symbol for s in req.stocks} | {o.underlying for o in req.options}):
        base = _value(req, u, 0.0)
        pnl = np.array([_value(req, u, m) - base for m in moves])
        j = int(np.argmin(pnl))
        by_und.append(UnderlyingRisk(underlying=u, requirement=max(0.0, -float(pnl[j])), worst_move=float(moves[j])))
    coll = []
    for c in req.collateral:
        hc = DEFAULT_HAIRCUTS[c.kind] if c.haircut is None else c.haircut
        coll.append(CollateralValue(name=c.name, value=c.value, haircut=hc, lendable_value=c.value * (1 - hc)))
    coll_value = sum(c.lendable_value for c in coll)
    equity = req.cash + mv + coll_value
    reg_init = sum(r.initial for r in rows)
    reg_maint = sum(r.maintenance for r in rows)
    pm = sum(u.requirement for u in by_und)
    requirement = reg_maint if req.method == "reg_t" else pm
    excess = equity - requirement
    return MarginResponse(
        market_value=mv, equity=equity, collateral_value=coll_value, reg_t_initial=reg_init,
        reg_t_maintenance=reg_maint, portfolio_margin=pm, requirement=requirement, excess=excess,
        margin_call=excess < 0, call_amount=max(0.0, -excess), positions=rows, portfolio_by_underlying=by_und,
        collateral=coll,
    )
