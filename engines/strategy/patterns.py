"""Chart patterns from pivot points, vectorised in torch over many series and every bar at once.

Pivots: bar t is a pivot high when its close is the largest of the 2k + 1 closes around it (k =
``order``), a pivot low when the smallest; a pivot is known only k bars later (no look-ahead: the
detection at bar e uses pivots up to e - k). For every series and every bar e, the last five pivots
p5..p1 (oldest to newest) are gathered through "previous pivot" pointers. With tol = ``tolerance_pct``
and depth = ``depth_pct`` (fractions), "equal" means within tol of their mean, and each pattern is
reported at the bar its confirmation happens (the close crosses the stated level):

  double_top        H L H: highs equal, the low at least depth below them; close crosses below the low
  double_bottom     L H L: mirror; close crosses above the high
  triple_top        H L H L H: three highs equal, lows depth below; close crosses below the lower low
  triple_bottom     mirror; close crosses above the higher high
  head_shoulders    H L H L H: head tol above both shoulders, shoulders equal, troughs equal (2 tol);
                    close crosses below the lower trough (the neckline)
  inverse_head_shoulders  mirror; close crosses above the higher peak
  ascending_triangle    last two highs equal, last two lows rising by more than tol; close crosses above
                        the higher high
  descending_triangle   last two lows equal, highs falling by more than tol; close crosses below the lower low
  symmetric_triangle    highs falling and lows rising (each by more than tol); close crosses out of the
                        last high/low range, either way
  rising_wedge      highs and lows rising (more than tol), lows faster; close crosses below the last low
  falling_wedge     highs and lows falling, highs faster; close crosses above the last high
  cup_handle        H L H L: rims equal, cup at least depth deep, the handle's low retraces at most half
                    the cup and takes less than half the cup's bars; close crosses above the higher rim
  bull_flag / bear_flag  (no pivots) a pole of ``pole_pct`` or more over ``pole_bars`` bars, then
                    ``flag_bars`` bars drifting against it within a range of half the pole; close breaks
                    out of the flag in the pole's direction

Slopes are compared as the change between the two pivots over their mean price. Pure torch on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PATTERNS = ("double_top", "double_bottom", "triple_top", "triple_bottom", "head_shoulders",
            "inverse_head_shoulders", "ascending_triangle", "descending_triangle", "symmetric_triangle",
            "rising_wedge", "falling_wedge", "cup_handle", "bull_flag", "bear_flag")


@dataclass(frozen=True)
class PatternParams:
    order: int = 3
    tolerance_pct: float = 2.0
    depth_pct: float = 3.0
    pole_bars: int = 10
    pole_pct: float = 8.0
    flag_bars: int = 6


def pivots(x: torch.Tensor, k: int) -> torch.Tensor:
    """(S, T) closes -> (S, T) int8: +1 pivot high, -1 pivot low, 0 neither (the last k bars are never pivots)."""
    pad = torch.nn.functional.pad
    hi = torch.nn.functional.max_pool1d(pad(x, (k, k), value=-torch.inf)[:, None], 2 * k + 1, 1)[:, 0]
    lo = -torch.nn.functional.max_pool1d(pad(-x, (k, k), value=-torch.inf)[:, None], 2 * k + 1, 1)[:, 0]
    is_hi, is_lo = x == hi, x == lo
    out = is_hi.to(torch.int8) - is_lo.to(torch.int8)  # flat windows (both) are neither
    T = x.shape[1]
    out[:, :k] = 0  # a pivot needs k bars on both sides
    out[:, max(T - k, 0):] = 0
    return out


def _last_pivots(ty: torch.Tensor, k: int, m: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """For every bar e: indices (S, T, m) of the m latest pivots at or before e - k (newest first) and validity."""
    S, T = ty.shape
    ar = torch.arange(T, device=ty.device).expand(S, T)
    last = torch.cummax(torch.where(ty != 0, ar, torch.full_like(ar, -1)), dim=1).values
    known = torch.cat([torch.full((S, k), -1, device=ty.device, dtype=last.dtype), last[:, :T - k]], dim=1) \
        if k < T else torch.full_like(last, -1)
    idx, cur = [], known
    for _ in range(m):
        idx.append(cur)
        prev_pos = (cur - 1).clamp(min=0)
        nxt = torch.gather(last, 1, prev_pos)
        cur = torch.where(cur > 0, nxt, torch.full_like(cur, -1))
    out = torch.stack(idx, dim=2)
    return out.clamp(min=0), out >= 0


def _cross_below(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    return (x < level) & (prev >= level)


def _cross_above(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    return (x > level) & (prev <= level)


def detect(closes: np.ndarray | torch.Tensor, p: PatternParams = PatternParams(), device: str = "cpu"
           ) -> dict[str, torch.Tensor]:
    """{pattern: (S, T) bool}: True at the bar where the pattern is confirmed (see the module docstring)."""
    x = torch.as_tensor(np.asarray(closes, dtype=np.float64) if not isinstance(closes, torch.Tensor) else closes,
                        dtype=torch.float64, device=device)
    if x.ndim == 1:
        x = x[None]
    S, T = x.shape
    tol, depth = p.tolerance_pct / 100, p.depth_pct / 100
    ty = pivots(x, p.order)
    idx, ok = _last_pivots(ty, p.order)
    v = torch.gather(x, 1, idx.reshape(S, -1)).reshape(S, T, 5)
    t = torch.gather(ty, 1, idx.reshape(S, -1)).reshape(S, T, 5).to(torch.int16)
    t = torch.where(ok, t, torch.zeros_like(t))
    e1, e2, e3, e4, e5 = (v[..., i] for i in range(5))  # newest .. oldest pivot values
    y1, y2, y3, y4, y5 = (t[..., i] for i in range(5))
    pos1, pos2, pos3, pos4 = (idx[..., i].to(torch.float64) for i in range(4))

    def eq(*vals: torch.Tensor) -> torch.Tensor:
        m = sum(vals) / len(vals)
        return torch.stack([(a - m).abs() <= tol * m for a in vals]).all(0)

    H, L = 1, -1
    out: dict[str, torch.Tensor] = {}
    # three pivots: e3 e2 e1 (oldest -> newest)
    hlh = (y3 == H) & (y2 == L) & (y1 == H)
    lhl = (y3 == L) & (y2 == H) & (y1 == L)
    out["double_top"] = hlh & eq(e3, e1) & (e2 <= torch.minimum(e3, e1) * (1 - depth)) & _cross_below(x, e2)
    out["double_bottom"] = lhl & eq(e3, e1) & (e2 >= torch.maximum(e3, e1) * (1 + depth)) & _cross_above(x, e2)
    # five pivots: e5 .. e1
    hlhlh = (y5 == H) & (y4 == L) & (y3 == H) & (y2 == L) & (y1 == H)
    lhlhl = (y5 == L) & (y4 == H) & (y3 == L) & (y2 == H) & (y1 == L)
    neck_lo, neck_hi = torch.minimum(e4, e2), torch.maximum(e4, e2)
    low_top = torch.minimum(torch.minimum(e5, e3), e1)
    high_bottom = torch.maximum(torch.maximum(e5, e3), e1)
    out["triple_top"] = hlhlh & eq(e5, e3, e1) & (neck_hi <= low_top * (1 - depth)) & _cross_below(x, neck_lo)
    out["triple_bottom"] = lhlhl & eq(e5, e3, e1) & (neck_lo >= high_bottom * (1 + depth)) & _cross_above(x, neck_hi)
    troughs_eq = (e4 - e2).abs() <= 2 * tol * (e4 + e2) / 2
    out["head_shoulders"] = hlhlh & (e3 >= torch.maximum(e5, e1) * (1 + tol)) & eq(e5, e1) & troughs_eq \
        & (neck_hi <= torch.minimum(e5, e1) * (1 - depth)) & _cross_below(x, neck_lo)
    out["inverse_head_shoulders"] = lhlhl & (e3 <= torch.minimum(e5, e1) * (1 - tol)) & eq(e5, e1) & troughs_eq \
        & (neck_lo >= torch.maximum(e5, e1) * (1 + depth)) & _cross_above(x, neck_hi)
    # four pivots, alternating: the last two highs (h_old, h_new) and the last two lows
    alt4 = (y4 * y3 == -1) & (y3 * y2 == -1) & (y2 * y1 == -1)
    newest_high = y1 == H
    h_new = torch.where(newest_high, e1, e2)
    h_old = torch.where(newest_high, e3, e4)
    l_new = torch.where(newest_high, e2, e1)
    l_old = torch.where(newest_high, e4, e3)
    dh = (h_new - h_old) / ((h_new + h_old) / 2)
    dl = (l_new - l_old) / ((l_new + l_old) / 2)
    flat_h, flat_l = dh.abs() <= tol, dl.abs() <= tol
    rise_h, rise_l, fall_h, fall_l = dh > tol, dl > tol, dh < -tol, dl < -tol
    top = torch.maximum(h_new, h_old)
    out["ascending_triangle"] = alt4 & flat_h & rise_l & _cross_above(x, top)
    out["descending_triangle"] = alt4 & flat_l & fall_h & _cross_below(x, torch.minimum(l_new, l_old))
    out["symmetric_triangle"] = alt4 & fall_h & rise_l & (_cross_above(x, h_new) | _cross_below(x, l_new))
    out["rising_wedge"] = alt4 & rise_h & rise_l & (dl > dh) & _cross_below(x, l_new)
    out["falling_wedge"] = alt4 & fall_h & fall_l & (dh < dl) & _cross_above(x, h_new)
    # cup and handle: rim e4 (H), bottom e3 (L), rim e2 (H), handle low e1 (L)
    cup = (y4 == H) & (y3 == L) & (y2 == H) & (y1 == L) & eq(e4, e2)
    cup_depth = torch.minimum(e4, e2) - e3
    out["cup_handle"] = cup & (e3 <= torch.minimum(e4, e2) * (1 - depth)) & (e1 >= e2 - cup_depth / 2) \
        & ((pos1 - pos2) < (pos2 - pos4) / 2) & _cross_above(x, torch.maximum(e4, e2))
    # flags: pole over [e - f - n, e - f], flag over [e - f, e - 1], breakout at e
    f, n = p.flag_bars, p.pole_bars
    bull = torch.zeros_like(x, dtype=torch.bool)
    bear = torch.zeros_like(x, dtype=torch.bool)
    if T > f + n + 1:
        win = x.unfold(1, f, 1)  # (S, T - f + 1, f): bars [j, j + f)
        fmax, fmin = win.max(-1).values, win.min(-1).values
        e = torch.arange(f + n, T, device=x.device)
        start, base = e - f, e - f - n
        pole = x[:, start] / x[:, base] - 1
        hi, lo = fmax[:, start], fmin[:, start]
        rng = (hi - lo) / x[:, start]
        drift = x[:, e - 1] - x[:, start]
        bull[:, e] = (pole >= p.pole_pct / 100) & (rng <= p.pole_pct / 200) & (drift <= 0) & (x[:, e] > hi)
        bear[:, e] = (pole <= -p.pole_pct / 100) & (rng <= p.pole_pct / 200) & (drift >= 0) & (x[:, e] < lo)
    out["bull_flag"], out["bear_flag"] = bull, bear
    return out
