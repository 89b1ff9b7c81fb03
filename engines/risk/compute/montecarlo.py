"""Monte Carlo VaR/CVaR in torch on ``ctx.device``: Gaussian, Student-t, filtered historical bootstrap.

Models (daily simple returns r, exposures w, mean mu, covariance C = L L'):
  gaussian             r = mu + L z
  student_t            r = mu + sqrt((v-2)/v) L z / sqrt(W/v),  W ~ chi2(v)   (covariance C, tails t_v)
  filtered_historical  r_i = mu_i + sigma_i * eps_{s,i}: eps are the history's residuals standardised by an
                       EWMA volatility filter, s a bootstrapped day (the same for every asset, keeping the
                       cross-section), sigma the filter's forecast; along paths sigma follows the EWMA recursion.
Linear collapse: for one day, P&L = w'r is univariate. w'L z has the law N(0, |L'w|^2), so we draw
s_p * z with one normal per scenario (s_p = sqrt(w'Cw)) instead of the n x N matrix; the Student-t mix
keeps this form; the bootstrap precomputes the portfolio P&L of each historical day. No asset matrix is
built. Horizons: 'sqrt_time' scales the 1-day figures by sqrt(h); 'paths' simulates h daily steps per asset
and compounds them (asset matrix needed), in chunks.
Memory bound: the loss vector (8 bytes x n_scenarios, at most 80 MB; twice that for Sobol, whose replicates are
also pooled) plus, per chunk, a few arrays of at most CHUNK_ELEMENTS float64 (32 MiB each). The quantile uses
one torch.topk of the tail, not a sort.
Reproducible: pseudo-random draws from a seeded numpy Generator (PCG64, ziggurat normals) on the CPU, a seeded
torch.Generator on other devices (torch.randn, torch._standard_gamma for chi-square); or seeded
scrambled Sobol points (scipy.stats.qmc) mapped by inverse CDFs (normal: torch.special.ndtri; chi-square and
Student-t: scipy.special.chdtri / stdtrit).
Different devices have different generator streams: CPU and CUDA agree statistically (within the standard error).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special, stats
from scipy.stats import qmc

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.risk.compute.market import Panel, factor, panel
from engines.risk.compute.tail import TailEstimate, replicate_estimates, tail_estimates
from engines.risk.models.common import EstimatedLevel
from engines.risk.models.var import ComponentRisk, LevelComponents, MonteCarloVarRequest, MonteCarloVarResponse

#: Most float64 elements in one chunk's working array.
CHUNK_ELEMENTS = 1 << 22
#: Independent scrambles of the Sobol sequence (randomised QMC); SE = std over them / sqrt(R).
SOBOL_REPLICATES = 8
#: scipy's Sobol direction numbers support at most this many dimensions.
MAX_SOBOL_DIM = 21_201
#: Most simulated asset-day values (scenarios x assets x steps) one request may ask for; beyond it a 422,
#: rather than a computation that outlives the operation's timeout.
MAX_SIMULATED_ELEMENTS = 2_000_000_000
#: Bounds on an estimated Student-t degrees of freedom.
DOF_MIN, DOF_MAX = 2.1, 1000.0
_U_EPS = 1e-15


def device_of(ctx: OpContext | None) -> torch.device:
    return torch.device(ctx.device if ctx is not None and ctx.device else "cpu")


class RandomSource:
    """Blocks of random inputs for a simulation: standard normals, chi-square mixing variables, standard
    Student-t variates and bootstrap indices, from a seeded torch generator (pseudo) or scrambled Sobol points
    mapped by inverse CDFs (one Sobol dimension per input)."""

    def __init__(self, sampler: str, seed: int, device: torch.device, replicate: int = 0, *, n_norm: int = 0,
                 n_chi2: int = 0, n_t: int = 0, n_index: int = 0) -> None:
        self.n_norm, self.n_chi2, self.n_t, self.n_index = n_norm, n_chi2, n_t, n_index
        self.device = device
        self.dim = n_norm + n_chi2 + n_t + n_index
        self.np_rng = None
        if sampler == "sobol":
            if self.dim > MAX_SOBOL_DIM:
                raise InvalidInput(f"Sobol sampling supports at most {MAX_SOBOL_DIM} dimensions; this simulation "
                                   f"needs {self.dim} (assets x horizon days)", field="sampler")
            self.sobol = qmc.Sobol(d=self.dim, scramble=True, seed=np.random.default_rng([seed, replicate]))
        elif device.type == "cpu":  # numpy's ziggurat draws normals ~3x faster than torch.randn on a CPU
            self.sobol = None
            self.np_rng = np.random.default_rng(seed)
        else:
            self.sobol = None
            self.gen = torch.Generator(device=device)
            self.gen.manual_seed(seed)

    def _gamma_chi2(self, shape: tuple[int, int], dof: float) -> torch.Tensor:
        conc = torch.full(shape, dof / 2.0, device=self.device, dtype=torch.float64)
        return 2.0 * torch._standard_gamma(conc, generator=self.gen)

    def _numpy_block(self, c: int, dof: float | None, n_hist: int) -> dict[str, torch.Tensor]:
        rng, out = self.np_rng, {}
        if self.n_norm:
            out["z"] = torch.from_numpy(rng.standard_normal((c, self.n_norm)))
        if self.n_chi2:
            out["chi2"] = torch.from_numpy(rng.chisquare(dof, (c, self.n_chi2)))
        if self.n_t:
            out["t"] = torch.from_numpy(rng.standard_normal((c, self.n_t)) / np.sqrt(rng.chisquare(dof, (c, self.n_t))
                                                                                     / dof))
        if self.n_index:
            out["idx"] = torch.from_numpy(rng.integers(0, n_hist, (c, self.n_index)))
        return out

    def block(self, c: int, dof: float | None, n_hist: int) -> dict[str, torch.Tensor]:
        dev, f64 = self.device, torch.float64
        out: dict[str, torch.Tensor] = {}
        if self.np_rng is not None:
            return self._numpy_block(c, dof, n_hist)
        if self.sobol is None:
            if self.n_norm:
                out["z"] = torch.randn((c, self.n_norm), generator=self.gen, device=dev, dtype=f64)
            if self.n_chi2:
                out["chi2"] = self._gamma_chi2((c, self.n_chi2), dof)
            if self.n_t:  # t_v = z / sqrt(chi2_v / v)
                z = torch.randn((c, self.n_t), generator=self.gen, device=dev, dtype=f64)
                out["t"] = z / torch.sqrt(self._gamma_chi2((c, self.n_t), dof) / dof)
            if self.n_index:
                out["idx"] = torch.randint(0, n_hist, (c, self.n_index), generator=self.gen, device=dev)
            return out
        u = np.clip(self.sobol.random(c), _U_EPS, 1.0 - _U_EPS)
        a = self.n_norm
        b = a + self.n_chi2
        d = b + self.n_t
        if self.n_norm:
            out["z"] = torch.special.ndtri(torch.from_numpy(u[:, :a]).to(dev))
        if self.n_chi2:
            out["chi2"] = torch.from_numpy(special.chdtri(dof, 1.0 - u[:, a:b])).to(dev)
        if self.n_t:
            out["t"] = torch.from_numpy(special.stdtrit(dof, u[:, b:d])).to(dev)
        if self.n_index:
            out["idx"] = torch.from_numpy(np.minimum((u[:, d:] * n_hist).astype(np.int64), n_hist - 1)).to(dev)
        return out


def estimate_dof(x: np.ndarray) -> float:
    """Maximum-likelihood Student-t degrees of freedom of a series (scipy.stats.t.fit), clipped."""
    if x.size < 10 or float(np.std(x)) == 0.0:
        raise InvalidInput("estimating the degrees of freedom needs at least 10 periods of non-constant P&L",
                           field="dof")
    df, _, _ = stats.t.fit(x)
    return float(min(max(df, DOF_MIN), DOF_MAX))


def ewma_filter(R: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(standardised residuals eps (T, N), next-day volatility forecast (N,)) of demeaned returns."""
    X = R - R.mean(axis=0)
    s2 = X.var(axis=0)
    sig2 = np.empty_like(X)
    for t in range(X.shape[0]):
        sig2[t] = s2
        s2 = lam * s2 + (1.0 - lam) * X[t] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.where(sig2 > 0, X / np.sqrt(sig2), 0.0)
    return eps, np.sqrt(s2)


def _chunk_rows(dim: int, sobol: bool) -> int:
    c = max(16, CHUNK_ELEMENTS // max(dim, 1))
    return 1 << (c.bit_length() - 1) if sobol else c


def simulate_collapsed(req: MonteCarloVarRequest, p: Panel, n: int, dof: float | None, src: RandomSource,
                       device: torch.device, hist_pnl: torch.Tensor | None) -> torch.Tensor:
    """One-day portfolio P&L of n scenarios without building the asset matrix."""
    m = float(p.w @ p.mean)
    s = math.sqrt(max(float(p.w @ p.cov @ p.w), 0.0))
    out = torch.empty(n, dtype=torch.float64, device=device)
    c = _chunk_rows(1, src.sobol is not None)
    n_hist = 0 if hist_pnl is None else int(hist_pnl.numel())
    cpu = out.device.type == "cpu"
    for lo in range(0, n, c):
        k = min(c, n - lo)
        draw = src.block(k, dof, n_hist)
        if req.distribution == "filtered_historical":
            out[lo:lo + k] = hist_pnl[draw["idx"][:, 0]]
            continue
        scale, z = (s * math.sqrt((dof - 2.0) / dof), draw["t"]) if req.distribution == "student_t" else (s, draw["z"])
        if cpu:  # numpy in place: one pass, no temporaries, no thread hand-off for an elementwise op
            dst = out.numpy()[lo:lo + k]
            np.multiply(z.numpy()[:, 0], scale, out=dst)
            dst += m
        else:
            out[lo:lo + k] = m + scale * z[:, 0]
    return out


def _negated(x: torch.Tensor) -> torch.Tensor:
    """-x in place (losses from P&L); numpy's on the CPU, a single pass without torch's thread hand-off."""
    if x.device.type == "cpu":
        np.negative(x.numpy(), out=x.numpy())
        return x
    return x.neg_()


def simulate_paths(req: MonteCarloVarRequest, p: Panel, n: int, dof: float | None, src: RandomSource,
                   device: torch.device, fhs: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """Horizon P&L of n scenarios from h compounded daily steps per asset, chunked."""
    h, N = req.horizon_days, p.w.size
    f64 = torch.float64
    mu = torch.as_tensor(p.mean, dtype=f64, device=device)
    w = torch.as_tensor(p.w, dtype=f64, device=device)
    LT = torch.as_tensor(factor(p.cov).T.copy(), dtype=f64, device=device)
    lam = req.ewma_lambda
    out = torch.empty(n, dtype=f64, device=device)
    c = _chunk_rows(max(src.dim, N), src.sobol is not None)
    n_hist = 0 if fhs is None else int(fhs[0].shape[0])
    for lo in range(0, n, c):
        k = min(c, n - lo)
        draw = src.block(k, dof, n_hist)
        z, W, idx = draw.get("z"), draw.get("chi2"), draw.get("idx")
        growth = torch.ones((k, N), dtype=f64, device=device)
        sig2 = None if fhs is None else (fhs[1] ** 2).expand(k, N).clone()
        for t in range(h):
            if fhs is not None:
                r = mu + torch.sqrt(sig2) * fhs[0][idx[:, t]]
                sig2 = lam * sig2 + (1.0 - lam) * (r - mu) ** 2
            else:
                shock = z[:, t * N:(t + 1) * N] @ LT
                if W is not None:
                    shock = shock * (math.sqrt((dof - 2.0) / dof) / torch.sqrt(W[:, t:t + 1] / dof))
                r = mu + shock
            growth *= 1.0 + r
        out[lo:lo + k] = (growth - 1.0) @ w
    return out


def monte_carlo_var(req: MonteCarloVarRequest, ctx: OpContext | None = None) -> MonteCarloVarResponse:
    p = panel(req.market, req.positions if req.positions is not None else None)
    device = device_of(ctx)
    h = req.horizon_days
    asset_level = req.method == "asset_level"
    collapse = not asset_level and (h == 1 or req.horizon_method == "sqrt_time")
    dof, dof_estimated = None, False
    if req.distribution == "student_t" and req.dof_per_asset is None:
        if req.dof is not None:
            dof = float(req.dof)
        else:
            dof, dof_estimated = estimate_dof(p.require_history("estimating the degrees of freedom") @ p.w), True
    hist_pnl = fhs = None
    if req.distribution == "filtered_historical":
        eps, sig_next = ewma_filter(p.require_history("filtered historical bootstrap"), req.ewma_lambda)
        if collapse and not asset_level:
            hist_pnl = torch.as_tensor(float(p.w @ p.mean) + eps @ (p.w * sig_next), device=device)
        else:
            fhs = (torch.as_tensor(eps, device=device), torch.as_tensor(sig_next, device=device))

    if asset_level:
        return _asset_level(req, p, device, dof, dof_estimated, fhs)
    N = p.w.size
    if not collapse and req.n_scenarios * N * h > MAX_SIMULATED_ELEMENTS:
        raise InvalidInput(f"{req.n_scenarios} scenarios x {N} assets x {h} days exceeds {MAX_SIMULATED_ELEMENTS:,} "
                           "simulated values; use fewer scenarios or horizon_method='sqrt_time'", field="n_scenarios")
    if req.distribution == "filtered_historical":
        dims = {"n_index": 1 if collapse else h}
    elif collapse:
        dims = {"n_t": 1} if req.distribution == "student_t" else {"n_norm": 1}
    else:
        dims = {"n_norm": N * h, "n_chi2": h if req.distribution == "student_t" else 0}

    def run(n: int, replicate: int) -> torch.Tensor:
        src = RandomSource(req.sampler, req.seed, device, replicate, **dims)
        if collapse:
            return simulate_collapsed(req, p, n, dof, src, device, hist_pnl)
        return simulate_paths(req, p, n, dof, src, device, fhs)

    alphas = list(req.confidence_levels)
    if req.sampler == "sobol":
        m = max(4, round(math.log2(req.n_scenarios / SOBOL_REPLICATES)))
        reps = [-run(1 << m, r) for r in range(SOBOL_REPLICATES)]
        ests = replicate_estimates(torch.cat(reps), reps, alphas)
        n_total = SOBOL_REPLICATES << m
    else:
        ests = tail_estimates(_negated(run(req.n_scenarios, 0)), alphas)
        n_total = req.n_scenarios
    scale = math.sqrt(h) if collapse else 1.0
    return MonteCarloVarResponse(
        simulation="linear_shortcut", distribution=req.distribution, sampler=req.sampler, horizon_days=h,
        horizon_method="sqrt_time" if (collapse and h > 1) else ("paths" if not collapse else "one_day"),
        n_scenarios=n_total, seed=req.seed, dof=dof, dof_estimated=dof_estimated, linear_collapse=collapse,
        device=str(device), portfolio_value=float(p.w.sum()), covariance_repaired=p.cov_repaired,
        levels=[_level(a, e, scale) for a, e in zip(alphas, ests, strict=False)],
    )


def _asset_level(req: MonteCarloVarRequest, p: Panel, device: torch.device, dof: float | None, dof_estimated: bool,
                 fhs: tuple[torch.Tensor, torch.Tensor] | None) -> MonteCarloVarResponse:
    """Every asset simulated, every position revalued (engines.risk.compute.asset_mc)."""
    from engines.risk.compute import asset_mc

    book = asset_mc.make_book(req, p, device)
    sim = asset_mc.AssetSimulation(req, p, book, dof, fhs, device)
    width = p.w.size * sim.steps + book.n_options
    if req.n_scenarios * width > MAX_SIMULATED_ELEMENTS:
        raise InvalidInput(f"{req.n_scenarios} scenarios x {width} simulated values each exceeds "
                           f"{MAX_SIMULATED_ELEMENTS:,}; use fewer scenarios", field="n_scenarios")
    dims = sim.dims()
    alphas = list(req.confidence_levels)
    if req.sampler == "sobol":
        m = max(4, round(math.log2(req.n_scenarios / SOBOL_REPLICATES)))
        reps = [-asset_mc.simulate(sim, RandomSource("sobol", req.seed, device, r, **dims), 1 << m)
                for r in range(SOBOL_REPLICATES)]
        ests = replicate_estimates(torch.cat(reps), reps, alphas)
        n_total = SOBOL_REPLICATES << m
    else:
        losses = _negated(asset_mc.simulate(sim, RandomSource("pseudo", req.seed, device, **dims), req.n_scenarios))
        ests = tail_estimates(losses, alphas)
        n_total = req.n_scenarios
    comps = None
    if req.components:
        labels = book.labels(p.symbols, [o.underlying for o in req.options])
        parts = asset_mc.components(sim, RandomSource("pseudo", req.seed, device, **dims), n_total, losses,
                                    alphas, ests)
        comps = [LevelComponents(confidence=a, by_position=[
            ComponentRisk(position=lab, component_var=float(v), component_cvar=float(c))
            for lab, (v, c) in zip(labels, part.tolist(), strict=True)]) for a, part in zip(alphas, parts, strict=True)]
    value = float(p.w.sum() + (book.qm * book.v0).sum()) if book.n_options else float(p.w.sum())
    return MonteCarloVarResponse(
        simulation="asset_level", distribution=req.distribution, sampler=req.sampler, horizon_days=req.horizon_days,
        horizon_method="paths" if sim.paths else ("sqrt_time" if req.horizon_days > 1 else "one_day"),
        n_scenarios=n_total, seed=req.seed, dof=dof, dof_estimated=dof_estimated, linear_collapse=False,
        revaluation=req.revaluation if book.n_options else None, device=str(device), portfolio_value=value,
        covariance_repaired=p.cov_repaired, levels=[_level(a, e, 1.0) for a, e in zip(alphas, ests, strict=False)],
        components=comps)


def _level(a: float, e: TailEstimate, scale: float) -> EstimatedLevel:
    return EstimatedLevel(confidence=a, var=e.var * scale, cvar=e.cvar * scale, var_se=e.var_se * scale,
                          cvar_se=e.cvar_se * scale, var_ci_low=e.var_ci_low * scale,
                          var_ci_high=e.var_ci_high * scale)
