"""Black-Scholes prices and greeks (torch, any device), and option books revalued under Monte Carlo.

Black-Scholes-Merton with continuous dividend yield q:
  d1 = (ln(S/K) + (r - q + s^2/2) T) / (s sqrt T),  d2 = d1 - s sqrt T
  call = S e^{-qT} N(d1) - K e^{-rT} N(d2),  put = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)
At T <= 0 the value is the intrinsic value.
Scenarios over h trading days (dt = h / 252 years): log spot moves s sqrt(dt) z - s^2 dt / 2 with z
correlated across underlyings; log implied vol of an underlying's options moves eta sqrt(dt) e - eta^2 dt / 2,
e correlated with that underlying's z by rho. Full revaluation reprices every option at (S', sigma', T - dt);
the approximation is delta dS + gamma dS^2 / 2 + vega dsigma + theta dt.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from backend.contract.arrays import as_matrix
from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.risk.compute.market import check_covariance, factor
from engines.risk.compute.montecarlo import CHUNK_ELEMENTS, MAX_SIMULATED_ELEMENTS, device_of
from engines.risk.compute.tail import tail_estimates
from engines.risk.models.common import EstimatedLevel
from engines.risk.models.options import (
    LevelError,
    OptionValue,
    PriceOptionsRequest,
    PriceOptionsResponse,
    RevalueOptionsRequest,
    RevalueOptionsResponse,
    UnderlyingGreeks,
)

TRADING_DAYS = 252.0
_SQRT2PI = math.sqrt(2.0 * math.pi)
_MINUS_SQRT1_2 = -math.sqrt(0.5)


def ndtr(x: torch.Tensor) -> torch.Tensor:
    """Standard normal CDF as 0.5 erfc(-x/sqrt 2): accurate in both tails (as scipy's ndtr) and, on the CPU,
    about twice as fast as torch.special.ndtr."""
    return 0.5 * torch.erfc(x * _MINUS_SQRT1_2)


def bs_price(S, K, T, sigma, r, q, is_call):  # noqa: ANN001, ANN201 - broadcasting tensors
    """Black-Scholes value; intrinsic value where T <= 0. With s = +1 for a call and -1 for a put,
    value = s (S e^-qT N(s d1) - K e^-rT N(s d2)): the put's own tails, two normal CDFs per option, not four."""
    sgn = torch.where(torch.as_tensor(is_call), 1.0, -1.0).to(torch.float64)
    Tp = torch.clamp(T, min=1e-12)
    sq = sigma * torch.sqrt(Tp)
    d1 = (torch.log(S / K) + (r - q + 0.5 * sigma * sigma) * Tp) / sq
    d2 = d1 - sq
    nd = ndtr
    value = sgn * (S * torch.exp(-q * Tp) * nd(sgn * d1) - K * torch.exp(-r * Tp) * nd(sgn * d2))
    expired = T <= 0
    if not bool(torch.as_tensor(expired).any()):
        return value
    return torch.where(expired, torch.clamp(sgn * (S - K), min=0.0), value)


def bs_greeks(S, K, T, sigma, r, q, is_call):  # noqa: ANN001, ANN201
    """(price, delta, gamma, vega, theta per year, rho) for T > 0."""
    sqT = torch.sqrt(T)
    sq = sigma * sqT
    d1 = (torch.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / sq
    d2 = d1 - sq
    dfq, dfr = torch.exp(-q * T), torch.exp(-r * T)
    pdf = torch.exp(-0.5 * d1 * d1) / _SQRT2PI
    N = ndtr
    price = torch.where(is_call, S * dfq * N(d1) - K * dfr * N(d2), K * dfr * N(-d2) - S * dfq * N(-d1))
    delta = torch.where(is_call, dfq * N(d1), -dfq * N(-d1))
    gamma = dfq * pdf / (S * sq)
    vega = S * dfq * pdf * sqT
    decay = -S * dfq * pdf * sigma / (2 * sqT)
    theta = torch.where(is_call, decay - r * K * dfr * N(d2) + q * S * dfq * N(d1),
                        decay + r * K * dfr * N(-d2) - q * S * dfq * N(-d1))
    rho = torch.where(is_call, K * T * dfr * N(d2), -K * T * dfr * N(-d2))
    return price, delta, gamma, vega, theta, rho


def price_options(req: PriceOptionsRequest, ctx: OpContext | None = None) -> PriceOptionsResponse:
    def col(name: str) -> torch.Tensor:
        return torch.tensor([getattr(o, name) for o in req.options], dtype=torch.float64)

    is_call = torch.tensor([o.kind == "call" for o in req.options])
    out = bs_greeks(col("spot"), col("strike"), col("expiry_years"), col("volatility"), col("rate"),
                    col("dividend_yield"), is_call)
    rows = torch.stack(out, dim=1).tolist()
    return PriceOptionsResponse(options=[
        OptionValue(price=v[0], delta=v[1], gamma=v[2], vega=v[3], theta=v[4], rho=v[5]) for v in rows])


def revalue_options(req: RevalueOptionsRequest, ctx: OpContext | None = None) -> RevalueOptionsResponse:
    if not req.options and not req.stocks:
        raise InvalidInput("the book is empty: give options and/or stocks", field="options")
    if req.n_scenarios * max(len(req.options), 1) > MAX_SIMULATED_ELEMENTS:
        raise InvalidInput(f"{req.n_scenarios} scenarios x {len(req.options)} options exceeds "
                           f"{MAX_SIMULATED_ELEMENTS:,} revaluations", field="n_scenarios")
    device, f64 = device_of(ctx), torch.float64
    und = {u.symbol: i for i, u in enumerate(req.underlyings)}
    if len(und) != len(req.underlyings):
        raise InvalidInput("underlying symbols must be unique", field="underlyings")
    U = len(und)
    for kind, items in (("options", req.options), ("stocks", req.stocks)):
        for i, item in enumerate(items):
            if item.underlying not in und:
                raise InvalidInput(f"unknown underlying {item.underlying}", field=f"{kind}.{i}.underlying")
    corr = np.eye(U)
    if req.correlation is not None:
        corr = as_matrix(req.correlation, "correlation")
        if corr.shape != (U, U):
            raise InvalidInput(f"correlation is {corr.shape[0]}x{corr.shape[1]}, expected {U}x{U}", field="correlation")
        if not np.allclose(np.diag(corr), 1.0) or np.abs(corr).max() > 1.0 + 1e-12:
            raise InvalidInput("a correlation matrix needs a unit diagonal and entries in [-1, 1]", field="correlation")
        corr, _, _ = check_covariance(corr, req.repair_correlation, field="correlation")
    LT = torch.as_tensor(factor(corr).T.copy(), dtype=f64, device=device)

    def t(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=f64, device=device)

    spot = t([u.spot for u in req.underlyings])
    vol = t([u.volatility for u in req.underlyings])
    eta = t([u.vol_of_vol for u in req.underlyings])
    rho = t([u.spot_vol_correlation for u in req.underlyings])
    divq = t([u.dividend_yield for u in req.underlyings])
    oi = torch.tensor([und[o.underlying] for o in req.options], dtype=torch.long, device=device)
    K = t([o.strike for o in req.options])
    T0 = t([o.expiry_years for o in req.options])
    iv = t([o.implied_vol for o in req.options])
    qty = t([o.quantity * o.multiplier for o in req.options])
    is_call = torch.tensor([o.kind == "call" for o in req.options], dtype=torch.bool, device=device)
    si = torch.tensor([und[s.underlying] for s in req.stocks], dtype=torch.long, device=device)
    sq = t([s.quantity for s in req.stocks])
    r = req.rate
    dt = req.horizon_days / TRADING_DAYS

    p0, d0, g0, v0, th0, _ = bs_greeks(spot[oi], K, T0, iv, r, divq[oi], is_call)
    value = float((qty * p0).sum() + (sq * spot[si]).sum())
    greeks = []
    for name, i in und.items():
        on, st = oi == i, si == i
        greeks.append(UnderlyingGreeks(
            symbol=name, delta=float((qty[on] * d0[on]).sum() + sq[st].sum()), gamma=float((qty[on] * g0[on]).sum()),
            vega=float((qty[on] * v0[on]).sum()), theta=float((qty[on] * th0[on]).sum())))

    gen = torch.Generator(device=device)
    gen.manual_seed(req.seed)
    n = req.n_scenarios
    full = torch.empty(n, dtype=f64, device=device)
    approx = torch.empty(n, dtype=f64, device=device)
    c = max(16, CHUNK_ELEMENTS // max(len(req.options), 2 * U, 1))
    T1 = T0 - dt
    for lo in range(0, n, c):
        k = min(c, n - lo)
        z = torch.randn((k, U), generator=gen, device=device, dtype=f64) @ LT
        e = rho * z + torch.sqrt(1 - rho * rho) * torch.randn((k, U), generator=gen, device=device, dtype=f64)
        S1 = spot * torch.exp(vol * math.sqrt(dt) * z - 0.5 * vol * vol * dt)
        ivf = torch.exp(eta * math.sqrt(dt) * e - 0.5 * eta * eta * dt)
        dS = S1 - spot
        pnl_full = (dS[:, si] * sq).sum(dim=1)
        pnl_apx = pnl_full.clone()
        if len(req.options):
            iv1 = iv * ivf[:, oi]
            p1 = bs_price(S1[:, oi], K, T1, iv1, r, divq[oi], is_call)
            pnl_full += ((p1 - p0) * qty).sum(dim=1)
            dSo = dS[:, oi]
            pnl_apx += ((d0 * dSo + 0.5 * g0 * dSo * dSo + v0 * (iv1 - iv) + th0 * dt) * qty).sum(dim=1)
        full[lo:lo + k], approx[lo:lo + k] = pnl_full, pnl_apx

    alphas = list(req.confidence_levels)
    ef, ea = tail_estimates(-full, alphas), tail_estimates(-approx, alphas)
    diff = approx - full

    def lv(a: float, e) -> EstimatedLevel:  # noqa: ANN001
        return EstimatedLevel(confidence=a, var=e.var, cvar=e.cvar, var_se=e.var_se, cvar_se=e.cvar_se,
                              var_ci_low=e.var_ci_low, var_ci_high=e.var_ci_high)

    return RevalueOptionsResponse(
        portfolio_value=value, n_scenarios=n, horizon_days=req.horizon_days, device=str(device),
        full=[lv(a, e) for a, e in zip(alphas, ef, strict=True)],
        delta_gamma=[lv(a, e) for a, e in zip(alphas, ea, strict=True)],
        errors=[LevelError(confidence=a, var_error=x.var - f.var,
                           var_relative_error=(x.var - f.var) / abs(f.var) if f.var != 0 else None,
                           cvar_error=x.cvar - f.cvar) for a, f, x in zip(alphas, ef, ea, strict=False)],
        pnl_rmse=float(torch.sqrt(torch.mean(diff * diff))), pnl_max_abs_error=float(diff.abs().max()),
        greeks=greeks,
    )
