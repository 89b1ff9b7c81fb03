"""Tear-sheet operations: the HTML report and single charts. Pure (matplotlib renders in memory).

The report's figures are the analytics engine's own operations on the same series: ``performance``
for the summary, ``drawdown_table`` (top 5), ``calendar`` for monthly/yearly returns and ``rolling``
for the rolling Sharpe and beta. Charts are embedded as data URIs so the page stands alone.
"""

from __future__ import annotations

import base64
import html

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest, PerformanceResponse
from engines.analytics.models_series import CalendarRequest, DrawdownTableRequest, RollingRequest
from engines.analytics.models_tearsheet import (
    CHARTS,
    ChartRequest,
    ChartResponse,
    TearSheetRequest,
    TearSheetResponse,
)
from engines.analytics.series import calendar, drawdown_table, rolling
from engines.analytics.tearsheet.charts import Series, render

MEDIA = {"png": "image/png", "svg": "image/svg+xml"}


def _series(req: TearSheetRequest) -> Series:
    if req.returns is None:
        raise InvalidInput("the account's returns must be resolved by the engine's database step", field="account")
    r = np.asarray(req.returns, dtype=float)
    if req.dates is not None and len(req.dates) != r.size:
        raise InvalidInput(f"needs {r.size} dates (one per return), got {len(req.dates)}", field="dates")
    b = None if req.benchmark_returns is None else np.asarray(req.benchmark_returns, dtype=float)
    if b is not None and b.size != r.size:
        raise InvalidInput(f"benchmark has {b.size} returns, the series {r.size}", field="benchmark_returns")
    window = min(req.rolling_window, r.size)
    roll = rolling(RollingRequest(returns=req.returns, dates=req.dates, benchmark_returns=req.benchmark_returns,
                                  window=window, periods_per_year=req.periods_per_year,
                                  risk_free_rate=req.risk_free_rate))
    cal = calendar(CalendarRequest(returns=req.returns, dates=req.dates)) if req.dates else None
    x = list(req.dates) if req.dates else np.arange(r.size)
    if req.weights_history is not None:
        wh = req.weights_history
        if len(wh.weights) != len(wh.dates) or any(len(row) != len(wh.symbols) for row in wh.weights):
            raise InvalidInput("weights must be one row per date and one column per symbol",
                               field="weights_history.weights")
    return Series(returns=r, x=x, benchmark=b, benchmark_name=req.benchmark_name, rolling=roll,
                  rolling_x=x[window - 1:], calendar=cal, weights=req.weights_history)


def _metrics(req: TearSheetRequest) -> PerformanceResponse:
    return performance(PerformanceRequest(returns=req.returns, dates=req.dates,
                                          benchmark_returns=req.benchmark_returns,
                                          periods_per_year=req.periods_per_year, risk_free_rate=req.risk_free_rate))


def chart(req: ChartRequest, ctx: OpContext | None = None) -> ChartResponse:
    data = render(req.chart, _series(req), req.format, req.width_px, req.height_px)
    return ChartResponse(chart=req.chart, media_type=MEDIA[req.format], data_base64=base64.b64encode(data).decode(),
                         width_px=req.width_px, height_px=req.height_px)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.2f}%"


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def tear_sheet(req: TearSheetRequest, ctx: OpContext | None = None) -> TearSheetResponse:
    s = _series(req)
    m = _metrics(req)
    names = [c for c in CHARTS if c != "weights" or req.weights_history is not None]
    imgs = {}
    for name in names:
        h = 520 if name in ("rolling", "monthly_heatmap") else 360
        data = render(name, s, req.format, 1000, h)
        imgs[name] = f"data:{MEDIA[req.format]};base64,{base64.b64encode(data).decode()}"
    dd = drawdown_table(DrawdownTableRequest(returns=req.returns, dates=req.dates, top=5))
    rows = [("Periods", str(m.n_periods)), ("Total return", _pct(m.total_return)), ("CAGR", _pct(m.cagr)),
            ("Volatility (ann.)", _pct(m.annualized_volatility)), ("Sharpe", _num(m.sharpe)),
            ("Sortino", _num(m.sortino)), ("Calmar", _num(m.calmar)), ("Max drawdown", _pct(m.drawdown.max_drawdown)),
            ("Hit rate", _pct(m.hit_rate)), ("Best period", _pct(m.best_period.value)),
            ("Worst period", _pct(m.worst_period.value))]
    if m.benchmark is not None:
        b = m.benchmark
        rows += [("Alpha (ann.)", _pct(b.alpha)), ("Beta", _num(b.beta)), ("Correlation", _num(b.correlation)),
                 ("Tracking error", _pct(b.tracking_error)), ("Information ratio", _num(b.information_ratio)),
                 (f"{req.benchmark_name} total return", _pct(b.benchmark_total_return))]
    metrics_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    dd_html = "".join(
        f"<tr><td>{_pct(d.depth)}</td><td>{d.peak_date or d.peak_index}</td><td>{d.trough_date or d.trough_index}"
        f"</td><td>{d.recovery_date or d.recovery_index or 'not recovered'}</td><td>{d.total_periods}</td></tr>"
        for d in dd.drawdowns)
    years_html = ""
    if s.calendar is not None:
        years_html = "<h2>Yearly returns</h2><table><tr><th>Year</th><th>Return</th></tr>" + "".join(
            f"<tr><td>{y.year}</td><td>{_pct(y.total)}</td></tr>" for y in s.calendar.years) + "</table>"
    charts_html = "".join(f'<figure><img alt="{n}" src="{src}"></figure>' for n, src in imgs.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(req.title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1060px}}
table{{border-collapse:collapse;margin:8px 0 20px}}
td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}
.cols{{display:flex;gap:40px;flex-wrap:wrap}}figure{{margin:8px 0}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(req.title)}</h1>
<p>{m.n_periods} periods{f" from {req.dates[0]} to {req.dates[-1]}" if req.dates else ""}, {req.periods_per_year}
periods a year, risk-free rate {req.risk_free_rate:.2%} a year.</p>
<div class="cols"><div><h2>Summary</h2><table>{metrics_html}</table></div>
<div><h2>Worst drawdowns</h2><table><tr><th>Depth</th><th>Peak</th><th>Trough</th><th>Recovery</th>
<th>Periods</th></tr>{dd_html}</table>{years_html}</div></div>
{charts_html}
<p style="color:#888">Nautilus analytics engine: metrics as in its performance operation; charts by matplotlib.</p>
</body></html>"""
    return TearSheetResponse(html=page, charts=list(imgs), metrics=m, n_periods=m.n_periods)
