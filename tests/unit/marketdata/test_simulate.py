import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from engines.marketdata.models import ModelParams
from engines.marketdata.simulate import (
    SESSION_S,
    BarAggregator,
    GbmJumpSimulator,
    log_increments,
    u_shape_multiplier,
)

pytestmark = pytest.mark.timeout(60)
START = pd.Timestamp("2024-03-04", tz="UTC")  # a Monday


def test_simulator_when_same_seed_and_any_batching_then_identical_ticks():
    a = GbmJumpSimulator(ModelParams(), 4, seed=7, start=START).steps(1000)
    sim = GbmJumpSimulator(ModelParams(), 4, seed=7, start=START)
    parts = [sim.steps(n) for n in (1, 255, 256, 488)]
    for f in ("q_ts", "bid", "ask", "t_ts", "price", "size", "aggressor"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, f) for p in parts]), getattr(a, f))
    b = GbmJumpSimulator(ModelParams(), 4, seed=8, start=START).steps(1000)
    assert not np.array_equal(a.bid, b.bid)


def test_simulator_quotes_when_generated_then_bid_below_ask_on_tick_grid_and_trades_at_touch():
    p = ModelParams(sigma=0.8, jump_intensity=5, tick_size=0.05)
    b = GbmJumpSimulator(p, 3, seed=1, start=START).steps(5000)
    assert (b.bid < b.ask).all() and (b.bid > 0).all()
    np.testing.assert_allclose(np.round(b.bid / 0.05) * 0.05, b.bid, atol=1e-9)
    buy = b.aggressor == 1
    assert buy.any() and (~buy).any()


def test_simulator_clock_when_session_ends_then_next_business_day_0930_new_york():
    p = ModelParams(step_ms=60_000)  # 390 steps per session
    b = GbmJumpSimulator(p, 1, seed=0, start=pd.Timestamp("2024-03-08 12:00", tz="UTC")).steps(391)  # a Friday
    local = pd.DatetimeIndex(b.q_ts, tz="UTC").tz_convert("America/New_York")
    assert str(local[0]) == "2024-03-08 09:30:00-05:00" and str(local[389]) == "2024-03-08 15:59:00-05:00"
    assert str(local[390]) == "2024-03-11 09:30:00-04:00"  # Monday, after the DST change


def test_u_shape_when_integrated_over_session_then_mean_one_and_edges_one_plus_a_times_midday():
    a = 2.0
    mean, _ = integrate.quad(lambda u: u_shape_multiplier(np.array(u), a), 0, 1)
    assert mean == pytest.approx(1.0, rel=1e-12)
    assert u_shape_multiplier(np.array(0.0), a) / u_shape_multiplier(np.array(0.5), a) == pytest.approx(1 + a)


def test_increments_when_no_jumps_then_standardised_increments_are_normal_with_closed_form_moments():
    p = ModelParams(mu=0.1, sigma=0.3, jump_intensity=0.0)
    dt = 60 / (SESSION_S * 252)
    sigma = np.full(20_000, 0.3)
    dx, _ = log_increments(np.random.default_rng(11), (20_000, 1), sigma, dt, p)
    z = (dx[:, 0] - (0.1 - 0.5 * 0.09) * dt) / (0.3 * np.sqrt(dt))
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # sample variance within its chi-square 99.9% interval
    n = z.size
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], n - 1) / (n - 1)
    assert lo < z.var(ddof=1) < hi


def test_increments_when_jumps_then_variance_and_mean_match_merton_closed_form():
    p = ModelParams(mu=0.0, sigma=0.2, jump_intensity=50.0, jump_mean=-0.01, jump_std=0.02)
    dt = 1 / 252
    n = 200_000
    dx, jumps = log_increments(np.random.default_rng(5), (n, 1), np.full(n, 0.2), dt, p)
    lam = 50.0 * 252
    kappa = np.expm1(-0.01 + 0.5 * 0.02**2)
    var = 0.04 * dt + lam * dt * (0.01**2 + 0.02**2)
    mean = (-lam * kappa - 0.02) * dt + lam * dt * (-0.01)
    assert jumps.mean() == pytest.approx(lam * dt, rel=0.02)
    assert dx.var() == pytest.approx(var, rel=0.02)
    assert abs(dx.mean() - mean) < 4 * np.sqrt(var / n)


def test_bar_aggregator_when_fed_in_pieces_then_completed_bars_equal_pandas_resample():
    b = GbmJumpSimulator(ModelParams(step_ms=1000, trade_probability=0.5), 2, seed=3, start=START).steps(900)
    agg = BarAggregator(2, 60 * 10**9)
    cuts = [0, 100, 101, 555, len(b.t_ts)]
    got = pd.concat([agg.update(b.t_ts[i:j], b.t_sym[i:j], b.price[i:j], b.size[i:j])
                     for i, j in zip(cuts, cuts[1:], strict=False)], ignore_index=True)
    for s in (0, 1):
        m = b.t_sym == s
        t = pd.Series(b.price[m], index=pd.DatetimeIndex(b.t_ts[m], tz="UTC"))
        ref = t.resample("1min").ohlc()
        ref["volume"] = pd.Series(b.size[m], index=t.index).resample("1min").sum()
        ref = ref.dropna().iloc[:-1]  # the last minute is still open
        mine = got[got["sym"] == s]
        np.testing.assert_array_equal(mine["ts_ns"].to_numpy(), ref.index.as_unit("ns").asi8)
        np.testing.assert_allclose(mine[["open", "high", "low", "close", "volume"]].to_numpy(), ref.to_numpy())
