"""Asset-level Monte Carlo against independent answers: closed forms for linear books, a monotone
option book's exact quantile (scipy), scipy's t quantile for the copula's marginals, and the
components' sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from backend.core.errors import InvalidInput
from engines.risk.compute.asset_mc import t_marginal, t_marginal_table
from engines.risk.compute.montecarlo import monte_carlo_var
from engines.risk.models.var import MonteCarloVarRequest

COV = np.array([[4e-4, 1e-4, 5e-5], [1e-4, 2.5e-4, 2e-5], [5e-5, 2e-5, 1e-4]])
W = np.array([1e6, -4e5, 2.5e6])
MARKET = {"symbols": ["A", "B", "C"], "covariance": COV}
POSITIONS = [{"symbol": s, "value": float(v)} for s, v in zip("ABC", W, strict=True)]


def run(**kw) -> object:  # noqa: ANN003
    return monte_carlo_var(MonteCarloVarRequest(**{"positions": POSITIONS, "market": MARKET, "n_scenarios": 200_000,
                                                   "seed": 11, "confidence_levels": [0.95, 0.99], **kw}))


def bs(S: float, K: float, T: float, v: float, call: bool) -> float:
    """Black-Scholes (no rates) written out here, independent of the engine's."""
    d1 = (math.log(S / K) + 0.5 * v * v * T) / (v * math.sqrt(T))
    d2 = d1 - v * math.sqrt(T)
    N = stats.norm.cdf
    return S * N(d1) - K * N(d2) if call else K * N(-d2) - S * N(-d1)


def test_linear_book_when_asset_level_then_equals_the_closed_form_and_the_shortcut():
    s = math.sqrt(W @ COV @ W)
    full, short = run(method="asset_level"), run()
    assert full.simulation == "asset_level" and not full.linear_collapse and short.simulation == "linear_shortcut"
    for lv in full.levels:
        exact = s * stats.norm.ppf(lv.confidence)
        assert abs(lv.var - exact) <= 4 * lv.var_se
        assert abs(lv.cvar - s * stats.norm.pdf(stats.norm.ppf(lv.confidence)) / (1 - lv.confidence)) <= 4 * lv.cvar_se


@pytest.mark.parametrize(("kind", "qty"), [("call", 100.0), ("put", -50.0)])
def test_option_book_when_fully_revalued_then_var_is_the_pnl_at_the_return_quantile(kind, qty):
    """One option, P&L monotone in the underlying's return: the VaR is the P&L at a return quantile."""
    sd, spot, strike, T, iv, mult = math.sqrt(COV[0, 0]), 100.0, 102.0, 0.25, 0.3, 100.0
    opt = {"underlying": "A", "spot": spot, "kind": kind, "strike": strike, "expiry_years": T, "implied_vol": iv,
           "quantity": qty}
    out = run(method="asset_level", positions=[], options=[opt], n_scenarios=400_000)
    v0 = bs(spot, strike, T, iv, kind == "call")
    for lv in out.levels:
        worst_r = sd * stats.norm.ppf(1 - lv.confidence)  # low returns hurt a long call and a short put alike
        exact = -qty * mult * (bs(spot * (1 + worst_r), strike, T - 1 / 252, iv, kind == "call") - v0)
        assert abs(lv.var - exact) <= 4 * lv.var_se, (lv.var, exact, lv.var_se)
    approx = run(method="asset_level", positions=[], options=[opt], n_scenarios=400_000, revaluation="delta_gamma")
    assert approx.revaluation == "delta_gamma"
    assert approx.levels[1].var == pytest.approx(out.levels[1].var, rel=0.02)  # a 2% one-day move: close


def test_t_marginal_table_when_interpolated_then_matches_scipy_quantiles():
    import torch

    dofs = np.array([2.5, 4.0, 30.0])
    table, dz = t_marginal_table(dofs)
    z = np.random.default_rng(0).normal(size=(20_000, 3)) * 1.5
    got = t_marginal(torch.as_tensor(z), torch.as_tensor(table), dz).numpy()
    want = np.stack([stats.t.ppf(stats.norm.cdf(z[:, j]), df=v) for j, v in enumerate(dofs)], axis=1)
    rel = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert rel.max() < 1e-6 and rel[np.abs(z).max(axis=1) < 3].max() < 1e-10


def test_copula_when_one_asset_with_its_own_dof_then_var_is_the_scaled_t_quantile():
    market = {"symbols": ["A"], "covariance": np.array([[4e-4]])}
    out = monte_carlo_var(MonteCarloVarRequest(
        positions=[{"symbol": "A", "value": 1e6}], market=market, method="asset_level", distribution="student_t",
        dof_per_asset=np.array([5.0]), n_scenarios=400_000, seed=2, confidence_levels=[0.99]))
    exact = 1e6 * 0.02 * math.sqrt(3 / 5) * stats.t.ppf(0.99, 5)
    assert abs(out.levels[0].var - exact) <= 4 * out.levels[0].var_se


def test_components_when_asked_then_cvar_parts_sum_exactly_and_var_parts_sum_to_var():
    out = run(method="asset_level", components=True, options=[
        {"underlying": "C", "spot": 50.0, "kind": "put", "strike": 48.0, "expiry_years": 0.1, "implied_vol": 0.2,
         "quantity": 500.0}])
    for lc, lv in zip(out.components, out.levels, strict=True):
        assert [c.position for c in lc.by_position] == ["A", "B", "C", "option 0 (C)"]
        assert sum(c.component_cvar for c in lc.by_position) == pytest.approx(lv.cvar, rel=1e-9)
        assert sum(c.component_var for c in lc.by_position) == pytest.approx(lv.var, rel=1e-9)
    # a linear Gaussian book: each position's CVaR share is w_i (C w)_i / s * phi(z)/(1-a) (Euler, closed form)
    lin = run(method="asset_level", components=True, n_scenarios=400_000)
    s = math.sqrt(W @ COV @ W)
    a = 0.95
    euler = W * (COV @ W) / s * stats.norm.pdf(stats.norm.ppf(a)) / (1 - a)
    got = [c.component_cvar for c in lin.components[0].by_position]
    assert got == pytest.approx(euler.tolist(), rel=0.03, abs=2e3)


@pytest.mark.parametrize("bad", [
    {"options": [{"underlying": "A", "spot": 1, "kind": "call", "strike": 1, "expiry_years": 1, "implied_vol": 0.2,
                  "quantity": 1}]},                                             # options need asset_level
    {"method": "asset_level", "dof_per_asset": np.array([5.0, 5.0, 2.0]), "distribution": "student_t"},  # dof <= 2
    {"method": "asset_level", "dof_per_asset": np.array([5.0, 5.0, 5.0])},    # only with student_t
    {"method": "asset_level", "components": True, "sampler": "sobol"},
])
def test_request_when_it_does_not_fit_the_method_then_refused(bad):
    with pytest.raises(ValidationError):
        MonteCarloVarRequest(positions=POSITIONS, market=MARKET, **bad)


def test_option_when_underlying_unknown_then_invalid_naming_it():
    with pytest.raises(InvalidInput) as e:
        run(method="asset_level", options=[{"underlying": "ZZZ", "spot": 1, "kind": "call", "strike": 1,
                                            "expiry_years": 1, "implied_vol": 0.2, "quantity": 1}])
    assert e.value.field == "options.0.underlying"
