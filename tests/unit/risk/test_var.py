"""Historical, parametric and decomposed VaR against numpy/scipy and hand-computed cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from engines.risk.compute.tail import var_cvar, weighted_var_cvar
from engines.risk.compute.var import (
    cornish_fisher_tail_mean,
    cornish_fisher_z,
    decompose_var,
    historical_var,
    parametric_var,
    scenario_weights,
)
from engines.risk.models.var import DecomposeVarRequest, HistoricalVarRequest, ParametricVarRequest
from tests.unit.risk.kit import gaussian_market, positions, returns_market

pytestmark = pytest.mark.timeout(60)


def rockafellar_uryasev(losses: np.ndarray, probs: np.ndarray, a: float) -> float:
    """min_c c + E[(L - c)+] / (1 - a); the minimum is attained at a sample point."""
    return min(c + float(np.dot(probs, np.maximum(losses - c, 0.0))) / (1 - a) for c in losses)


def test_historical_when_equal_weights_then_var_is_numpy_inverted_cdf_quantile_and_cvar_is_ru_minimum():
    market, R = returns_market(500, 3, dist="t")
    w = np.array([1e6, -4e5, 2e5])
    out = historical_var(HistoricalVarRequest(positions=positions(w), market=market,
                                              confidence_levels=[0.9, 0.95, 0.99]))
    losses = -(R @ w)
    for lvl in out.levels:
        assert lvl.var == pytest.approx(np.quantile(losses, lvl.confidence, method="inverted_cdf"), rel=1e-12)
        assert lvl.cvar == pytest.approx(rockafellar_uryasev(losses, np.full(500, 1 / 500), lvl.confidence),
                                         rel=1e-10)
    assert out.n_observations == 500 and out.effective_observations == pytest.approx(500)


def test_historical_when_hand_case_then_matches_hand_computation():
    # losses 1..10 (equal weights), a = 0.85: VaR = 9th smallest = 9; CVaR = (10 + (9 - 8.5) * 9) / 1.5
    R = -np.arange(1, 11, dtype=float).reshape(-1, 1) / 100
    out = historical_var(HistoricalVarRequest(positions=[{"symbol": "A", "value": 100.0}],
                                              market={"symbols": ["A"], "returns": R.tolist()},
                                              confidence_levels=[0.85]))
    assert out.levels[0].var == pytest.approx(9.0)
    assert out.levels[0].cvar == pytest.approx((10 + 0.5 * 9) / 1.5)


def test_historical_when_horizon_then_scaled_by_sqrt_time():
    market, _ = returns_market(300, 2)
    one = historical_var(HistoricalVarRequest(positions=positions([1e6, 1e6]), market=market))
    ten = historical_var(HistoricalVarRequest(positions=positions([1e6, 1e6]), market=market, horizon_days=10))
    for a, b in zip(one.levels, ten.levels, strict=False):
        assert b.var == pytest.approx(a.var * math.sqrt(10)) and b.cvar == pytest.approx(a.cvar * math.sqrt(10))


def test_historical_when_decay_then_weighted_quantile_and_ru_cvar():
    market, R = returns_market(200, 2, dist="t")
    w = np.array([1e6, 5e5])
    out = historical_var(HistoricalVarRequest(positions=positions(w), market=market, decay=0.97,
                                              confidence_levels=[0.95, 0.99]))
    losses = -(R @ w)
    p = 0.97 ** np.arange(199, -1, -1.0)
    p /= p.sum()
    order = np.argsort(losses)
    for lvl in out.levels:
        cum = np.cumsum(p[order])
        expect = losses[order][np.argmax(cum >= lvl.confidence - 1e-12)]
        assert lvl.var == pytest.approx(expect)
        assert lvl.cvar == pytest.approx(rockafellar_uryasev(losses, p, lvl.confidence), rel=1e-10)
    assert out.method == "historical_exponential" and out.effective_observations < 200


def test_weighted_when_decay_is_one_then_equals_equal_weights():
    rng = np.random.default_rng(3)
    losses = rng.normal(size=1000)
    for a in (0.9, 0.975, 0.99):
        assert weighted_var_cvar(losses, scenario_weights(1000, 1.0), a) == pytest.approx(var_cvar(losses, a))


def test_parametric_gaussian_when_covariance_then_closed_form():
    market, mu, C = gaussian_market(4)
    w = np.array([1e6, 2e6, -5e5, 3e5])
    out = parametric_var(ParametricVarRequest(positions=positions(w), market=market, horizon_days=5,
                                              confidence_levels=[0.95, 0.99]))
    m, s = w @ mu, math.sqrt(w @ C @ w)
    for lvl in out.levels:
        z = stats.norm.ppf(lvl.confidence)
        assert lvl.var == pytest.approx(-5 * m + z * s * math.sqrt(5), rel=1e-12)
        # ES of a normal: scipy.stats.norm.expect of the tail
        tail = stats.norm.expect(lambda x: x, loc=-5 * m, scale=s * math.sqrt(5),
                                 lb=stats.norm.ppf(lvl.confidence, -5 * m, s * math.sqrt(5)), conditional=True)
        assert lvl.cvar == pytest.approx(tail, rel=1e-8)


def test_cornish_fisher_when_no_skew_or_kurtosis_then_gaussian():
    for a in (0.9, 0.95, 0.99):
        q = stats.norm.ppf(1 - a)
        assert cornish_fisher_z(q, 0.0, 0.0) == pytest.approx(q)
        assert cornish_fisher_tail_mean(q, 0.0, 0.0) == pytest.approx(-stats.norm.pdf(q) / (1 - a))


@pytest.mark.parametrize("skew,kurt", [(-0.8, 3.0), (0.5, 1.0), (-0.2, 6.0)])
def test_cornish_fisher_tail_mean_when_integrated_numerically_then_equal(skew, kurt):
    q = stats.norm.ppf(0.01)
    numeric, _ = integrate.quad(lambda x: cornish_fisher_z(x, skew, kurt) * stats.norm.pdf(x), -np.inf, q)
    assert cornish_fisher_tail_mean(q, skew, kurt) == pytest.approx(numeric / 0.01, rel=1e-9)


def test_parametric_cornish_fisher_when_history_then_hand_expansion_with_scipy_moments():
    market, R = returns_market(1000, 3, dist="t")
    w = np.array([1e6, 1e6, 1e6])
    out = parametric_var(ParametricVarRequest(positions=positions(w), market=market, method="cornish_fisher",
                                              confidence_levels=[0.99]))
    x = R @ w
    S, K = stats.skew(x, bias=False), stats.kurtosis(x, bias=False)
    q = stats.norm.ppf(0.01)
    qcf = q + (q**2 - 1) * S / 6 + (q**3 - 3 * q) * K / 24 - (2 * q**3 - 5 * q) * S**2 / 36
    assert out.levels[0].var == pytest.approx(-(x.mean() + x.std(ddof=1) * qcf), rel=1e-9)
    assert out.skewness == pytest.approx(S) and out.excess_kurtosis == pytest.approx(K)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.5, 0.999), min_size=2, max_size=5, unique=True), st.integers(0, 10_000))
def test_var_when_confidence_rises_then_var_and_cvar_do_not_fall(levels, seed):
    market, _ = returns_market(250, 2, seed=seed % 7, dist="t")
    levels = sorted(levels)
    for out in (historical_var(HistoricalVarRequest(positions=positions([1e6, -3e5]), market=market,
                                                    confidence_levels=levels)),
                parametric_var(ParametricVarRequest(positions=positions([1e6, -3e5]), market=market,
                                                    confidence_levels=levels))):
        v = [lv.var for lv in out.levels]
        c = [lv.cvar for lv in out.levels]

        def tol(a: float, b: float) -> float:  # relative: values are ~1e4-1e5 currency units
            return 1e-12 * max(1.0, abs(a), abs(b))

        assert all(b >= a - tol(a, b) for a, b in zip(v, v[1:], strict=False))
        assert all(b >= a - tol(a, b) for a, b in zip(c, c[1:], strict=False))
        assert all(ci >= vi - tol(vi, ci) for vi, ci in zip(v, c, strict=False))


def test_decompose_gaussian_when_summed_then_total_and_marginal_is_numeric_derivative():
    market, mu, C = gaussian_market(4)
    w = np.array([1e6, 2e6, -5e5, 3e5])
    out = decompose_var(DecomposeVarRequest(positions=positions(w), market=market, confidence=0.99))
    z = stats.norm.ppf(0.99)

    def total(x):
        return -(x @ mu) + z * math.sqrt(x @ C @ x)

    assert out.total_var == pytest.approx(total(w), rel=1e-12)
    assert out.sum_component_var == pytest.approx(out.total_var, rel=1e-12)
    assert out.sum_component_cvar == pytest.approx(out.total_cvar, rel=1e-12)
    for j, row in enumerate(out.positions):
        e = np.zeros(4)
        e[j] = 1.0
        fd = (total(w + e) - total(w - e)) / 2.0
        assert row.marginal_var == pytest.approx(fd, rel=1e-6)
    assert sum(r.component_var_pct for r in out.positions) == pytest.approx(1.0)


def test_decompose_historical_when_summed_then_cvar_components_give_tail_mean():
    market, R = returns_market(400, 3, dist="t")  # a * n = 396 is an integer: tail mean == CVaR
    w = np.array([1e6, 5e5, -2e5])
    out = decompose_var(DecomposeVarRequest(positions=positions(w), market=market, method="historical",
                                            confidence=0.99))
    losses = -(R @ w)
    tail = np.sort(losses)[396:]
    assert out.total_var == pytest.approx(np.quantile(losses, 0.99, method="inverted_cdf"))
    assert out.sum_component_cvar == pytest.approx(tail.mean(), rel=1e-10)
    assert out.sum_component_cvar == pytest.approx(out.total_cvar, rel=1e-10)
    # VaR components: mean loss of the 2b+1 scenarios around rank 396, b = floor(sqrt(400)/4) = 5
    window = np.sort(losses)[396 - 1 - 5: 396 + 5]
    assert out.sum_component_var == pytest.approx(window.mean(), rel=1e-10)
