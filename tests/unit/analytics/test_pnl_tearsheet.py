"""P&L from fills and marks by hand; tear sheets render real images and the engine's own figures."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest
from engines.analytics.models_pnl import PnlRequest
from engines.analytics.models_tearsheet import ChartRequest, TearSheetRequest
from engines.analytics.pnl import pnl
from engines.analytics.tearsheet.report import chart, tear_sheet


def test_pnl_when_hand_computed_then_realised_unrealised_fees_match():
    fills = [{"ts": "2024-01-02T15:00:00Z", "symbol": "A", "side": "buy", "qty": 100, "price": 10.0, "fee": 1.0},
             {"ts": "2024-01-03T15:00:00Z", "symbol": "A", "side": "buy", "qty": 100, "price": 12.0, "fee": 1.0},
             {"ts": "2024-01-04T15:00:00Z", "symbol": "A", "side": "sell", "qty": 150, "price": 13.0, "fee": 1.0}]
    closes = [(2, 10.5), (3, 11.0), (4, 13.5), (5, 14.0)]
    marks = [{"date": f"2024-01-0{d}", "symbol": "A", "close": c} for d, c in closes]
    out = pnl(PnlRequest(fills=fills, marks=marks, starting_equity=10_000))
    assert [d.date.day for d in out.days] == [2, 3, 4, 5]
    assert out.days[0].unrealised == pytest.approx(50.0) and out.days[0].fees == 1.0
    assert out.days[1].unrealised == pytest.approx(0.0)  # avg cost 11, mark 11
    assert out.days[2].realised == pytest.approx(150 * (13 - 11))
    assert out.days[3].unrealised == pytest.approx(50 * (14 - 11))
    assert out.total == pytest.approx(300 + 150 - 3)
    assert out.days[1].ret == pytest.approx((out.days[1].total - out.days[0].total) / out.days[0].equity)


@pytest.fixture(scope="module")
def series() -> dict:
    rng = np.random.default_rng(5)
    dates = [d.date() for d in __import__("pandas").bdate_range("2015-01-01", periods=800)]
    r = rng.normal(4e-4, 0.01, 800)
    return {"returns": r.tolist(), "dates": dates, "benchmark_returns": (0.7 * r + rng.normal(0, 0.004, 800)).tolist()}


def test_tear_sheet_when_rendered_then_embeds_decodable_pngs_and_performance_figures(series):
    out = tear_sheet(TearSheetRequest(**series, title="T & <b>"))
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', out.html)
    assert len(imgs) == len(out.charts) == 5  # no weights history given: no weights chart
    for b64 in imgs:
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert im.format == "PNG" and im.size[0] == 1000
    assert out.metrics == performance(PerformanceRequest(returns=series["returns"], dates=series["dates"],
                                                         benchmark_returns=series["benchmark_returns"]))
    assert "T &amp; &lt;b&gt;" in out.html and f"{out.metrics.sharpe:.2f}" in out.html


def test_chart_when_svg_then_svg_document(series):
    out = chart(ChartRequest(**series, chart="monthly_heatmap", format="svg", width_px=600, height_px=300))
    assert out.media_type == "image/svg+xml" and b"<svg" in base64.b64decode(out.data_base64)[:400]


def test_pnl_when_a_fill_has_a_maker_rebate_then_negative_fee_adds_to_total():
    # the trading core stores a maker rebate as a negative fee; an account with one answered 500
    fills = [{"ts": "2024-01-02T15:00:00Z", "symbol": "A", "side": "buy", "qty": 10, "price": 10.0, "fee": -0.3},
             {"ts": "2024-01-03T15:00:00Z", "symbol": "A", "side": "sell", "qty": 10, "price": 11.0, "fee": 1.0}]
    marks = [{"date": "2024-01-02", "symbol": "A", "close": 10.0}, {"date": "2024-01-03", "symbol": "A", "close": 11.0}]
    out = pnl(PnlRequest(fills=fills, marks=marks, starting_equity=1_000))
    assert out.days[0].fees == pytest.approx(-0.3) and out.days[0].total == pytest.approx(0.3)
    assert out.fees == pytest.approx(0.7) and out.total == pytest.approx(10 - 0.7)
