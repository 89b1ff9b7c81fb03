"""Regime detection: Gaussian HMM (hmmlearn) and Gaussian mixture (scikit-learn) on causal features.

Feature of day t (``features``): the return r[t] and log of the standard deviation of r[t-w+1..t], both
standardised with the training days' mean and deviation; the first w-1 days have no feature and are
dropped. The model is fitted on the first ``train_fraction`` of the days. Out-of-sample labels are causal:
the HMM's forward filter (probabilities of day t from features up to t, with the fitted parameters) and
the mixture's per-day assignment. Regimes are renumbered by their training return variance, calm first.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.ml.models.regime import DetectRegimesRequest, DetectRegimesResponse, RegimeReading, RegimeStats

FEATURES = ["return", "log_trailing_volatility"]
#: Fewest training days per regime.
MIN_DAYS_PER_REGIME = 50


def features(r: np.ndarray, window: int) -> np.ndarray:
    """Rows for days window-1 .. n-1: [r[t], log std(r[t-w+1..t])] (data <= t only)."""
    from numpy.lib.stride_tricks import sliding_window_view

    sd = sliding_window_view(r, window).std(axis=1, ddof=1)
    return np.column_stack([r[window - 1:], np.log(np.maximum(sd, 1e-12))])


def forward_filter(model: object, X: np.ndarray) -> np.ndarray:
    """P(state at t | X[0..t]) for every t, with a fitted GaussianHMM's parameters (no hindsight)."""
    k = model.n_components  # type: ignore[attr-defined]
    logb = np.column_stack([multivariate_normal(model.means_[j], model.covars_[j]).logpdf(X)  # type: ignore
                            for j in range(k)])
    logA = np.log(model.transmat_)  # type: ignore[attr-defined]
    out = np.empty_like(logb)
    a = np.log(model.startprob_) + logb[0]  # type: ignore[attr-defined]
    out[0] = a - logsumexp(a)
    for t in range(1, X.shape[0]):
        a = logsumexp(out[t - 1][:, None] + logA, axis=0) + logb[t]
        out[t] = a - logsumexp(a)
    return np.exp(out)


def _durations(path: np.ndarray, k: int) -> list[float | None]:
    cuts = np.flatnonzero(np.diff(path)) + 1
    spells = np.split(path, cuts)
    return [float(np.mean([s.size for s in spells if s[0] == j])) if any(s[0] == j for s in spells) else None
            for j in range(k)]


def reading(path: np.ndarray, r_day: np.ndarray, r_next: np.ndarray, k: int, ppy: int) -> RegimeReading:
    """Statistics of a labelled stretch; ``r_next[i]`` is the return after day i (NaN for the last day)."""
    dur = _durations(path, k)
    stats, nv = [], []
    for j in range(k):
        on = path == j
        nxt = r_next[on & np.isfinite(r_next)]
        nvol = float(nxt.std(ddof=1) * np.sqrt(ppy)) if nxt.size > 1 else None
        nv.append(nvol)
        stats.append(RegimeStats(
            regime=j, days=int(on.sum()), share=float(on.mean()),
            mean_return=float(r_day[on].mean()) if on.any() else None,
            volatility_annual=float(r_day[on].std(ddof=1) * np.sqrt(ppy)) if on.sum() > 1 else None,
            mean_duration_days=dur[j], next_day_volatility_annual=nvol))
    known = [v for v in nv if v is not None and v > 0]
    spread = max(known) / min(known) if len(known) >= 2 else None
    return RegimeReading(regimes=stats, persistence=float(np.mean(path[1:] == path[:-1])), spread=spread)


def _fit(req: DetectRegimesRequest, Z: np.ndarray) -> tuple[object, float, float]:
    spec = req.model
    if spec.model_type == "hmm":
        from hmmlearn.hmm import GaussianHMM

        m = GaussianHMM(n_components=spec.n_regimes, covariance_type=spec.covariance_type, n_iter=spec.n_iter,
                        random_state=spec.seed, tol=1e-4)
        m.fit(Z)
        return m, float(m.score(Z)), float(m.bic(Z))
    from sklearn.mixture import GaussianMixture

    m = GaussianMixture(n_components=spec.n_regimes, covariance_type=spec.covariance_type, n_init=spec.n_init,
                        random_state=spec.seed)
    m.fit(Z)
    return m, float(m.score(Z) * Z.shape[0]), float(m.bic(Z))


def detect_regimes(req: DetectRegimesRequest, ctx: OpContext) -> DetectRegimesResponse:
    r = req.data.returns
    k, w = req.model.n_regimes, req.vol_window
    X = features(r, w) if r.size >= w else np.empty((0, 2))
    n_train = int(X.shape[0] * req.train_fraction)
    if n_train < MIN_DAYS_PER_REGIME * k or X.shape[0] - n_train < 20:
        raise InvalidInput(f"{r.size} returns give {n_train} training and {X.shape[0] - n_train} test days; "
                           f"{k} regimes need at least {MIN_DAYS_PER_REGIME * k} training and 20 test days",
                           field="data.returns")
    mu, sd = X[:n_train].mean(axis=0), X[:n_train].std(axis=0)
    Z = (X - mu) / sd
    model, ll, bic = _fit(req, Z[:n_train])
    if req.model.model_type == "hmm":
        raw_in = model.predict(Z[:n_train])  # type: ignore[attr-defined]
        raw_out = forward_filter(model, Z)[n_train:].argmax(axis=1)
    else:
        raw_in = model.predict(Z[:n_train])  # type: ignore[attr-defined]
        raw_out = model.predict(Z[n_train:])  # type: ignore[attr-defined]
    r_day = r[w - 1:]
    var = [r_day[:n_train][raw_in == j].var() if (raw_in == j).sum() > 1 else np.inf for j in range(k)]
    order = np.argsort(var)  # order[new] = old
    relabel = np.empty(k, dtype=int)
    relabel[order] = np.arange(k)
    path_in, path_out = relabel[raw_in], relabel[raw_out]
    if req.model.model_type == "hmm":
        A = model.transmat_[np.ix_(order, order)]  # type: ignore[attr-defined]
    else:
        counts = np.zeros((k, k))
        np.add.at(counts, (path_in[:-1], path_in[1:]), 1.0)
        A = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    r_next = np.append(r_day[1:], np.nan)
    ppy = req.periods_per_year
    # naive baseline: trailing volatility cut at its training quantiles
    cuts = np.quantile(X[:n_train, 1], np.arange(1, k) / k)
    base_out = np.searchsorted(cuts, X[n_train:, 1])
    dates = req.data.dates
    return DetectRegimesResponse(
        model_type=req.model.model_type, n_regimes=k, features=FEATURES, n_train=n_train,
        n_test=int(X.shape[0] - n_train), first_test_date=dates[w - 1 + n_train] if dates else None,
        transition_matrix=A.tolist(), log_likelihood=ll, bic=bic, path_in_sample=path_in.tolist(),
        path_out_of_sample=path_out.tolist(),
        in_sample=reading(path_in, r_day[:n_train], r_next[:n_train], k, ppy),
        out_of_sample=reading(path_out, r_day[n_train:], r_next[n_train:], k, ppy),
        baseline_out_of_sample=reading(base_out, r_day[n_train:], r_next[n_train:], k, ppy))
