"""Brinson-Fachler attribution by sector, linked over periods with Carino's coefficients. Pure.

Per period, with sector weights w (portfolio p, benchmark b), sector returns r, totals R = sum w r:
    allocation_s  = (wp_s - wb_s) (rb_s - Rb)
    selection_s   = wb_s (rp_s - rb_s)
    interaction_s = (wp_s - wb_s) (rp_s - rb_s)
which sum over sectors to Rp - Rb when both weight sets sum to the same total (checked). A sector
the portfolio does not hold takes rp_s = rb_s, one the benchmark does not hold takes rb_s = Rb (the
effects then do not depend on the undefined return). Over several periods each effect is scaled by
k_t / k, k_t = ln((1 + Rp_t)/(1 + Rb_t)) / (Rp_t - Rb_t) and k the same over the compounded returns,
so the linked effects sum to the compounded active return.
"""

from __future__ import annotations

import math
from collections import defaultdict

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.analytics.models_attribution import (
    AttributionPeriod,
    BrinsonRequest,
    BrinsonResponse,
    PeriodEffects,
    SectorEffects,
    Segment,
)

#: Weight sets must sum to the same total within this.
WEIGHT_TOL = 1e-9


def _by_sector(segments: list[Segment]) -> dict[str, tuple[float, float]]:
    """sector -> (weight, weighted return sum)."""
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for s in segments:
        out[s.sector][0] += s.weight
        out[s.sector][1] += s.weight * s.ret
    return {k: (v[0], v[1]) for k, v in out.items()}


def _carino(rp: float, rb: float) -> float:
    if abs(rp - rb) < 1e-15:
        return 1.0 / (1.0 + rp)
    return (math.log1p(rp) - math.log1p(rb)) / (rp - rb)


def _period(i: int, p: AttributionPeriod) -> PeriodEffects:
    port, bench = _by_sector(p.portfolio), _by_sector(p.benchmark)
    wp_tot = math.fsum(v[0] for v in port.values())
    wb_tot = math.fsum(v[0] for v in bench.values())
    if abs(wp_tot - wb_tot) > WEIGHT_TOL:
        raise InvalidInput(f"portfolio weights sum to {wp_tot:.10g}, benchmark weights to {wb_tot:.10g}; "
                           "they must sum to the same total", field=f"periods.{i}.portfolio")
    Rp = math.fsum(v[1] for v in port.values())
    Rb = math.fsum(v[1] for v in bench.values())
    sectors = []
    for s in sorted(set(port) | set(bench)):
        wp, sp = port.get(s, (0.0, 0.0))
        wb, sb = bench.get(s, (0.0, 0.0))
        rb = sb / wb if wb != 0 else Rb
        rp = sp / wp if wp != 0 else rb
        a, sel, inter = (wp - wb) * (rb - Rb), wb * (rp - rb), (wp - wb) * (rp - rb)
        sectors.append(SectorEffects(sector=s, portfolio_weight=wp, benchmark_weight=wb, portfolio_return=rp,
                                     benchmark_return=rb, allocation=a, selection=sel, interaction=inter,
                                     total=a + sel + inter))
    return PeriodEffects(date=p.date, portfolio_return=Rp, benchmark_return=Rb, active_return=Rp - Rb,
                         sectors=sectors)


def brinson(req: BrinsonRequest, ctx: OpContext | None = None) -> BrinsonResponse:
    periods = [_period(i, p) for i, p in enumerate(req.periods)]
    Rp = math.prod(1.0 + p.portfolio_return for p in periods) - 1.0
    Rb = math.prod(1.0 + p.benchmark_return for p in periods) - 1.0
    single = len(periods) == 1
    k = _carino(Rp, Rb)
    linked: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    weights: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # average portfolio, benchmark weight
    for p in periods:
        scale = 1.0 if single else _carino(p.portfolio_return, p.benchmark_return) / k
        for s in p.sectors:
            e = linked[s.sector]
            e[0] += s.allocation * scale
            e[1] += s.selection * scale
            e[2] += s.interaction * scale
            wsum = weights[s.sector]
            wsum[0] += s.portfolio_weight / len(periods)
            wsum[1] += s.benchmark_weight / len(periods)
    sectors = []
    for s in sorted(linked):
        a, sel, inter = linked[s]
        rp = rb = None
        if single:
            only = next(x for x in periods[0].sectors if x.sector == s)
            rp, rb = only.portfolio_return, only.benchmark_return
        sectors.append(SectorEffects(sector=s, portfolio_weight=weights[s][0], benchmark_weight=weights[s][1],
                                     portfolio_return=rp, benchmark_return=rb,
                                     allocation=a, selection=sel, interaction=inter, total=a + sel + inter))
    A = math.fsum(x.allocation for x in sectors)
    S = math.fsum(x.selection for x in sectors)
    In = math.fsum(x.interaction for x in sectors)
    active = Rp - Rb
    return BrinsonResponse(portfolio_return=Rp, benchmark_return=Rb, active_return=active, allocation=A, selection=S,
                           interaction=In, residual=active - math.fsum((A, S, In)), sectors=sectors, periods=periods)
