"""Historical and parametric VaR/CVaR, and the Euler decomposition per position.

Horizon h (days): historical figures scale by sqrt(h); parametric ones use mean * h and
std * sqrt(h). Parametric (daily P&L X = R w, mean m = w.mu, std s = sqrt(w' C w)):
  Gaussian        VaR = -m + z s,   CVaR = -m + s phi(z) / (1 - a),   z = Phi^-1(a)
  Cornish-Fisher  q = -z;  q_cf = q + (q^2-1)S/6 + (q^3-3q)K/24 - (2q^3-5q)S^2/36;  VaR = -(m + s q_cf)
                  CVaR = -(m + s E[CF(Z) | Z <= q] ), integrated in closed form over the normal tail.
S and K are the bias-corrected sample skewness and excess kurtosis of X (scipy.stats, bias=False).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.risk.compute.market import panel
from engines.risk.compute.tail import var_cvar, weighted_var_cvar
from engines.risk.models.common import RiskLevel
from engines.risk.models.var import (
    DecomposeVarRequest,
    DecomposeVarResponse,
    HistoricalVarRequest,
    ParametricLevel,
    ParametricVarRequest,
    ParametricVarResponse,
    PositionContribution,
    VarResponse,
)


def scenario_weights(n: int, decay: float | None) -> np.ndarray:
    """Probabilities of n scenarios, oldest first; decay**age normalised (equal when decay is None or 1)."""
    if decay is None or decay == 1.0:
        return np.full(n, 1.0 / n)
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    w = np.exp(age * math.log(decay))
    return w / w.sum()


def historical_var(req: HistoricalVarRequest, ctx: OpContext | None = None) -> VarResponse:
    p = panel(req.market, req.positions)
    R = p.require_history("historical simulation")
    losses = -(R @ p.w)
    probs = scenario_weights(losses.size, req.decay)
    scale = math.sqrt(req.horizon_days)
    levels = []
    for a in req.confidence_levels:
        v, c = var_cvar(losses, a) if req.decay in (None, 1.0) else weighted_var_cvar(losses, probs, a)
        levels.append(RiskLevel(confidence=a, var=v * scale, cvar=c * scale))
    return VarResponse(
        method="historical" if req.decay in (None, 1.0) else "historical_exponential",
        horizon_days=req.horizon_days, horizon_scaling="sqrt_time", portfolio_value=float(p.w.sum()),
        n_observations=int(losses.size), effective_observations=float(1.0 / np.sum(probs**2)), levels=levels,
    )


def cornish_fisher_z(q: float, skew: float, exkurt: float) -> float:
    """Cornish-Fisher expansion of the standard-normal quantile q."""
    return (q + (q * q - 1) * skew / 6 + (q**3 - 3 * q) * exkurt / 24 - (2 * q**3 - 5 * q) * skew * skew / 36)


def cornish_fisher_tail_mean(q: float, skew: float, exkurt: float) -> float:
    """E[CF(Z) | Z <= q] for Z standard normal, with truncated-normal moments I_k = int_{-inf}^q x^k phi."""
    phi, Phi = stats.norm.pdf(q), stats.norm.cdf(q)
    I0, I1, I2, I3 = Phi, -phi, Phi - q * phi, -(q * q + 2) * phi
    integral = I1 + skew / 6 * (I2 - I0) + exkurt / 24 * (I3 - 3 * I1) - skew * skew / 36 * (2 * I3 - 5 * I1)
    return float(integral / Phi)


def parametric_var(req: ParametricVarRequest, ctx: OpContext | None = None) -> ParametricVarResponse:
    p = panel(req.market, req.positions)
    m = float(p.w @ p.mean)
    s = math.sqrt(max(float(p.w @ p.cov @ p.w), 0.0))
    h = req.horizon_days
    skew = kurt = None
    if req.method == "cornish_fisher":
        x = p.require_history("Cornish-Fisher") @ p.w
        if x.size < 4 or s == 0.0:
            raise InvalidInput("Cornish-Fisher needs at least 4 periods of non-constant P&L", field="market")
        skew = float(stats.skew(x, bias=False))
        kurt = float(stats.kurtosis(x, fisher=True, bias=False))
    levels = []
    for a in req.confidence_levels:
        z = float(stats.norm.ppf(a))
        if skew is None:
            zq = z
            tail = stats.norm.pdf(z) / (1.0 - a)
        else:
            zq = -cornish_fisher_z(-z, skew, kurt)
            tail = -cornish_fisher_tail_mean(-z, skew, kurt)
        levels.append(ParametricLevel(confidence=a, z=zq, var=-m * h + zq * s * math.sqrt(h),
                                      cvar=-m * h + tail * s * math.sqrt(h)))
    return ParametricVarResponse(
        method=req.method, horizon_days=h, portfolio_value=float(p.w.sum()), mean_pnl_1d=m, std_pnl_1d=s,
        skewness=skew, excess_kurtosis=kurt, covariance_repaired=p.cov_repaired,
        covariance_repair_distance=p.cov_repair_distance, levels=levels,
    )


def historical_window(n: int) -> int:
    """Half-width b (in ranks) of the window of 2b+1 scenarios around the VaR rank that estimates
    E[r | loss = VaR] for historical components: b = max(1, floor(sqrt(n) / 4))."""
    return max(1, math.isqrt(n) // 4)


def decompose_var(req: DecomposeVarRequest, ctx: OpContext | None = None) -> DecomposeVarResponse:
    """Marginal and component VaR/CVaR per position (Euler allocation, homogeneous of degree 1).

    Gaussian: exact, components sum to the total. Historical: marginal VaR = -E[r | scenarios ranked
    within b of the VaR rank], marginal CVaR = -E[r | scenarios beyond the VaR rank]; their components
    sum to those scenarios' mean loss, which equals the total CVaR when a*n is an integer.
    """
    p = panel(req.market, req.positions)
    a, h = req.confidence, req.horizon_days
    sh = math.sqrt(h)
    if req.method == "gaussian":
        s = math.sqrt(max(float(p.w @ p.cov @ p.w), 0.0))
        if s == 0.0:
            raise InvalidInput("portfolio P&L has zero variance; marginal VaR is undefined", field="positions")
        z = float(stats.norm.ppf(a))
        beta = (p.cov @ p.w) / s
        marginal = -p.mean * h + z * sh * beta
        marginal_c = -p.mean * h + stats.norm.pdf(z) / (1 - a) * sh * beta
        total = float(-(p.w @ p.mean) * h + z * sh * s)
        total_c = float(-(p.w @ p.mean) * h + stats.norm.pdf(z) / (1 - a) * sh * s)
    else:
        R = p.require_history("historical decomposition")
        losses = -(R @ p.w)
        n = losses.size
        total, total_c = var_cvar(losses, a)
        order = np.argsort(losses, kind="stable")
        k = max(1, math.ceil(a * n - 1e-9))  # 1-based VaR rank
        b = historical_window(n)
        window = order[max(0, k - 1 - b): min(n, k + b)]
        tail = order[k:] if k < n else order[-1:]
        marginal = -R[window].mean(axis=0) * sh
        marginal_c = -R[tail].mean(axis=0) * sh
        total, total_c = total * sh, total_c * sh
    comp, comp_c = p.w * marginal, p.w * marginal_c
    held = {q.symbol for q in req.positions}
    rows = [
        PositionContribution(
            symbol=sym, value=float(p.w[j]), marginal_var=float(marginal[j]), component_var=float(comp[j]),
            component_var_pct=float(comp[j] / total) if total != 0 else None,
            marginal_cvar=float(marginal_c[j]), component_cvar=float(comp_c[j]),
        )
        for j, sym in enumerate(p.symbols) if sym in held
    ]
    return DecomposeVarResponse(
        method=req.method, confidence=a, horizon_days=h, total_var=float(total), total_cvar=float(total_c),
        sum_component_var=float(comp.sum()), sum_component_cvar=float(comp_c.sum()), positions=rows,
    )
