"""Direction models: features at t use only bars <= t, the purged walk-forward never lets a training label
reach a test block (property test), baselines on the same rows, a placebo (shuffled labels) does not beat
its baseline on the NASDAQ sample, torch models are seeded (tiny training here)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.ml.compute import direction as dr
from engines.ml.models.direction import EvaluateDirectionRequest

CTX = OpContext(engine="ml")
IND = [{"name": "rsi"}, {"name": "macd"}, {"name": "bbands"}, {"name": "atr"},
       {"name": "roc", "params": {"timeperiod": 5}}]


@cache
def nasdaq_bars() -> dict[str, np.ndarray]:
    from arch.data import nasdaq

    df = nasdaq.load()
    return {k.lower(): df[k].to_numpy(dtype=np.float64) for k in ("Open", "High", "Low", "Close", "Volume")}


def test_features_when_later_bars_removed_then_row_t_unchanged():
    bars = nasdaq_bars()
    full, names = dr.indicator_features({k: v[:1500] for k, v in bars.items()}, EvaluateDirectionRequest(
        data={"close": bars["close"][:100]}, model={"model_type": "hgb"}, indicators=IND).indicators)
    for t in (40, 300, 1000):
        cut, _ = dr.indicator_features({k: v[:t + 1] for k, v in bars.items()}, EvaluateDirectionRequest(
            data={"close": bars["close"][:100]}, model={"model_type": "hgb"}, indicators=IND).indicators)
        assert np.array_equal(full[t], cut[t], equal_nan=True), names
    w, _ = dr.return_windows(bars["close"][:600], 20)
    w_cut, _ = dr.return_windows(bars["close"][:301], 20)
    assert np.array_equal(w[300], w_cut[300])
    assert np.isclose(w[300, -1], np.log(bars["close"][300] / bars["close"][299]))


def test_labels_when_horizon_then_sign_of_forward_log_return_and_last_rows_unlabelled():
    close = np.array([1.0, 2.0, 1.5, 1.5, 3.0])
    assert np.array_equal(dr.labels(close, 2), [1.0, 0.0, 1.0, np.nan, np.nan], equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(60, 400), min_train=st.integers(10, 200), refit=st.integers(1, 80), h=st.integers(1, 20),
       emb=st.integers(0, 10), gaps=st.integers(0, 3))
def test_splits_when_any_settings_then_no_training_label_reaches_its_test_block(n, min_train, refit, h, emb, gaps):
    rows = np.arange(n)[:: gaps + 1] if gaps else np.arange(n)
    blocks = dr.splits(rows, min_train, refit, h, emb)
    tested = np.concatenate([t for _, t in blocks]) if blocks else np.array([], dtype=int)
    assert np.array_equal(tested, rows[min_train:])  # every row after min_train tested once, in order
    for train, test in blocks:
        if train.size:
            assert train.max() + h + emb <= test.min()  # the label of t' covers (t', t'+h]: ends before the test
            assert np.isin(train, rows).all()


def req(model: dict, **kw) -> EvaluateDirectionRequest:  # noqa: ANN003
    bars = nasdaq_bars()
    n = kw.pop("n", bars["close"].size)
    data = {k: v[:n] for k, v in bars.items()}
    extra = {} if model["model_type"] == "lstm" else {"indicators": IND}
    return EvaluateDirectionRequest(data=data, model=model, **extra, **kw)


def test_placebo_when_labels_shuffled_then_does_not_beat_baseline_on_nasdaq():
    res = dr.evaluate_direction(req({"model_type": "hgb", "max_iter": 30}, refit_every=1000, placebo=True), CTX)
    assert res.placebo and not res.beats_baseline and "does not beat" in res.verdict
    assert res.window.n_forecasts > 4000 and set(res.baselines) == {"historical_frequency", "persistence"}
    assert res.baselines["historical_frequency"].auc is not None


@pytest.mark.parametrize("model", [{"model_type": "mlp", "epochs": 2, "hidden": [8]},
                                   {"model_type": "lstm", "epochs": 1, "hidden": 4, "window": 10}])
def test_torch_models_when_trained_twice_with_one_seed_then_identical_scores(model):
    a = dr.evaluate_direction(req(model, n=900, min_train=400, refit_every=300), CTX)
    b = dr.evaluate_direction(req(model, n=900, min_train=400, refit_every=300), CTX)
    assert a.model == b.model and a.window.refits == 2 and 0.0 <= a.model.hit_rate <= 1.0


def test_evaluate_when_too_few_rows_then_invalid_input_naming_min_train():
    with pytest.raises(InvalidInput) as e:
        dr.evaluate_direction(req({"model_type": "hgb"}, n=400, min_train=500), CTX)
    assert e.value.field == "min_train"


@settings(max_examples=200, deadline=None)
@given(n=st.integers(60, 400), folds=st.integers(3, 10), h=st.integers(1, 20), emb=st.integers(0, 10),
       gaps=st.integers(0, 3))
def test_purged_kfold_when_any_settings_then_no_training_row_overlaps_its_fold_labels(n, folds, h, emb, gaps):
    rows = np.arange(n)[:: gaps + 1] if gaps else np.arange(n)
    blocks = dr.purged_kfold(rows, folds, h, emb)
    assert np.array_equal(np.concatenate([t for _, t in blocks]), rows)  # the folds partition the rows
    for train, test in blocks:
        lo, hi = test.min(), test.max()
        before, after = train[train < lo], train[train > hi]
        assert (before + h < lo).all()  # their labels end before the fold starts
        assert (after > hi + max(h, emb)).all()  # their features start after the fold's labels end (+ embargo)
        assert np.intersect1d(train, test).size == 0


def test_tune_when_two_candidates_then_chosen_by_purged_cv_and_evaluated_after_the_tuning_rows():
    from engines.ml.models.direction import TuneDirectionRequest

    bars = {k: v[:1500] for k, v in nasdaq_bars().items()}
    res = dr.tune_direction(TuneDirectionRequest(
        data=bars, indicators=IND, folds=3, refit_every=400, candidates=[
            {"model_type": "hgb", "max_iter": 5, "max_depth": 2}, {"model_type": "hgb", "max_iter": 20}]), CTX)
    assert res.chosen == min(res.candidates, key=lambda c: c.cv_log_loss).index
    assert res.evaluation.model_type == "hgb" and res.tuning_rows > 500
    # usable rows: after MACD's 33-bar warm-up and before the last (unlabelled) bar, less the tuning rows
    assert res.evaluation.window.n_forecasts == 1500 - 33 - 1 - res.tuning_rows
