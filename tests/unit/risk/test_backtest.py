"""Kupiec and Christoffersen statistics vs hand computation with scipy's chi-square."""

import math

import numpy as np
import pytest
from scipy import stats

from backend.core.errors import InvalidInput
from engines.risk.compute.backtest import backtest_var
from engines.risk.models.backtest import BacktestVarRequest

pytestmark = pytest.mark.timeout(60)


def series(hits: list[int]) -> tuple[list[float], list[float]]:
    var = [1.0] * len(hits)
    pnl = [-2.0 if h else 0.5 for h in hits]
    return var, pnl


def test_backtest_when_hand_case_then_kupiec_and_christoffersen_match_formulas():
    hits = [0] * 250
    for i in (10, 11, 50, 120, 121, 200):
        hits[i] = 1
    var, pnl = series(hits)
    out = backtest_var(BacktestVarRequest(var=var, pnl=pnl, confidence=0.99))
    n, x, p = 250, 6, 0.01
    lr_pof = -2 * ((n - x) * math.log(1 - p) + x * math.log(p)) + 2 * ((n - x) * math.log(1 - x / n)
                                                                      + x * math.log(x / n))
    assert out.n_exceptions == 6 and out.kupiec_pof.statistic == pytest.approx(lr_pof, rel=1e-12)
    assert out.kupiec_pof.p_value == pytest.approx(stats.chi2.sf(lr_pof, 1), rel=1e-12)
    # transitions: 0->1 four times, 1->1 twice, 1->0 four times, the rest 0->0
    n01, n11, n10 = 4, 2, 4
    n00 = 249 - n01 - n11 - n10
    assert out.transitions == {"n00": n00, "n01": n01, "n10": n10, "n11": n11}
    pi0, pi1, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / 249
    lr_ind = -2 * ((n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)) + 2 * (
        n00 * math.log(1 - pi0) + n01 * math.log(pi0) + n10 * math.log(1 - pi1) + n11 * math.log(pi1))
    assert out.christoffersen_independence.statistic == pytest.approx(lr_ind, rel=1e-12)
    assert out.christoffersen_independence.reject  # clustered exceptions
    assert out.conditional_coverage.p_value == pytest.approx(stats.chi2.sf(lr_pof + lr_ind, 2), rel=1e-12)
    assert [e.index for e in out.exceptions] == [10, 11, 50, 120, 121, 200]
    assert out.exceptions[0].excess == pytest.approx(1.0)


def test_backtest_when_no_exceptions_then_lr_is_minus_two_n_log_one_minus_p():
    out = backtest_var(BacktestVarRequest(var=[1.0] * 100, pnl=[0.0] * 100, confidence=0.95))
    assert out.n_exceptions == 0
    assert out.kupiec_pof.statistic == pytest.approx(-2 * 100 * math.log(0.95))
    assert out.christoffersen_independence.statistic == pytest.approx(0.0)


@pytest.mark.parametrize("x,zone", [(4, "green"), (5, "yellow"), (9, "yellow"), (10, "red")])
def test_backtest_when_250_days_at_99_then_basel_traffic_light(x, zone):
    hits = [1] * x + [0] * (250 - x)
    var, pnl = series(hits)
    assert backtest_var(BacktestVarRequest(var=var, pnl=pnl, confidence=0.99)).traffic_light == zone


def test_backtest_when_lengths_differ_then_invalid():
    with pytest.raises(InvalidInput) as e:
        backtest_var(BacktestVarRequest(var=[1.0, 1.0, 1.0], pnl=[0.0, 0.0]))
    assert e.value.field == "pnl"


def test_backtest_when_exact_loss_equals_var_then_not_an_exception():
    out = backtest_var(BacktestVarRequest(var=[1.0, 1.0], pnl=[-1.0, -1.0000001]))
    assert [e.index for e in out.exceptions] == [1]
    assert np.isfinite(out.kupiec_pof.statistic)
