"""Name the constraint that makes a problem infeasible, with cheap checks run after a solver failed.

Each check looks at one constraint against the bounds and budget alone, so it proves infeasibility
when it fires; when none fires the combination is to blame and the field is ``constraints``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engines.portfolio.compute import estimators as est
from engines.portfolio.models.optimize import OptimizeSpec


def _max_mean(mu: np.ndarray, lb: np.ndarray, ub: np.ndarray, budget: float) -> float:
    """Highest mu'w over lb <= w <= ub, 1'w = budget (fill the best assets first)."""
    w = lb.copy()
    left = budget - lb.sum()
    for i in np.argsort(-mu):
        add = min(ub[i] - lb[i], max(left, 0.0))
        w[i] += add
        left -= add
    return float(mu @ w)


def diagnose(spec: OptimizeSpec, symbols: list[str], returns: pd.DataFrame | None) -> tuple[str, str]:
    """(field, reason) of the first constraint found impossible on its own."""
    c = spec.constraints
    lb, ub = est.bounds(c, symbols)
    budget = c.budget
    if (lb > ub).any():
        i = int(np.argmax(lb > ub))
        return "constraints.min_weight", f"min weight {lb[i]} exceeds max weight {ub[i]} for {symbols[i]}"
    if lb.sum() > budget + 1e-12:
        return "constraints.min_weight", f"min weights sum to {lb.sum():.6g}, more than the budget {budget}"
    if ub.sum() < budget - 1e-12:
        return "constraints.max_weight", f"max weights sum to {ub.sum():.6g}, less than the budget {budget}"
    if c.cardinality is not None and np.sort(ub)[::-1][: c.cardinality].sum() < budget - 1e-12:
        return "constraints.cardinality", f"{c.cardinality} assets at their max weights cannot reach the budget"
    if c.group_limits:
        groups = c.groups or {}
        for i, gl in enumerate(c.group_limits):
            members = np.array([groups.get(s) == gl.group for s in symbols])
            lo, hi = lb[members].sum(), ub[members].sum()
            if gl.min is not None and gl.max is not None and gl.min > gl.max:
                return f"constraints.group_limits.{i}", f"group {gl.group!r}: min {gl.min} > max {gl.max}"
            if gl.min is not None and gl.min > hi + 1e-12:
                return f"constraints.group_limits.{i}", f"group {gl.group!r} can hold at most {hi:.6g} < min {gl.min}"
            if gl.max is not None and gl.max < lo - 1e-12:
                return f"constraints.group_limits.{i}", f"group {gl.group!r} holds at least {lo:.6g} > max {gl.max}"
        mins = {gl.group: gl.min for gl in c.group_limits if gl.min is not None}
        if sum(mins.values()) > budget + 1e-12:
            return "constraints.group_limits", f"group minimums sum to {sum(mins.values()):.6g} > budget {budget}"
    prev = est.previous(c, symbols)
    if c.max_turnover is not None and prev is not None:
        need = float((np.maximum(lb - prev, 0) + np.maximum(prev - ub, 0)).sum())
        need = max(need, abs(budget - prev.sum()))
        if need > c.max_turnover + 1e-12:
            return "constraints.max_turnover", f"reaching the bounds from the previous weights needs turnover " \
                                               f"{need:.6g} > {c.max_turnover}"
    if spec.min_return_annual is not None and returns is not None:
        best = _max_mean(returns.to_numpy().mean(axis=0), lb, ub, budget) * spec.periods_per_year
        if best < spec.min_return_annual:
            return "min_return_annual", f"the best expected return within the bounds is {best:.6g} a year"
    return "constraints", "no single constraint is impossible on its own; their combination is"
