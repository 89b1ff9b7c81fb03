"""Monte Carlo VaR: convergence to closed forms within a few standard errors; reproducibility; options."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.risk.compute import montecarlo
from engines.risk.compute.montecarlo import estimate_dof, monte_carlo_var
from engines.risk.compute.tail import tail_estimates
from engines.risk.models.var import MonteCarloVarRequest
from tests.unit.risk.kit import gaussian_market, positions, returns_market

pytestmark = pytest.mark.timeout(120)
W = np.array([1e6, 2e6, -5e5, 3e5, 1e6])
CTX = OpContext(engine="risk", device="cpu")


def gaussian_closed_form(mu, C, a):  # noqa: ANN001, ANN201
    m, s = W @ mu, math.sqrt(W @ C @ W)
    z = stats.norm.ppf(a)
    return -m + z * s, -m + s * stats.norm.pdf(z) / (1 - a)


def t_closed_form(mu, C, a, v):  # noqa: ANN001, ANN201
    """w'r = m + s sqrt((v-2)/v) T_v: quantile and ES of the scaled Student-t (scipy.stats.t)."""
    m, s = W @ mu, math.sqrt(W @ C @ W)
    scale = s * math.sqrt((v - 2) / v)
    var = -m + scale * stats.t.ppf(a, v)
    es = -m + scale * stats.t.expect(lambda x: x, args=(v,), lb=stats.t.ppf(a, v), conditional=True)
    return var, es


@pytest.mark.parametrize("sampler", ["pseudo", "sobol"])
def test_gaussian_when_simulated_then_within_four_standard_errors_of_closed_form(sampler):
    market, mu, C = gaussian_market(5)
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=200_000,
                                               sampler=sampler, confidence_levels=[0.95, 0.99]), CTX)
    assert out.linear_collapse
    for lvl in out.levels:
        var, es = gaussian_closed_form(mu, C, lvl.confidence)
        assert abs(lvl.var - var) < 4 * lvl.var_se + 1e-9 * var
        assert abs(lvl.cvar - es) < 4 * lvl.cvar_se + 1e-9 * es
        assert lvl.var_ci_low < lvl.var < lvl.var_ci_high
        assert lvl.var_se < 0.01 * var


def test_sobol_when_same_budget_then_smaller_standard_error_than_pseudo():
    market, _, _ = gaussian_market(5)
    pseudo = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=65_536), CTX)
    sobol = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=65_536,
                                                 sampler="sobol"), CTX)
    assert sobol.levels[1].var_se < pseudo.levels[1].var_se / 3


@pytest.mark.parametrize("sampler", ["pseudo", "sobol"])
def test_student_t_when_dof_given_then_within_four_standard_errors_of_scipy_t(sampler):
    market, mu, C = gaussian_market(5)
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=200_000,
                                               distribution="student_t", dof=4.0, sampler=sampler,
                                               confidence_levels=[0.975, 0.99]), CTX)
    assert out.dof == 4.0 and not out.dof_estimated
    for lvl in out.levels:
        var, es = t_closed_form(mu, C, lvl.confidence, 4.0)
        assert abs(lvl.var - var) < 4 * lvl.var_se
        assert abs(lvl.cvar - es) < 4 * lvl.cvar_se


def test_estimate_dof_when_student_t_sample_then_recovers_dof():
    x = stats.t.rvs(5, size=20_000, random_state=np.random.default_rng(1)) * 0.01
    assert estimate_dof(x) == pytest.approx(5.0, rel=0.15)


def test_student_t_when_dof_estimated_then_reported():
    market, _ = returns_market(1500, 5, dist="t")  # standard_t(4) marginals
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=20_000,
                                               distribution="student_t"), CTX)
    assert out.dof_estimated and 2.1 <= out.dof < 12


def test_seed_when_repeated_then_identical_and_when_changed_then_different():
    market, _, _ = gaussian_market(5)
    req = dict(positions=positions(W), market=market, n_scenarios=10_000, distribution="student_t", dof=5.0)
    a = monte_carlo_var(MonteCarloVarRequest(**req, seed=7), CTX)
    b = monte_carlo_var(MonteCarloVarRequest(**req, seed=7), CTX)
    c = monte_carlo_var(MonteCarloVarRequest(**req, seed=8), CTX)
    assert a == b and a.levels[0].var != c.levels[0].var


def test_filtered_historical_when_one_day_then_quantile_of_filtered_scenarios():
    market, R = returns_market(400, 3, dist="t")
    w = W[:3]
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(w), market=market, n_scenarios=400_000,
                                               distribution="filtered_historical", ewma_lambda=0.9,
                                               confidence_levels=[0.95]), CTX)
    # hand-rolled EWMA filter: sigma2_0 = sample variance, sigma2_{t+1} = l sigma2_t + (1 - l) x_t^2
    mu = R.mean(axis=0)
    X = R - mu
    s2 = X.var(axis=0)
    eps = []
    for t in range(len(X)):
        eps.append(X[t] / np.sqrt(s2))
        s2 = 0.9 * s2 + 0.1 * X[t] ** 2
    scen = -(w @ mu + np.array(eps) @ (w * np.sqrt(s2)))
    exact = np.quantile(scen, 0.95, method="inverted_cdf")  # bootstrap -> the scenarios' own quantile
    neighbours = np.sort(scen)[[378, 379, 380, 381]]
    assert neighbours.min() <= out.levels[0].var <= neighbours.max()
    assert out.levels[0].var == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("distribution,sampler", [("gaussian", "pseudo"), ("student_t", "pseudo"),
                                                  ("student_t", "sobol")])
def test_paths_when_horizon_then_close_to_sqrt_time_closed_form(distribution, sampler):
    market, mu, C = gaussian_market(5)
    h = 10
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=100_000,
                                               horizon_days=h, horizon_method="paths", distribution=distribution,
                                               sampler=sampler,
                                               dof=6.0 if distribution == "student_t" else None,
                                               confidence_levels=[0.99]), CTX)
    assert not out.linear_collapse and out.horizon_method == "paths"
    m, s = W @ mu, math.sqrt(W @ C @ W)
    # sum of h iid daily P&Ls: mean h m, std sqrt(h) s; compounding adds a second-order term (< 2% here)
    normal_h = -h * m + stats.norm.ppf(0.99) * s * math.sqrt(h)
    assert out.levels[0].var == pytest.approx(normal_h, rel=0.03)


def test_paths_when_filtered_historical_then_runs_with_ewma_recursion():
    market, _ = returns_market(300, 3)
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(W[:3]), market=market, n_scenarios=20_000,
                                               horizon_days=5, horizon_method="paths",
                                               distribution="filtered_historical", sampler="sobol"), CTX)
    one = monte_carlo_var(MonteCarloVarRequest(positions=positions(W[:3]), market=market, n_scenarios=20_000,
                                               distribution="filtered_historical"), CTX)
    assert out.levels[1].var == pytest.approx(one.levels[1].var * math.sqrt(5), rel=0.25)


def test_chunking_when_chunks_tiny_then_same_statistics(monkeypatch):
    market, mu, C = gaussian_market(5)
    monkeypatch.setattr(montecarlo, "CHUNK_ELEMENTS", 1000)
    out = monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market, n_scenarios=50_000,
                                               horizon_days=2, horizon_method="paths"), CTX)
    m, s = W @ mu, math.sqrt(W @ C @ W)
    expect = -2 * m + stats.norm.ppf(0.99) * s * math.sqrt(2)
    assert abs(out.levels[1].var - expect) < 4 * out.levels[1].var_se + 0.01 * expect


def test_tail_estimates_when_compared_to_numpy_then_equal():
    x = torch.from_numpy(np.random.default_rng(5).standard_t(3, size=100_001))
    for a, est in zip([0.9, 0.99, 0.999], tail_estimates(x, [0.9, 0.99, 0.999]), strict=False):
        v = np.quantile(x.numpy(), a, method="inverted_cdf")
        assert est.var == v
        k = math.ceil(a * x.numel())
        s = np.sort(x.numpy())
        assert est.cvar == pytest.approx((s[k:].sum() + (k - a * x.numel()) * s[k - 1]) / (x.numel() * (1 - a)))


def test_sobol_when_dimension_too_large_then_invalid():
    big, _, _ = gaussian_market(100)  # 100 assets x 252 days = 25,200 dimensions > 21,201
    with pytest.raises(InvalidInput) as e:
        monte_carlo_var(MonteCarloVarRequest(positions=positions(np.ones(100)), market=big, sampler="sobol",
                                             horizon_days=252, horizon_method="paths", n_scenarios=1000), CTX)
    assert e.value.field == "sampler" and "21201" in e.value.detail


def test_filtered_historical_when_only_covariance_then_invalid():
    market, _, _ = gaussian_market(5)
    with pytest.raises(InvalidInput, match="return history"):
        monte_carlo_var(MonteCarloVarRequest(positions=positions(W), market=market,
                                             distribution="filtered_historical"), CTX)


def test_paths_when_work_exceeds_bound_then_invalid_before_simulating():
    big, _, _ = gaussian_market(1000)
    with pytest.raises(InvalidInput) as e:
        monte_carlo_var(MonteCarloVarRequest(positions=positions(np.ones(1000)), market=big, n_scenarios=10_000_000,
                                             horizon_days=250, horizon_method="paths"), CTX)
    assert e.value.field == "n_scenarios" and "sqrt_time" in e.value.detail
