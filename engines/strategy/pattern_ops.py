"""``detect_chart_patterns``: engines.strategy.patterns on the engine's torch device (the native strategy
process serves it on the GPU when there is one; the HTTP engine gives the same answer)."""

from __future__ import annotations

import numpy as np
import torch

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.strategy.models import PatternHit, PatternsRequest, PatternsResponse
from engines.strategy.patterns import PATTERNS, PatternParams, detect


def detect_chart_patterns(req: PatternsRequest, ctx: OpContext | None = None) -> PatternsResponse:
    x = req.closes
    if (x <= 0).any():
        r, c = np.argwhere(x <= 0)[0]
        raise InvalidInput("closes must be > 0", field=f"closes.{r}.{c}")
    device = ctx.device if ctx is not None else "cpu"
    p = PatternParams(order=req.order, tolerance_pct=req.tolerance_pct, depth_pct=req.depth_pct,
                      pole_bars=req.pole_bars, pole_pct=req.pole_pct, flag_bars=req.flag_bars)
    hits = detect(x, p, device)
    names = [n for n in PATTERNS if req.patterns is None or n in req.patterns]
    stacked = torch.stack([hits[n] for n in names], dim=2)  # (S, T, P)
    found = torch.nonzero(stacked).cpu().numpy()  # row-major: series, then bar, then pattern
    counts = {n: int(hits[n].sum()) for n in names}
    keep = found[:req.max_detections]
    return PatternsResponse(
        detections=[PatternHit(series=int(s), pattern=names[int(k)], index=int(t)) for s, t, k in keep],
        counts=counts, truncated=len(found) > len(keep), windows=int(x.shape[0] * x.shape[1]), device=str(device))
