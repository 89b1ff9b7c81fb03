"""Factor compute and expressions against values computed here by hand (numpy slices and loops, not the
library's own rolling code), history checks at window - 1, window and window + 1 bars, and the factor
correlation matrix checked in every element (symmetric, unit diagonal, each entry the mean per-date
correlation from scipy).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from backend.core.errors import InvalidInput
from engines.factor.compute import evaluate_factors, evaluate_panels, factor_values, process
from engines.factor.expression import evaluate, parse
from engines.factor.library import LIBRARY
from engines.factor.models import EvaluateFactorsRequest, EvaluationOptions, FactorSpec, Processing
from tests.unit.factor.data import panel

pytestmark = pytest.mark.timeout(60)


def _panel(rows: int, cols: int = 4, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (rows, cols)), axis=0))
    return {"close": close, "volume": rng.uniform(1e5, 1e6, (rows, cols))}


def _fv(spec: FactorSpec, p: dict[str, np.ndarray]) -> np.ndarray:
    return factor_values(spec, "factors.0", p, None, {})


def _returns(c: np.ndarray) -> np.ndarray:
    r = np.full_like(c, np.nan)
    r[1:] = c[1:] / c[:-1] - 1
    return r


# ---- history checks at the boundary ------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "history"),
    [
        (FactorSpec(name="momentum", params={"lookback": 10, "skip": 2}), 10),
        (FactorSpec(name="reversal", params={"window": 6}), 6),
        (FactorSpec(name="low_volatility", params={"window": 8}), 8),
        (FactorSpec(expression="ts_mean(close, 7) / delay(close, 3)"), 7),
        (FactorSpec(expression="delta(close, 9)"), 9),
    ],
)
def test_factor_when_panel_has_history_minus_one_equal_or_plus_one_bars_then_refused_refused_and_computed(
    spec: FactorSpec, history: int
) -> None:
    for rows in (history - 1, history):
        with pytest.raises(InvalidInput) as e:
            _fv(spec, _panel(rows))
        assert e.value.field.startswith("factors.0.")
    out = _fv(spec, _panel(history + 1))
    assert out.shape == (history + 1, 4) and np.isfinite(out[-1]).all()


def test_momentum_when_lookback_and_skip_then_each_value_by_hand() -> None:
    p = _panel(30)
    c = p["close"]
    out = _fv(FactorSpec(name="momentum", params={"lookback": 10, "skip": 2}), p)
    assert np.isnan(out[:10]).all()
    for t in range(10, 30):
        np.testing.assert_allclose(out[t], c[t - 2] / c[t - 10] - 1, rtol=1e-13)


def test_reversal_and_low_volatility_when_computed_then_by_hand_at_each_date() -> None:
    p = _panel(25)
    c = p["close"]
    r = _returns(c)
    rev = _fv(FactorSpec(name="reversal", params={"window": 5}), p)
    lv = _fv(FactorSpec(name="low_volatility", params={"window": 5}), p)
    assert np.isnan(rev[:5]).all() and np.isnan(lv[:5]).all()
    for t in range(5, 25):
        np.testing.assert_allclose(rev[t], -(c[t] / c[t - 5] - 1), rtol=1e-13)
        np.testing.assert_allclose(lv[t], -r[t - 4 : t + 1].std(axis=0, ddof=1) * np.sqrt(252), rtol=1e-9)


def test_beta_when_computed_then_ols_slope_on_the_equal_weighted_market_by_hand() -> None:
    p = _panel(40, cols=5)
    r = _returns(p["close"])
    m = r.mean(axis=1)
    out = _fv(FactorSpec(name="beta", params={"window": 10}), p)
    for t in (10, 25, 39):
        for j in range(5):
            assert out[t, j] == pytest.approx(stats.linregress(m[t - 9 : t + 1], r[t - 9 : t + 1, j]).slope, rel=1e-9)


# ---- expressions against hand loops ------------------------------------------------------------
def _ev(text: str, p: dict[str, np.ndarray]) -> np.ndarray:
    q = dict(p)
    q["returns"] = _returns(p["close"])
    return evaluate(parse(text, frozenset(LIBRARY)), q, {})


def _by_hand(fn, x: np.ndarray, n: int) -> np.ndarray:  # noqa: ANN001
    """fn over each trailing window of n rows; NaN until n rows exist."""
    out = np.full_like(x, np.nan)
    for t in range(n - 1, x.shape[0]):
        out[t] = fn(x[t - n + 1 : t + 1])
    return out


@pytest.mark.parametrize("n", [1, 2, 5])
def test_time_series_functions_when_evaluated_then_equal_hand_windows(n: int) -> None:
    p = _panel(20)
    c = p["close"]
    lagged = np.full_like(c, np.nan)
    lagged[n:] = c[:-n]
    cases = {
        f"delay(close, {n})": lagged,
        f"delta(close, {n})": c - lagged,
        f"pct_change(close, {n})": c / lagged - 1,
        f"ts_mean(close, {n})": _by_hand(lambda w: w.mean(axis=0), c, n),
        f"ts_sum(close, {n})": _by_hand(lambda w: w.sum(axis=0), c, n),
        f"ts_min(close, {n})": _by_hand(lambda w: w.min(axis=0), c, n),
        f"ts_max(close, {n})": _by_hand(lambda w: w.max(axis=0), c, n),
    }
    if n > 1:
        cases[f"ts_std(close, {n})"] = _by_hand(lambda w: w.std(axis=0, ddof=1), c, n)
        mean, sd = _by_hand(lambda w: w.mean(axis=0), c, n), _by_hand(lambda w: w.std(axis=0, ddof=1), c, n)
        cases[f"ts_zscore(close, {n})"] = (c - mean) / sd
    for text, want in cases.items():
        np.testing.assert_allclose(_ev(text, p), want, rtol=1e-10, equal_nan=True, err_msg=text)


def test_cross_sectional_functions_when_evaluated_then_equal_hand_ranks_and_zscores() -> None:
    p = {"close": np.array([[3.0, 1.0, 2.0, 2.0], [4.0, np.nan, 1.0, 9.0]]), "volume": np.ones((2, 4))}
    np.testing.assert_allclose(_ev("cs_rank(close)", p)[0], [1.0, 0.0, 0.5, 0.5])  # average ranks of ties
    np.testing.assert_allclose(_ev("cs_rank(close)", p)[1], [0.5, np.nan, 0.0, 1.0], equal_nan=True)
    row = np.array([3.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(_ev("cs_zscore(close)", p)[0], (row - 2.0) / row.std(), rtol=1e-12)


def test_arithmetic_functions_when_evaluated_then_equal_numpy_by_hand() -> None:
    p = {"close": np.array([[4.0, 9.0, 0.25]]), "volume": np.array([[2.0, -3.0, 0.5]])}
    c, v = p["close"], p["volume"]
    cases = {
        "close - volume * 2": c - v * 2,
        "(close - volume) * 2": (c - v) * 2,
        "close / volume / 2": c / v / 2,
        "-close ^ 2": -(c**2),
        "2 ^ 3 ^ 2": np.full_like(c, 2.0**9),  # right-associative
        "sqrt(close) + abs(volume)": np.sqrt(c) + np.abs(v),
        "log(close) * sign(volume)": np.log(c) * np.sign(v),
        "max(close, volume) - min(close, volume)": np.abs(c - v),
        "1 - close": 1 - c,
    }
    for text, want in cases.items():
        np.testing.assert_allclose(_ev(text, p), want, rtol=1e-12, err_msg=text)


def test_max_and_min_when_one_side_missing_then_the_other_side() -> None:
    p = {"close": np.array([[np.nan, 2.0]]), "volume": np.array([[5.0, np.nan]])}
    np.testing.assert_allclose(_ev("max(close, volume)", p), [[5.0, 2.0]])
    np.testing.assert_allclose(_ev("min(close, volume)", p), [[5.0, 2.0]])


def test_library_name_in_expression_when_evaluated_then_its_default_parameters() -> None:
    p = panel(300)
    c = p["close"]
    out = factor_values(FactorSpec(expression="momentum * 2"), "factors.0", p, None, {})
    np.testing.assert_allclose(out[299], 2 * (c[299 - 21] / c[299 - 252] - 1), rtol=1e-12)
    stored = factor_values(FactorSpec(name="mine"), "factors.0", p, None, {"mine": "reversal - 1"})
    np.testing.assert_allclose(stored[299], -(c[299] / c[299 - 21] - 1) - 1, rtol=1e-12)


# ---- cross-sectional processing through compute ------------------------------------------------
def test_process_when_rank_then_zscore_then_each_row_by_hand() -> None:
    x = np.array([[5.0, 1.0, 3.0, np.nan], [2.0, 2.0, 8.0, 0.0]])
    out = process(x, Processing(steps=["rank", "zscore"]), None)
    for i, row in enumerate(x):
        ok = ~np.isnan(row)
        ranks = stats.rankdata(row[ok])
        scaled = (ranks - 1) / (ok.sum() - 1)
        np.testing.assert_allclose(out[i][ok], (scaled - scaled.mean()) / scaled.std(), rtol=1e-12)
    assert np.isnan(out[0, 3])


def test_process_when_neutralize_then_sector_means_removed_by_hand() -> None:
    x = np.array([[1.0, 3.0, 10.0, 14.0]])
    out = process(x, Processing(steps=["neutralize"]), ["a", "a", "b", "b"])
    np.testing.assert_allclose(out, [[-1.0, 1.0, -2.0, 2.0]])


# ---- evaluation: correlation matrix in every element, horizons at the boundary --------------------
def test_correlation_matrix_when_three_factors_then_symmetric_unit_diagonal_and_each_entry_by_scipy() -> None:
    p = panel(120)
    c = p["close"]
    rng = np.random.default_rng(3)
    f = {
        "rev": -(c / np.vstack([np.full((5, c.shape[1]), np.nan), c[:-5]]) - 1),
        "noise": rng.normal(size=c.shape),
        "level": np.log(c),
    }
    for method, fn in (("spearman", stats.spearmanr), ("pearson", stats.pearsonr)):
        res = evaluate_panels(f, c, EvaluationOptions(correlation=method, min_names=5))
        m = np.array(res.correlation, dtype=float)
        assert res.names == list(f)
        np.testing.assert_array_equal(m, m.T)
        np.testing.assert_array_equal(np.diag(m), 1.0)
        for i, a in enumerate(f):
            for j, b in enumerate(f):
                if i == j:
                    continue
                both = [t for t in range(c.shape[0]) if np.isfinite(f[a][t]).all() and np.isfinite(f[b][t]).all()]
                per_date = [fn(f[a][t], f[b][t]).statistic for t in both]
                assert m[i, j] == pytest.approx(np.mean(per_date), rel=1e-9), (method, a, b)


def test_forward_horizon_when_dates_minus_one_then_evaluated_and_when_equal_then_refused() -> None:
    p = _panel(8, cols=6)
    close = p["close"].tolist()
    f = {"level": p["close"].tolist()}
    ok = evaluate_factors(EvaluateFactorsRequest(factors=f, close=close, options=EvaluationOptions(horizons=[7])))
    ic = ok.factors[0].decay[0].ic
    want = stats.pearsonr(p["close"][0], p["close"][7] / p["close"][0] - 1).statistic
    assert ic.n_dates == 1 and ic.mean == pytest.approx(want, rel=1e-9)
    with pytest.raises(InvalidInput) as e:
        evaluate_factors(EvaluateFactorsRequest(factors=f, close=close, options=EvaluationOptions(horizons=[8])))
    assert e.value.field == "options.horizons"


def test_quantile_spread_when_hand_case_then_top_minus_bottom_bucket() -> None:
    close = np.array([[10.0, 10.0, 10.0, 10.0, 10.0, 10.0], [11.0, 10.5, 10.0, 9.0, 12.0, 10.1]])
    f = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [np.nan] * 6])
    res = evaluate_panels({"f": f}, close, EvaluationOptions(quantiles=3, min_names=3))
    fwd = close[1] / close[0] - 1
    buckets = [fwd[:2].mean(), fwd[2:4].mean(), fwd[4:].mean()]
    assert res.factors[0].quantile_mean_returns == pytest.approx(buckets)
    assert res.factors[0].spread.mean == pytest.approx(buckets[2] - buckets[0])


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_evaluate_when_a_price_is_zero_or_negative_then_refused_naming_close(bad: float) -> None:
    close = _panel(6, cols=5)["close"]
    close[3, 2] = bad
    with pytest.raises(InvalidInput) as e:
        evaluate_factors(EvaluateFactorsRequest(factors={"f": close.tolist()}, close=close.tolist()))
    assert e.value.field == "close"
