"""How much to trust a sweep's best result: the deflated Sharpe ratio and the probability of backtest
overfitting. Pure numpy/scipy.

Deflated Sharpe ratio (Bailey and López de Prado, 2014): the probability that the best trial's true
Sharpe ratio exceeds the Sharpe ratio the best of N unskilled trials would show by luck,

    SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e))),   g = Euler-Mascheroni constant,
    DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2)),

with SR the best trial's per-period Sharpe ratio, V the variance of the N trials' per-period Sharpe
ratios, skew and kurt (non-excess) of the best trial's returns over T periods.

Probability of backtest overfitting (Bailey, Borwein, López de Prado and Zhu, 2017; combinatorially
symmetric cross-validation): the T x N matrix of per-period returns is cut into S blocks of rows; for
each of the C(S, S/2) ways to pick half the blocks as in-sample, the trial with the best in-sample
Sharpe ratio is ranked among all trials out of sample (the rest); with w its relative rank in (0, 1),
the logit is log(w / (1 - w)), and PBO is the share of splits whose logit is <= 0 (the in-sample best
is at or below the out-of-sample median).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329


def sharpe_per_period(returns: np.ndarray) -> np.ndarray:
    """Per-period Sharpe ratio of each column (mean / std, ddof=1); 0 where the std is 0."""
    sd = returns.std(axis=0, ddof=1)
    mu = returns.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, mu / sd, 0.0)


def deflated_sharpe(returns: np.ndarray) -> dict[str, float | int | None]:
    """DSR of the best column of a T x N return matrix (see the module docstring)."""
    T, N = returns.shape
    srs = sharpe_per_period(returns)
    best = int(np.argmax(srs))
    sr = float(srs[best])
    if N < 2 or T < 3:
        return {"trials": N, "best_index": best, "best_sharpe_per_period": sr, "expected_max_sharpe": None,
                "deflated_sharpe": None}
    v = float(np.var(srs, ddof=1))
    sr0 = math.sqrt(v) * float((1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / N)
                                + EULER_GAMMA * stats.norm.ppf(1 - 1 / (N * math.e)))
    r = returns[:, best]
    skew = float(stats.skew(r)) if r.std() > 0 else 0.0
    kurt = float(stats.kurtosis(r, fisher=False)) if r.std() > 0 else 3.0
    denom = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    dsr = float(stats.norm.cdf((sr - sr0) * math.sqrt(T - 1) / math.sqrt(denom))) if denom > 0 else None
    return {"trials": N, "best_index": best, "best_sharpe_per_period": sr, "expected_max_sharpe": sr0,
            "deflated_sharpe": dsr}


def pbo(returns: np.ndarray, blocks: int = 10) -> dict[str, float | int | None]:
    """Probability of backtest overfitting by CSCV on a T x N return matrix (see the module docstring)."""
    T, N = returns.shape
    S = blocks - blocks % 2
    if N < 2 or S < 2 or T < 2 * S:
        return {"pbo": None, "splits": 0, "blocks": S}
    edges = np.linspace(0, T, S + 1).astype(int)
    parts = [returns[edges[i]:edges[i + 1]] for i in range(S)]
    logits = []
    for ins in itertools.combinations(range(S), S // 2):
        outs = [i for i in range(S) if i not in ins]
        sr_in = sharpe_per_period(np.concatenate([parts[i] for i in ins]))
        sr_out = sharpe_per_period(np.concatenate([parts[i] for i in outs]))
        n_star = int(np.argmax(sr_in))
        rank = float(stats.rankdata(sr_out)[n_star])
        w = rank / (N + 1)
        logits.append(math.log(w / (1 - w)))
    lg = np.asarray(logits)
    return {"pbo": float((lg <= 0).mean()), "splits": int(lg.size), "blocks": S, "logit_median": float(np.median(lg))}
