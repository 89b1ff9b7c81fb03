"""VaR backtests. An exception is a period whose loss (-pnl) exceeds its VaR. With p = 1 - confidence,
x exceptions in n periods and the indicator's transition counts n_ij:
  Kupiec POF      LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x]              ~ chi2(1)
  Christoffersen  LR = -2 ln[(1-pi)^(n00+n10) pi^(n01+n11)]
                       + 2 ln[(1-pi0)^n00 pi0^n01 (1-pi1)^n10 pi1^n11]                    ~ chi2(1)
                  pi0 = n01/(n00+n01), pi1 = n11/(n10+n11), pi = (n01+n11)/(n00+n01+n10+n11)
  conditional coverage = POF + independence                                                ~ chi2(2)
0 * ln 0 is taken as 0 (scipy.special.xlogy).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import xlogy

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.risk.models.backtest import BacktestVarRequest, BacktestVarResponse, TestResult, VarException


def _loglik(k0: float, k1: float, prob1: float) -> float:
    """k0 ln(1 - prob1) + k1 ln(prob1) with 0 ln 0 = 0."""
    return float(xlogy(k0, 1.0 - prob1) + xlogy(k1, prob1))


def _test(stat: float, df: int, size: float) -> TestResult:
    stat = max(stat, 0.0)
    pv = float(stats.chi2.sf(stat, df))
    return TestResult(statistic=stat, p_value=pv, df=df, reject=pv < size)


def backtest_var(req: BacktestVarRequest, ctx: OpContext | None = None) -> BacktestVarResponse:
    var, pnl = np.asarray(req.var), np.asarray(req.pnl)
    if var.size != pnl.size:
        raise InvalidInput(f"var has {var.size} values, pnl {pnl.size}", field="pnl")
    if req.dates is not None and len(req.dates) != var.size:
        raise InvalidInput(f"needs {var.size} dates, got {len(req.dates)}", field="dates")
    n = var.size
    p = 1.0 - req.confidence
    loss = -pnl
    hit = loss > var
    x = int(hit.sum())
    pof = -2 * _loglik(n - x, x, p) + 2 * _loglik(n - x, x, x / n)
    a, b = hit[:-1], hit[1:]
    n00, n01 = int((~a & ~b).sum()), int((~a & b).sum())
    n10, n11 = int((a & ~b).sum()), int((a & b).sum())
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n - 1)
    ind = -2 * _loglik(n00 + n10, n01 + n11, pi) + 2 * (_loglik(n00, n01, pi0) + _loglik(n10, n11, pi1))
    cum = float(stats.binom.cdf(x, n, p))
    zone = "green" if cum < 0.95 else ("yellow" if cum < 0.9999 else "red")
    idx = np.nonzero(hit)[0]
    return BacktestVarResponse(
        n_observations=n, n_exceptions=x, expected_exceptions=n * p, exception_rate=x / n,
        kupiec_pof=_test(pof, 1, req.significance),
        christoffersen_independence=_test(ind, 1, req.significance),
        conditional_coverage=_test(pof + ind, 2, req.significance),
        transitions={"n00": n00, "n01": n01, "n10": n10, "n11": n11}, traffic_light=zone,
        exceptions=[VarException(index=int(i), date=req.dates[i] if req.dates else None, loss=float(loss[i]),
                                 var=float(var[i]), excess=float(loss[i] - var[i])) for i in idx],
    )
