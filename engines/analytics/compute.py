"""Performance metrics. Pure numpy; no I/O.

Conventions (P = periods per year, n = number of returns, rf_p = (1 + rf)^(1/P) - 1):
  total return      prod(1 + r) - 1
  CAGR              (1 + total)^(P / n) - 1
  volatility        std(r, ddof=1) * sqrt(P)
  Sharpe            mean(r - rf_p) / std(r - rf_p, ddof=1) * sqrt(P)
  Sortino           mean(r - rf_p) / sqrt(mean(min(r - rf_p, 0)^2)) * sqrt(P)
  max drawdown      min over t of equity_t / max_{s<=t} equity_s - 1   (<= 0)
  Calmar            CAGR / |max drawdown|
  beta              cov(r - rf_p, b - rf_p) / var(b - rf_p)   (ddof=1 both)
  alpha             (1 + mean(r_e) - beta * mean(b_e))^P - 1
  tracking error    std(r - b, ddof=1) * sqrt(P); information ratio = mean(r - b) * P / tracking error
An equity curve of m points gives m - 1 returns; its dates then date the equity points,
so return i is dated by dates[i + 1].
"""

from __future__ import annotations

from datetime import date

import numpy as np

from backend.contract.arrays import as_vector
from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.analytics.models import (
    BenchmarkStats,
    Drawdown,
    PerformanceRequest,
    PerformanceResponse,
    PeriodValue,
)


def returns_from_equity(equity: np.ndarray, field: str) -> np.ndarray:
    if (equity <= 0).any():
        i = int(np.argmax(equity <= 0))
        raise InvalidInput("equity values must be > 0", field=f"{field}.{i}")
    return equity[1:] / equity[:-1] - 1.0


def _returns(values: np.ndarray | None, equity: np.ndarray | None, name: str) -> np.ndarray:
    if equity is not None:
        return returns_from_equity(as_vector(equity, f"{name}equity"), f"{name}equity")
    r = as_vector(values if values is not None else [], f"{name}returns")
    if (r <= -1.0).any():
        i = int(np.argmax(r <= -1.0))
        raise InvalidInput("a return must be > -1 (a loss of more than 100%)", field=f"{name}returns.{i}")
    return r


def drawdown_stats(r: np.ndarray) -> tuple[float, int, int, int | None]:
    """(max drawdown <= 0, peak, trough, recovery) as indices into the wealth path [1, w_1..w_n]."""
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    peaks = np.maximum.accumulate(wealth)
    dd = wealth / peaks - 1.0
    trough = int(np.argmin(dd))
    mdd = float(dd[trough])
    if mdd == 0.0:
        return 0.0, 0, 0, 0
    peak = int(np.argmax(wealth[: trough + 1]))
    after = np.nonzero(wealth[trough:] >= wealth[peak])[0]
    recovery = int(trough + after[0]) if after.size else None
    return mdd, peak, trough, recovery


def _date(dates: list[date] | None, wealth_index: int | None) -> date | None:
    """Date of a wealth-path index (0 = before the first return)."""
    if dates is None or wealth_index is None:
        return None
    return dates[wealth_index]


def performance(req: PerformanceRequest, ctx: OpContext | None = None) -> PerformanceResponse:
    r = _returns(req.returns, req.equity, "")
    n = r.size
    P = req.periods_per_year
    # dates of the wealth path [start, after r_1, ..., after r_n]
    wealth_dates: list[date] | None = None
    if req.dates is not None:
        if req.equity is not None:
            if len(req.dates) != n + 1:
                raise InvalidInput(f"needs {n + 1} dates (one per equity point), got {len(req.dates)}", field="dates")
            wealth_dates = list(req.dates)
        else:
            if len(req.dates) != n:
                raise InvalidInput(f"needs {n} dates (one per return), got {len(req.dates)}", field="dates")
            wealth_dates = [req.dates[0], *req.dates]
        if any(b <= a for a, b in zip(req.dates, req.dates[1:], strict=False)):
            raise InvalidInput("dates must be strictly increasing", field="dates")

    rf_p = (1.0 + req.risk_free_rate) ** (1.0 / P) - 1.0
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported as NON_FINITE_RESULT
        total = float(np.prod(1.0 + r) - 1.0)
        cagr = float(np.power(1.0 + total, P / n) - 1.0)
    excess = r - rf_p
    sd = float(np.std(r, ddof=1))
    sd_excess = float(np.std(excess, ddof=1))
    sharpe = float(excess.mean() / sd_excess * np.sqrt(P)) if sd_excess > 0 else None
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    sortino = float(excess.mean() / downside * np.sqrt(P)) if downside > 0 else None

    mdd, peak, trough, recovery = drawdown_stats(r)
    end = recovery if recovery is not None else n
    drawdown = Drawdown(
        max_drawdown=mdd, peak_index=peak, trough_index=trough, recovery_index=recovery,
        peak_date=_date(wealth_dates, peak), trough_date=_date(wealth_dates, trough),
        recovery_date=_date(wealth_dates, recovery), duration_periods=end - peak,
    )
    calmar = float(cagr / abs(mdd)) if mdd < 0 else None

    ret_dates = wealth_dates[1:] if wealth_dates is not None else None
    best, worst = int(np.argmax(r)), int(np.argmin(r))

    bench = None
    if req.benchmark_returns is not None or req.benchmark_equity is not None:
        b = _returns(req.benchmark_returns, req.benchmark_equity, "benchmark_")
        if b.size != n:
            field = "benchmark_equity" if req.benchmark_equity is not None else "benchmark_returns"
            raise InvalidInput(f"benchmark gives {b.size} returns, the series {n}", field=field)
        bench = _benchmark_stats(r, b, rf_p, P)

    return PerformanceResponse(
        n_periods=n, total_return=total, cagr=cagr,
        annualized_return_arithmetic=float(r.mean() * P),
        annualized_volatility=float(sd * np.sqrt(P)),
        sharpe=sharpe, sortino=sortino, calmar=calmar, drawdown=drawdown,
        hit_rate=float((r > 0).mean()),
        best_period=PeriodValue(index=best, value=float(r[best]), date=ret_dates[best] if ret_dates else None),
        worst_period=PeriodValue(index=worst, value=float(r[worst]), date=ret_dates[worst] if ret_dates else None),
        benchmark=bench,
    )


def _benchmark_stats(r: np.ndarray, b: np.ndarray, rf_p: float, P: int) -> BenchmarkStats:
    re, be = r - rf_p, b - rf_p
    var_b = float(np.var(be, ddof=1))
    if np.ptp(be) == 0 or var_b == 0:
        raise InvalidInput("benchmark returns are constant; beta is undefined", field="benchmark_returns")
    beta = float(np.cov(re, be, ddof=1)[0, 1] / var_b)
    alpha_p = float(re.mean() - beta * be.mean())
    active = r - b
    te = float(np.std(active, ddof=1) * np.sqrt(P))
    sd_r = float(np.std(r, ddof=1))
    corr = float(np.corrcoef(r, b)[0, 1]) if sd_r > 0 else 0.0
    return BenchmarkStats(
        alpha=float((1.0 + alpha_p) ** P - 1.0), beta=beta, correlation=corr, tracking_error=te,
        information_ratio=float(active.mean() * P / te) if te > 0 else 0.0,
        benchmark_total_return=float(np.prod(1.0 + b) - 1.0),
    )
