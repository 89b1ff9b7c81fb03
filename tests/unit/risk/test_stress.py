"""Stress tests against hand-computed windows and closed-form stressed VaR."""

import datetime as dt
import math

import numpy as np
import pytest
from scipy import stats

from backend.core.errors import InvalidInput
from engines.risk.compute.stress import historical_stress, hypothetical_stress
from engines.risk.models.stress import HistoricalStressRequest, HypotheticalStressRequest
from tests.unit.risk.kit import covariance

pytestmark = pytest.mark.timeout(60)
D0 = dt.date(2020, 3, 2)


def dated_market():  # noqa: ANN201
    R = np.array([[0.01, 0.0], [-0.10, -0.02], [-0.05, 0.01], [0.02, 0.0], [0.03, -0.04], [-0.08, 0.02],
                  [0.01, 0.01]])
    dates = [D0 + dt.timedelta(days=i) for i in range(len(R))]
    return {"symbols": ["A", "B"], "returns": R.tolist(), "dates": [d.isoformat() for d in dates]}, R, dates


def test_historical_when_two_day_windows_then_worst_are_hand_computed_and_disjoint():
    market, R, dates = dated_market()
    w = np.array([1000.0, 500.0])
    out = historical_stress(HistoricalStressRequest(positions=[{"symbol": "A", "value": 1000}, {"symbol": "B",
                            "value": 500}], market=market, window_days=2, worst_count=3))
    pnl = [w @ ((1 + R[t]) * (1 + R[t + 1]) - 1) for t in range(len(R) - 1)]
    # worst is rows 1-2; row 0-1 and 2-3 overlap it; next disjoint candidates by P&L
    assert out.worst_windows[0].start_index == 1 and out.worst_windows[0].pnl_total == pytest.approx(pnl[1])
    assert out.worst_windows[0].start_date == dates[1] and out.worst_windows[0].end_date == dates[2]
    starts = [x.start_index for x in out.worst_windows]
    assert all(abs(a - b) >= 2 for i, a in enumerate(starts) for b in starts[i + 1:])
    assert out.worst_windows[1].pnl_total == pytest.approx(min(pnl[t] for t in range(len(pnl))
                                                               if abs(t - 1) >= 2))
    a = out.worst_windows[0].positions[0]
    assert a.symbol == "A" and a.pnl == pytest.approx(1000 * ((1 - 0.10) * (1 - 0.05) - 1))


def test_historical_when_named_window_then_compounded_returns_within_dates():
    market, R, dates = dated_market()
    out = historical_stress(HistoricalStressRequest(
        positions=[{"symbol": "A", "value": 1000}], market=market, worst_count=0, window_days=1,
        named_windows=[{"name": "covid", "start": dates[1].isoformat(), "end": dates[3].isoformat()}]))
    nw = out.named_windows[0]
    assert nw.name == "covid" and nw.pnl_total == pytest.approx(1000 * (0.9 * 0.95 * 1.02 - 1))
    assert (nw.start_date, nw.end_date) == (dates[1], dates[3])


def test_historical_when_named_window_outside_data_then_invalid_naming_it():
    market, _, _ = dated_market()
    with pytest.raises(InvalidInput) as e:
        historical_stress(HistoricalStressRequest(positions=[{"symbol": "A", "value": 1}], market=market,
                                                  window_days=2, named_windows=[{"name": "gfc", "start": "2008-09-01",
                                                                  "end": "2008-11-30"}]))
    assert e.value.field == "named_windows.0"


def test_hypothetical_when_shocks_then_asset_over_sector_over_market_beta():
    out = hypothetical_stress(HypotheticalStressRequest(
        positions=[{"symbol": "A", "value": 100, "sector": "tech"}, {"symbol": "B", "value": 200, "sector": "tech"},
                   {"symbol": "C", "value": -50, "sector": "energy", "beta": 1.5}],
        scenarios=[{"name": "s", "asset_shocks": {"A": -0.3}, "sector_shocks": {"tech": -0.1},
                    "market_shock": -0.2}]))
    sc = out.scenarios[0]
    assert [p.pnl for p in sc.positions] == pytest.approx([-30.0, -20.0, 15.0])
    assert sc.pnl_total == pytest.approx(-35.0) and sc.pnl_pct == pytest.approx(-35.0 / 350)


def test_hypothetical_when_correlation_to_one_then_var_is_sum_of_standalone_vars():
    C = covariance(3, 4)
    w = np.array([1e6, 2e6, 5e5])
    market = {"symbols": ["A", "B", "C"], "covariance": C.tolist()}
    out = hypothetical_stress(HypotheticalStressRequest(
        positions=[{"symbol": s, "value": v} for s, v in zip("ABC", w, strict=False)], market=market, confidence=0.99,
        scenarios=[{"name": "corr", "correlation_to_one": True}, {"name": "vol", "volatility_multiplier": 2.0}]))
    z = stats.norm.ppf(0.99)
    standalone = sum(z * abs(v) * math.sqrt(C[i, i]) for i, v in enumerate(w))
    assert out.scenarios[0].var_stressed == pytest.approx(standalone, rel=1e-12)
    assert out.scenarios[0].var_base == pytest.approx(z * math.sqrt(w @ C @ w))
    assert out.scenarios[1].var_stressed == pytest.approx(2 * out.scenarios[1].var_base)


def test_hypothetical_when_sector_unknown_or_vol_without_market_then_invalid():
    with pytest.raises(InvalidInput) as e:
        hypothetical_stress(HypotheticalStressRequest(positions=[{"symbol": "A", "value": 1}],
                                                      scenarios=[{"name": "x", "sector_shocks": {"tech": -0.1}}]))
    assert e.value.field == "scenarios.0.sector_shocks"
    with pytest.raises(InvalidInput) as e:
        hypothetical_stress(HypotheticalStressRequest(positions=[{"symbol": "A", "value": 1}],
                                                      scenarios=[{"name": "x", "volatility_multiplier": 3}]))
    assert e.value.field == "market"
    with pytest.raises(InvalidInput) as e:
        hypothetical_stress(HypotheticalStressRequest(positions=[{"symbol": "A", "value": 1}],
                                                      scenarios=[{"name": "x", "asset_shocks": {"Q": -0.1}}]))
    assert e.value.field == "scenarios.0.asset_shocks"
