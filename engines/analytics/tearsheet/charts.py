"""Tear-sheet charts drawn with matplotlib's object API (``Figure``, no pyplot state: thread-safe).

Each chart function takes the prepared series and an ``Axes``-holding figure and draws one view:
equity vs benchmark, drawdown (underwater), monthly returns heat map, rolling Sharpe and beta,
return distribution, weights over time. ``render`` returns PNG or SVG bytes.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display here; set before the figure modules load a backend
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from engines.analytics.models_series import CalendarResponse, RollingResponse  # noqa: E402
from engines.analytics.models_tearsheet import WeightsHistory  # noqa: E402

DPI = 100


@dataclass(frozen=True)
class Series:
    returns: np.ndarray
    x: list[dt.date] | np.ndarray
    benchmark: np.ndarray | None
    benchmark_name: str
    rolling: RollingResponse
    rolling_x: list[dt.date] | np.ndarray
    calendar: CalendarResponse | None
    weights: WeightsHistory | None


def _wealth(r: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 + r)


def equity(fig: Figure, s: Series) -> None:
    ax = fig.subplots()
    ax.plot(s.x, _wealth(s.returns), label="portfolio", color="#1f4e79", lw=1.4)
    if s.benchmark is not None:
        ax.plot(s.x, _wealth(s.benchmark), label=s.benchmark_name, color="#999999", lw=1.1)
    ax.set_title("Growth of 1")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)


def drawdown(fig: Figure, s: Series) -> None:
    ax = fig.subplots()
    w = _wealth(s.returns)
    dd = w / np.maximum.accumulate(np.maximum(w, 1.0)) - 1.0
    ax.fill_between(s.x, dd * 100, 0, color="#c0392b", alpha=0.5)
    ax.set_title("Drawdown (%)")
    ax.grid(alpha=0.3)


def monthly_heatmap(fig: Figure, s: Series) -> None:
    ax = fig.subplots()
    if s.calendar is None:
        ax.text(0.5, 0.5, "no dates: no calendar", ha="center", va="center")
        ax.set_axis_off()
        return
    years = [y.year for y in s.calendar.years]
    grid = np.array([[np.nan if m is None else m * 100 for m in y.months] for y in s.calendar.years])
    lim = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
    ax.imshow(grid, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(12), ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"])
    ax.set_yticks(range(len(years)), [str(y) for y in years])
    if grid.size <= 600:
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7)
    ax.set_title("Monthly returns (%)")


def rolling(fig: Figure, s: Series) -> None:
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    sharpe = np.array([np.nan if v is None else v for v in s.rolling.sharpe])
    ax1.plot(s.rolling_x, sharpe, color="#1f4e79", lw=1.1)
    ax1.axhline(0, color="black", lw=0.6)
    ax1.set_title(f"Rolling Sharpe ({s.rolling.window} periods)")
    ax1.grid(alpha=0.3)
    if s.rolling.beta is not None:
        beta = np.array([np.nan if v is None else v for v in s.rolling.beta])
        ax2.plot(s.rolling_x, beta, color="#7d3c98", lw=1.1)
        ax2.set_title(f"Rolling beta to {s.benchmark_name}")
    else:
        ax2.text(0.5, 0.5, "no benchmark: no beta", ha="center", va="center", transform=ax2.transAxes)
    ax2.grid(alpha=0.3)


def distribution(fig: Figure, s: Series) -> None:
    ax = fig.subplots()
    r = s.returns * 100
    ax.hist(r, bins=min(80, max(10, r.size // 20)), color="#1f4e79", alpha=0.75)
    q = np.quantile(r, 0.05)
    ax.axvline(q, color="#c0392b", ls="--", label=f"5% quantile {q:.2f}%")
    ax.axvline(r.mean(), color="black", lw=0.8, label=f"mean {r.mean():.3f}%")
    ax.set_title("Return distribution (%)")
    ax.legend()


def weights(fig: Figure, s: Series) -> None:
    ax = fig.subplots()
    if s.weights is None:
        ax.text(0.5, 0.5, "no weights history given", ha="center", va="center")
        ax.set_axis_off()
        return
    W = np.asarray(s.weights.weights, dtype=float)
    ax.stackplot(s.weights.dates, W.T, labels=s.weights.symbols, step="post" if len(s.weights.dates) < 50 else None)
    ax.set_title("Weights over time")
    ax.legend(loc="upper left", fontsize=7, ncol=max(1, len(s.weights.symbols) // 10))
    ax.set_ylim(min(0.0, float(W.sum(axis=1).min())), max(1.0, float(W.sum(axis=1).max())))


DRAW = {"equity": equity, "drawdown": drawdown, "monthly_heatmap": monthly_heatmap, "rolling": rolling,
        "distribution": distribution, "weights": weights}


def render(name: str, s: Series, fmt: str = "png", width_px: int = 900, height_px: int = 400) -> bytes:
    """One chart as PNG or SVG bytes."""
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    DRAW[name](fig, s)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()
