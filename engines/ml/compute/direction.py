"""Direction: features, labels, the purged walk-forward, and scores next to naive baselines. No I/O.

Row t has features from bars <= t (the features engine's indicators, causal by construction; or the last
``window`` log returns) and label y[t] = 1 if log(close[t+h] / close[t]) > 0. A test block starting at row k
is predicted by a model trained on rows t' <= k - h - embargo only: no training label reaches into the test
block (purging), and the ``embargo`` rows before it are dropped as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.ml.compute import losses
from engines.ml.models.direction import (
    DirectionDM,
    DirectionWindow,
    EvaluateDirectionRequest,
    EvaluateDirectionResponse,
    Scores,
)

EPS = 1e-6
SIGNIFICANCE = 0.05
MAX_REFITS = 200


def bar_arrays(data: Any) -> dict[str, np.ndarray]:
    out = {k: np.asarray(getattr(data, k), dtype=np.float64) for k in ("open", "high", "low", "close", "volume")
           if getattr(data, k) is not None}
    n = out["close"].size
    for k, v in out.items():
        if v.size != n:
            raise InvalidInput(f"has {v.size} values, close has {n}", field=f"data.{k}")
    if (out["close"] <= 0).any():
        raise InvalidInput("closes must be > 0", field="data.close")
    return out


def indicator_features(bars: dict[str, np.ndarray], indicators: list[Any]) -> tuple[np.ndarray, list[str]]:
    """[bars, columns] of the features engine's indicators (NaN in each warm-up), with the column names."""
    from engines.features.compute import batch, check_fit, resolve

    resolved = resolve(indicators, field="indicators")
    check_fit(resolved, "data", bars, "data")
    cols = batch([bars], resolved, workers=1)[0]
    names = [c.name for r in resolved for c in r.columns()]
    return np.column_stack([np.asarray(cols[n], dtype=np.float64) for n in names]), names


def return_windows(close: np.ndarray, window: int) -> tuple[np.ndarray, list[str]]:
    """Row t: the log returns r[t-window+1 .. t] (r[t] = log close[t] - log close[t-1]); NaN where short."""
    from numpy.lib.stride_tricks import sliding_window_view

    r = np.diff(np.log(close))
    X = np.full((close.size, window), np.nan)
    X[window:] = sliding_window_view(r, window)
    return X, [f"return_lag_{window - 1 - j}" for j in range(window)]


def labels(close: np.ndarray, horizon: int) -> np.ndarray:
    """y[t] = 1.0 if the log return over (t, t+h] is > 0, else 0.0; NaN for the last h rows."""
    y = np.full(close.size, np.nan)
    lc = np.log(close)
    y[:-horizon] = (lc[horizon:] - lc[:-horizon] > 0).astype(np.float64)
    return y


def scores(p: np.ndarray, y: np.ndarray) -> Scores:
    from sklearn.metrics import roc_auc_score

    pc = np.clip(p, EPS, 1 - EPS)
    ll = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else None
    return Scores(auc=auc, log_loss=float(ll.mean()), brier=float(np.mean((p - y) ** 2)),
                  hit_rate=float(np.mean((p > 0.5) == (y == 1))))


def row_loss(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    pc = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(pc) + (1 - y) * np.log(1 - pc))


def fit_predict(spec: Any, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    if spec.model_type == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        m = HistGradientBoostingClassifier(max_iter=spec.max_iter, learning_rate=spec.learning_rate,
                                           max_depth=spec.max_depth, l2_regularization=spec.l2_regularization,
                                           early_stopping=False, random_state=spec.seed)
        if np.unique(ytr).size < 2:
            return np.full(Xte.shape[0], float(ytr[0]))
        return m.fit(Xtr, ytr.astype(int)).predict_proba(Xte)[:, 1]
    from engines.ml.compute import nets

    return nets.predict_proba(nets.fit(spec, Xtr, ytr), Xte)


def design(req: EvaluateDirectionRequest) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(features [bars, f], names, labels [bars], last h-bar log return [bars]) of the request's bars."""
    bars = bar_arrays(req.data)
    close = bars["close"]
    if req.model.model_type == "lstm":
        X, names = return_windows(close, req.model.window)
    else:
        X, names = indicator_features(bars, list(req.indicators or []))
    lc = np.log(close)
    last = np.full(close.size, np.nan)
    last[req.horizon_bars:] = lc[req.horizon_bars:] - lc[:-req.horizon_bars]
    return X, names, labels(close, req.horizon_bars), last


def splits(rows: np.ndarray, min_train: int, refit_every: int, horizon: int,
           embargo: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, test rows) of each refit: test blocks of ``refit_every`` usable rows after the first
    ``min_train``; training rows t' <= k - horizon - embargo where k is the block's first row (purged)."""
    out = []
    for s in range(min_train, rows.size, refit_every):
        test = rows[s:s + refit_every]
        out.append((rows[rows <= test[0] - horizon - embargo], test))
    return out


def purged_kfold(rows: np.ndarray, folds: int, horizon: int, embargo: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, test rows) of k contiguous folds (López de Prado's purged k-fold with embargo): a row t
    trains only if its label (t, t+h] ends before the fold's first row, or it comes more than max(h, embargo)
    rows after the fold's last row (its features would otherwise overlap the fold's labels)."""
    out = []
    gap = max(horizon, embargo)
    for test in np.array_split(rows, folds):
        lo, hi = test[0], test[-1]
        out.append((rows[(rows + horizon < lo) | (rows > hi + gap)], test))
    return out


def walk_forward(req: EvaluateDirectionRequest, X: np.ndarray, y: np.ndarray, last: np.ndarray,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Out-of-sample P(up) of the model and the baselines for every usable row after ``min_train``."""
    h, emb = req.horizon_bars, req.embargo_bars
    rows = np.flatnonzero(np.isfinite(X).all(axis=1) & np.isfinite(y) & np.isfinite(last))
    if rows.size < req.min_train + 20:
        raise InvalidInput(f"{rows.size} usable rows (after indicator warm-up and the last {h} unlabelled bars) "
                           f"leave fewer than 20 forecasts after min_train={req.min_train}", field="min_train")
    if -(-(rows.size - req.min_train) // req.refit_every) > MAX_REFITS:
        raise InvalidInput(f"more than {MAX_REFITS} refits: raise refit_every", field="refit_every")
    blocks = splits(rows, req.min_train, req.refit_every, h, emb)
    out = {k: np.empty(rows.size - req.min_train) for k in ("model", "historical_frequency", "persistence")}
    rng = np.random.default_rng(getattr(req.model, "seed", 0))
    at = 0
    for i, (train, test) in enumerate(blocks):
        if train.size < 50:
            raise InvalidInput(f"only {train.size} training rows before row {test[0]} after purging and the "
                               "embargo", field="min_train")
        ytr = y[train].copy()
        if req.placebo:
            ytr = rng.permutation(ytr)
        sl = slice(at, at + test.size)
        at += test.size
        out["model"][sl] = fit_predict(req.model, X[train], ytr, X[test])
        out["historical_frequency"][sl] = np.clip(ytr.mean(), EPS, 1 - EPS)
        up_tr = last[train] > 0
        p_up = (ytr[up_tr].sum() + 1) / (up_tr.sum() + 2)
        p_dn = (ytr[~up_tr].sum() + 1) / ((~up_tr).sum() + 2)
        out["persistence"][sl] = np.where(last[test] > 0, p_up, p_dn)
        if progress is not None:
            progress(i + 1, len(blocks))
    return {"rows": rows[req.min_train:], "refits": len(blocks), **out}


def evaluate_direction(req: EvaluateDirectionRequest, ctx: OpContext) -> EvaluateDirectionResponse:
    return run_evaluation(req)


def run_evaluation(req: EvaluateDirectionRequest,
                   progress: Callable[[int, int], None] | None = None) -> EvaluateDirectionResponse:
    X, names, y, last = design(req)
    wf = walk_forward(req, X, y, last, progress)
    rows = wf["rows"]
    yt = y[rows]
    model = scores(wf["model"], yt)
    base = {k: scores(wf[k], yt) for k in ("historical_frequency", "persistence")}
    dms, wins = [], True
    for k in base:
        stat, p = losses.diebold_mariano(row_loss(wf["model"], yt), row_loss(wf[k], yt), req.horizon_bars)
        dms.append(DirectionDM(baseline=k, statistic=stat, p_value=p))
        wins &= model.log_loss < base[k].log_loss and p < SIGNIFICANCE
    best = min(base, key=lambda k: base[k].log_loss)
    if wins:
        verdict = (f"{req.model.model_type} beats every baseline out-of-sample: log-loss {model.log_loss:.4f} vs "
                   f"{base[best].log_loss:.4f} ({best})")
    else:
        verdict = (f"{req.model.model_type} does not beat the {best} baseline significantly: log-loss "
                   f"{model.log_loss:.4f} vs {base[best].log_loss:.4f}, hit rate {model.hit_rate:.3f} vs "
                   f"{base[best].hit_rate:.3f}")
    dates = req.data.dates
    window = DirectionWindow(n_forecasts=int(rows.size), first_row=int(rows[0]), refits=wf["refits"],
                             first_date=dates[rows[0]] if dates else None,
                             last_date=dates[rows[-1]] if dates else None, up_share=float(yt.mean()))
    return EvaluateDirectionResponse(
        model_type=req.model.model_type, features=names, horizon_bars=req.horizon_bars, placebo=req.placebo,
        window=window, model=model, baselines=base, diebold_mariano=dms, beats_baseline=bool(wins), verdict=verdict)


def tune_direction(req: Any, ctx: OpContext) -> Any:
    """Purged k-fold cross-validation of each candidate on the tuning rows, then the chosen candidate's
    walk-forward evaluation on the rows after them (min_train = the tuning rows)."""
    from engines.ml.models.direction import CandidateScore, TuneDirectionResponse

    first = req.candidates[0]
    probe = EvaluateDirectionRequest.model_construct(
        data=req.data, model=first, indicators=req.indicators, feature_set=None, horizon_bars=req.horizon_bars,
        min_train=0, refit_every=req.refit_every, embargo_bars=req.embargo_bars, placebo=False)
    X, names, y, last = design(probe)
    rows = np.flatnonzero(np.isfinite(X).all(axis=1) & np.isfinite(y) & np.isfinite(last))
    n_tune = int(rows.size * req.tuning_fraction)
    if n_tune < 50 * req.folds or rows.size - n_tune < 20:
        raise InvalidInput(f"{rows.size} usable rows: {n_tune} to tune on ({req.folds} folds need "
                           f"{50 * req.folds}) and {rows.size - n_tune} to evaluate (need 20)", field="tuning_fraction")
    splits_cv = purged_kfold(rows[:n_tune], req.folds, req.horizon_bars, req.embargo_bars)
    scores_cv = []
    for i, spec in enumerate(req.candidates):
        fold_losses = []
        for train, test in splits_cv:
            if train.size < 50:
                raise InvalidInput(f"a fold leaves {train.size} training rows after purging", field="folds")
            p = fit_predict(spec, X[train], y[train], X[test])
            fold_losses.append(float(row_loss(p, y[test]).mean()))
        scores_cv.append(CandidateScore(index=i, model=spec.model_dump(mode="json"),
                                        cv_log_loss=float(np.mean(fold_losses)),
                                        cv_log_loss_std=float(np.std(fold_losses, ddof=1))))
    chosen = min(scores_cv, key=lambda c: c.cv_log_loss).index
    ev = EvaluateDirectionRequest.model_construct(
        data=req.data, model=req.candidates[chosen], indicators=req.indicators, feature_set=None,
        horizon_bars=req.horizon_bars, min_train=n_tune, refit_every=req.refit_every,
        embargo_bars=req.embargo_bars, placebo=False)
    return TuneDirectionResponse(folds=req.folds, tuning_rows=n_tune, candidates=scores_cv, chosen=chosen,
                                 evaluation=run_evaluation(ev))
