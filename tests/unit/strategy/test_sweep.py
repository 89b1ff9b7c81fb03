"""Sweeps and walk-forward: the grid and random spaces, vectorised and event-driven trials agree, a pool
of 2 workers gives the same answers as 1, walk-forward windows never overlap their test data, and the
overfitting measures behave as their definitions say on series built to show it."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.errors import InvalidInput
from engines.strategy import registry
from engines.strategy.backtest import BacktestConfig
from engines.strategy.handlers import canned_bars
from engines.strategy.overfit import deflated_sharpe, pbo
from engines.strategy.sweep import folds, param_grid, param_random, shutdown_pools, sweep, walk_forward

pytestmark = pytest.mark.timeout(300)
CFG = BacktestConfig(taker_fee_bps=5, slippage_ticks=1, lot_size=1e-6)


@pytest.fixture(scope="module")
def sma():
    return registry.load("sma_cross")


def test_grid_when_ranges_and_lists_then_product_less_rule_breakers(sma):
    sets, skipped = param_grid(sma.cls, {"fast": {"low": 10, "high": 30, "step": 10}, "slow": [20, 40]})
    assert [(p["fast"], p["slow"]) for p in sets] == [(10, 20), (10, 40), (20, 40), (30, 40)]
    assert skipped == 2  # (20, 20) and (30, 20): fast must be shorter than slow
    drawn, _ = param_random(sma.cls, {"fast": {"low": 2, "high": 30}, "slow": {"low": 31, "high": 90}}, 25, seed=4)
    assert len(drawn) == 25 and drawn == param_random(sma.cls, {"fast": {"low": 2, "high": 30},
                                                                "slow": {"low": 31, "high": 90}}, 25, seed=4)[0]
    assert all(2 <= p["fast"] <= 30 and 31 <= p["slow"] <= 90 for p in drawn)
    for space, field in (({"speed": [1]}, "space.speed"), ({"fast": [1]}, "params.fast"),
                         ({"fast": {"low": 2, "high": 400, "step": 0.01}}, "space.fast")):
        with pytest.raises(InvalidInput) as e:
            param_grid(sma.cls, space)
        assert e.value.field == field


def test_sweep_when_vectorised_event_driven_or_two_workers_then_same_metrics(sma):
    bars = canned_bars(800)
    sets, _ = param_grid(sma.cls, {"fast": [5, 10, 15], "slow": [30, 60]})
    vec = sweep(sma, sets, bars, CFG, "vector", workers=1)
    ev = sweep(sma, sets, bars, CFG, "event", workers=1)
    try:
        two = sweep(sma, sets, bars, CFG, "vector", workers=2)
    finally:
        shutdown_pools()
    assert vec["trials"] == 6 and vec["best_index"] == ev["best_index"] == two["best_index"]
    for a, b, c in zip(vec["results"], ev["results"], two["results"], strict=True):
        assert a["params"] == b["params"] == c["params"] and a["metrics"] == c["metrics"]
        assert a["metrics"]["trade_count"] == b["metrics"]["trade_count"]
        assert a["metrics"]["final_value"] == pytest.approx(b["metrics"]["final_value"], rel=1e-6)
    assert 0.0 <= vec["pbo"]["pbo"] <= 1.0 and vec["pbo"]["splits"] == 252
    assert 0.0 <= vec["deflated_sharpe"]["deflated_sharpe"] <= 1.0


def test_walk_forward_when_rolling_or_anchored_then_tests_follow_their_train_windows(sma):
    assert folds(100, 50, 20, False) == [(0, 50, 50, 70), (20, 70, 70, 90)]
    assert folds(100, 50, 20, True) == [(0, 50, 50, 70), (0, 70, 70, 90)]
    bars = canned_bars(900)
    sets, _ = param_grid(sma.cls, {"fast": [5, 10], "slow": [20, 40]})
    wf = walk_forward(sma, sets, bars, CFG, "vector", 400, 150, anchored=False)
    assert len(wf["folds"]) == 3 and wf["out_of_sample"]["bars"] == 3 * 150
    for f in wf["folds"]:
        assert f["train"][1] < f["test"][0] and f["best_params"] in sets
    with pytest.raises(InvalidInput) as e:
        walk_forward(sma, sets, bars, CFG, "vector", 800, 150, anchored=False)
    assert e.value.field == "walk_forward.train_bars"


def test_pbo_when_one_trial_truly_better_then_zero_and_when_all_noise_then_near_half():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, size=(2000, 30))
    assert 0.2 < pbo(noise)["pbo"] < 0.8
    skilled = noise.copy()
    skilled[:, 7] += 0.004
    assert pbo(skilled)["pbo"] == 0.0


def test_deflated_sharpe_when_more_noise_trials_then_lower():
    rng = np.random.default_rng(1)
    z = rng.normal(size=1500)
    best = ((z - z.mean()) / z.std(ddof=1) * 0.01 + 0.001)[:, None]  # per-period Sharpe exactly 0.1
    few = np.hstack([best, rng.normal(0, 0.01, size=(1500, 4))])
    many = np.hstack([best, rng.normal(0, 0.01, size=(1500, 400))])
    d_few, d_many = deflated_sharpe(few), deflated_sharpe(many)
    assert d_few["best_index"] == d_many["best_index"] == 0
    assert d_few["best_sharpe_per_period"] == pytest.approx(0.1)
    assert d_many["expected_max_sharpe"] > d_few["expected_max_sharpe"] > 0
    assert 0.5 < d_many["deflated_sharpe"] < d_few["deflated_sharpe"] < 1.0
