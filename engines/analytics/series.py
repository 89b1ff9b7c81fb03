"""Rolling metrics, the drawdown table and calendar tables of a return series. Pure numpy.

Definitions are the ``performance`` operation's (engines/analytics/compute.py): Sharpe uses excess
returns over rf_p = (1 + rf)^(1/P) - 1 with ddof=1; beta is cov/var of excess returns with ddof=1.
Rolling figures are computed with cumulative sums of float64 (O(n)); they equal pandas' rolling
results to ~1e-12 relative. Drawdown episodes run from a peak to the first later point at or above
it (the recovery); calendar returns compound the returns inside each month and each year.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from backend.contract.arrays import as_vector
from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.analytics.models_series import (
    CalendarRequest,
    CalendarResponse,
    DrawdownRow,
    DrawdownTableRequest,
    DrawdownTableResponse,
    RollingRequest,
    RollingResponse,
    SeriesInput,
    YearRow,
)


def checked(req: SeriesInput | CalendarRequest) -> tuple[np.ndarray, np.ndarray | None]:
    """Validated returns (> -1) and aligned benchmark; dates strictly increasing and one per return."""
    r = as_vector(req.returns, "returns")
    if (r <= -1).any():
        raise InvalidInput("a return must be > -1", field=f"returns.{int(np.argmax(r <= -1))}")
    dates = req.dates
    if dates is not None:
        if len(dates) != r.size:
            raise InvalidInput(f"needs {r.size} dates (one per return), got {len(dates)}", field="dates")
        if any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
            raise InvalidInput("dates must be strictly increasing", field="dates")
    b = None
    if getattr(req, "benchmark_returns", None) is not None:
        b = as_vector(req.benchmark_returns, "benchmark_returns")  # type: ignore[union-attr, arg-type]
        if b.size != r.size:
            raise InvalidInput(f"benchmark has {b.size} returns, the series {r.size}", field="benchmark_returns")
    return r, b


def rolling(req: RollingRequest, ctx: OpContext | None = None) -> RollingResponse:
    r, b = checked(req)
    w = req.window
    if w > r.size:
        raise InvalidInput(f"window {w} is longer than the series ({r.size})", field="window")
    P = req.periods_per_year
    rf = (1.0 + req.risk_free_rate) ** (1.0 / P) - 1.0
    win = sliding_window_view(r, w)
    total = np.exp(np.log1p(win).sum(axis=1)) - 1.0
    sd = win.std(axis=1, ddof=1)
    ex = win - rf
    sd_ex = ex.std(axis=1, ddof=1)
    sharpe = [float(m / s * np.sqrt(P)) if s > 0 else None for m, s in zip(ex.mean(axis=1), sd_ex, strict=True)]
    beta = None
    if b is not None:
        bw = sliding_window_view(b - rf, w)
        bc = bw - bw.mean(axis=1, keepdims=True)
        rc = ex - ex.mean(axis=1, keepdims=True)
        var_b = (bc * bc).sum(axis=1) / (w - 1)
        cov = (rc * bc).sum(axis=1) / (w - 1)
        beta = [float(c / v) if v > 0 else None for c, v in zip(cov, var_b, strict=True)]
    return RollingResponse(window=w, end_dates=list(req.dates[w - 1:]) if req.dates else None,
                           total_return=total.tolist(), volatility_annual=(sd * np.sqrt(P)).tolist(),
                           sharpe=sharpe, beta=beta)


def drawdown_episodes(r: np.ndarray) -> list[tuple[float, int, int, int | None]]:
    """Every drawdown episode (depth, peak, trough, recovery) on the wealth path [1, w_1..w_n]."""
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    out = []
    peak, trough = 0, 0
    for i in range(1, wealth.size):
        if wealth[i] >= wealth[peak]:
            if trough != peak:
                out.append((wealth[trough] / wealth[peak] - 1.0, peak, trough, i))
            peak = trough = i
        elif wealth[i] < wealth[trough]:
            trough = i
    if trough != peak:
        out.append((wealth[trough] / wealth[peak] - 1.0, peak, trough, None))
    return out


def drawdown_table(req: DrawdownTableRequest, ctx: OpContext | None = None) -> DrawdownTableResponse:
    r, _ = checked(req)
    n = r.size
    dates = req.dates
    wealth_dates = [dates[0], *dates] if dates else None  # index 0 = before the first return
    rows = []
    for depth, peak, trough, rec in sorted(drawdown_episodes(r), key=lambda e: e[0])[: req.top]:
        rows.append(DrawdownRow(
            depth=float(depth), peak_index=peak, trough_index=trough, recovery_index=rec,
            peak_date=wealth_dates[peak] if wealth_dates else None,
            trough_date=wealth_dates[trough] if wealth_dates else None,
            recovery_date=wealth_dates[rec] if wealth_dates and rec is not None else None,
            decline_periods=trough - peak, recovery_periods=None if rec is None else rec - trough,
            total_periods=(rec if rec is not None else n) - peak))
    return DrawdownTableResponse(drawdowns=rows)


def calendar(req: CalendarRequest, ctx: OpContext | None = None) -> CalendarResponse:
    r, _ = checked(req)
    growth: dict[tuple[int, int], float] = defaultdict(lambda: 1.0)
    for d, x in zip(req.dates, r, strict=True):
        growth[(d.year, d.month)] *= 1.0 + x
    monthly = {k: v - 1.0 for k, v in growth.items()}
    years = []
    for y in sorted({k[0] for k in monthly}):
        months = [monthly.get((y, m)) for m in range(1, 13)]
        total = float(np.prod([1.0 + m for m in months if m is not None]) - 1.0)
        years.append(YearRow(year=y, months=months, total=total))
    values = np.array(list(monthly.values()))
    return CalendarResponse(years=years, best_month=float(values.max()), worst_month=float(values.min()),
                            positive_months=float((values > 0).mean()))
