"""The fast path: long-only minimum variance and maximum Sharpe with per-asset bounds, solved exactly.

Both are convex quadratic programmes small enough (tens to a few hundred assets) that a primal
active-set method (Nocedal & Wright, *Numerical Optimization*, algorithm 16.3) on the KKT system
finishes in a handful of dense solves, without building a modelling-layer problem on every call.

    minimum variance   min w'Σw            s.t. 1'w = 1, lb <= w <= ub
    maximum Sharpe     max (μ - rf)'w / sqrt(w'Σw)   over the same set, solved in the homogenised
                       variables y = κw (Cornuéjols & Tütüncü): min y'Σy s.t. (μ - rf)'y = 1,
                       y >= lb·1'y, y <= ub·1'y; then w = y / 1'y.

Σ must be positive definite (a singular Σ has no unique answer: callers fall back to skfolio or
refuse it). The answers equal skfolio's ``MeanRisk`` on the same problem to its solver tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.core.errors import InvalidInput

#: Relative KKT tolerance: a step shorter than this (scaled) counts as zero, a multiplier above -this as >= 0.
TOL = 1e-12
#: Iteration cap as a multiple of (variables + constraints); reaching it means degeneracy (cycling).
MAX_ITER_FACTOR = 10


class NotConverged(RuntimeError):
    """The active set did not settle (degenerate problem); the caller falls back to the general solver."""


@dataclass(frozen=True)
class FastResult:
    weights: np.ndarray
    iterations: int
    status: str = "optimal"


def _check_bounds(lb: np.ndarray, ub: np.ndarray) -> None:
    if (lb > ub).any():
        i = int(np.argmax(lb > ub))
        raise InvalidInput(f"min weight {lb[i]} exceeds max weight {ub[i]} for asset {i}",
                           field="constraints.min_weight", solver_status="infeasible")
    for total, name in ((lb.sum(), "min_weight"), (ub.sum(), "max_weight")):
        if (name == "min_weight" and total > 1.0 + 1e-12) or (name == "max_weight" and total < 1.0 - 1e-12):
            raise InvalidInput(f"bounds cannot hold a fully invested portfolio: {name}s sum to {total:.6g}, budget 1",
                               field=f"constraints.{name}", solver_status="infeasible")


def feasible_start(lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """The point of {lb <= w <= ub, 1'w = 1} nearest to equal weights: clip(1/n + τ), τ by bisection."""
    n = lb.size
    lo, hi = float((lb - 1.0 / n).min()) - 1.0, float((ub - 1.0 / n).max()) + 1.0
    for _ in range(200):
        tau = 0.5 * (lo + hi)
        s = np.clip(1.0 / n + tau, lb, ub).sum()
        if s > 1.0:
            hi = tau
        else:
            lo = tau
        if hi - lo < 1e-15:
            break
    w = np.clip(1.0 / n + 0.5 * (lo + hi), lb, ub)
    # put the last rounding residue on a variable with room
    r = 1.0 - w.sum()
    room = (ub - w) if r > 0 else (w - lb)
    j = int(np.argmax(room))
    w[j] += r
    return w


def active_set_qp(H: np.ndarray, A: np.ndarray, b: np.ndarray, G: np.ndarray, h: np.ndarray,
                  x: np.ndarray, working: list[int]) -> tuple[np.ndarray, int]:
    """min ½x'Hx s.t. Ax = b, Gx >= h from a feasible ``x`` whose ``working`` rows of G are active.

    Returns (x*, iterations). Raises NotConverged after MAX_ITER_FACTOR * (n + rows) iterations.
    """
    n = x.size
    me = A.shape[0]
    W = list(working)
    scale = max(1.0, float(np.abs(H).max()))
    for it in range(MAX_ITER_FACTOR * (n + G.shape[0] + me)):
        AW = np.vstack([A, G[W]]) if W else A
        k = AW.shape[0]
        K = np.zeros((n + k, n + k))
        K[:n, :n] = H
        K[:n, n:] = -AW.T
        K[n:, :n] = AW
        rhs = np.zeros(n + k)
        rhs[:n] = -(H @ x)
        try:
            sol = np.linalg.solve(K, rhs)
        except np.linalg.LinAlgError as e:
            raise NotConverged("singular KKT system (dependent active constraints)") from e
        p, lam = sol[:n], sol[n:]
        if np.abs(p).max() <= TOL * max(1.0, np.abs(x).max()):
            lam_ineq = lam[me:]
            if lam_ineq.size == 0 or lam_ineq.min() >= -TOL * scale:
                return x, it + 1
            W.pop(int(np.argmin(lam_ineq)))
            continue
        Gp = G @ p
        slack = G @ x - h
        blocking = Gp < -TOL * max(1.0, np.abs(p).max())
        if W:
            blocking[W] = False
        alpha, hit = 1.0, -1
        if blocking.any():
            idx = np.nonzero(blocking)[0]
            steps = np.maximum(slack[idx], 0.0) / -Gp[idx]
            j = int(np.argmin(steps))
            if steps[j] < 1.0:
                alpha, hit = float(steps[j]), int(idx[j])
        x = x + alpha * p
        if hit >= 0:
            W.append(hit)
    raise NotConverged("active set did not settle within the iteration cap")


def _bound_rows(lb: np.ndarray, ub: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """G, h of lb <= w <= ub: row i is w_i >= lb_i, then one row -w_i >= -ub_i per ub_i < 1
    (with 1'w = 1 and w >= lb >= 0, a max weight of 1 never binds). Also returns those i."""
    n = lb.size
    eye = np.eye(n)
    hi_rows = np.nonzero(ub < 1.0)[0]
    return np.vstack([eye, -eye[hi_rows]]), np.concatenate([lb, -ub[hi_rows]]), hi_rows


def min_variance(cov: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> FastResult:
    """Long-only minimum variance weights with bounds (fully invested)."""
    _check_bounds(lb, ub)
    n = lb.size
    G, h, hi_rows = _bound_rows(lb, ub)
    x0, working = _warm(cov, lb, ub, hi_rows)
    if x0 is None:
        x0 = feasible_start(lb, ub)
        working = [i for i in range(G.shape[0]) if abs(G[i] @ x0 - h[i]) <= 1e-14]
    at = np.zeros(n, dtype=np.int8)  # -1 at its lower bound, +1 at its upper bound, 0 free
    for row in working:
        at[row if row < n else hi_rows[row - n]] = -1 if row < n else 1
    w, it = box_qp(cov, lb, ub, x0, at)
    return FastResult(_clean(w, lb, ub), it)


def box_qp(cov: np.ndarray, lb: np.ndarray, ub: np.ndarray, x: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, int]:
    """The active-set method of ``active_set_qp`` specialised to min x'Σx, 1'x = 1, lb <= x <= ub.

    A bound in the working set fixes its variable, so each step solves only the free variables'
    system [Σ_FF 1; 1' 0] (size free + 1) instead of the full KKT matrix: what makes 500 assets fast.
    Multiplier of a fixed variable: g_i - ν at its lower bound, ν - g_i at its upper (g = 2Σx).
    """
    n = x.size
    x = x.copy()
    at = at.copy()
    scale = max(1.0, float(np.abs(cov).max()))
    for it in range(MAX_ITER_FACTOR * 3 * n):
        free = at == 0
        F = np.nonzero(free)[0]
        g = 2.0 * (cov @ x)
        k = F.size
        K = np.empty((k + 1, k + 1))
        K[:k, :k] = 2.0 * cov[np.ix_(F, F)]
        K[:k, k] = -1.0
        K[k, :k] = 1.0
        K[k, k] = 0.0
        rhs = np.zeros(k + 1)
        rhs[:k] = -g[F]
        try:
            sol = np.linalg.solve(K, rhs)
        except np.linalg.LinAlgError as e:
            raise NotConverged("singular reduced KKT system") from e
        p = np.zeros(n)
        p[F] = sol[:k]
        nu = sol[k]
        if np.abs(p).max() <= TOL * max(1.0, np.abs(x).max()):
            lam = np.where(at < 0, g - nu, np.where(at > 0, nu - g, np.inf))
            j = int(np.argmin(lam))
            if lam[j] >= -TOL * scale:
                return x, it + 1
            at[j] = 0
            continue
        alpha, hit, side = 1.0, -1, 0
        tiny = TOL * max(1.0, np.abs(p).max())
        down = free & (p < -tiny)
        up = free & (p > tiny) & (ub < 1.0)
        if down.any():
            idx = np.nonzero(down)[0]
            steps = np.maximum(x[idx] - lb[idx], 0.0) / -p[idx]
            j = int(np.argmin(steps))
            if steps[j] < alpha:
                alpha, hit, side = float(steps[j]), int(idx[j]), -1
        if up.any():
            idx = np.nonzero(up)[0]
            steps = np.maximum(ub[idx] - x[idx], 0.0) / p[idx]
            j = int(np.argmin(steps))
            if steps[j] < alpha:
                alpha, hit, side = float(steps[j]), int(idx[j]), 1
        x = x + alpha * p
        if hit >= 0:
            at[hit] = side
            x[hit] = lb[hit] if side < 0 else ub[hit]
    raise NotConverged("active set did not settle within the iteration cap")


def _warm(cov: np.ndarray, lb: np.ndarray, ub: np.ndarray,
          hi_rows: np.ndarray) -> tuple[np.ndarray | None, list[int]]:
    """A better feasible start: fix every bound the budget-only optimum breaks, re-solve, repeat.

    Each round is one solve on the free assets; when the result is feasible it is the optimum on its
    working set, a valid start for the active-set method (which then only releases wrong guesses).
    Returns (None, []) when no feasible point came out within a few rounds.
    """
    n = lb.size
    fixed = np.zeros(n, dtype=bool)
    at = np.zeros(n)
    hi_row = {int(i): n + k for k, i in enumerate(hi_rows)}
    for _ in range(30):
        free = ~fixed
        if not free.any():
            return None, []
        C = cov[np.ix_(free, free)]
        try:
            ones = np.linalg.solve(C, np.ones(int(free.sum())))
            base = np.linalg.solve(C, cov[np.ix_(free, fixed)] @ at[fixed]) if fixed.any() else 0.0 * ones
        except np.linalg.LinAlgError:
            return None, []
        # w_F = ν C^{-1}1 - C^{-1}Σ_FB w_B, ν from the budget 1'w = 1
        nu = (1.0 - at[fixed].sum() + base.sum()) / ones.sum()
        w = at.copy()
        w[free] = nu * ones - base
        lo_v, hi_v = free & (w < lb), free & (w > ub)
        if not (lo_v.any() or hi_v.any()):
            working = []
            for i in np.nonzero(fixed)[0]:
                if at[i] == lb[i]:
                    working.append(int(i))
                elif int(i) in hi_row:
                    working.append(hi_row[int(i)])
                else:
                    return None, []
            return w, working
        fixed |= lo_v | hi_v
        at[lo_v], at[hi_v] = lb[lo_v], ub[hi_v]
    return None, []


def max_sharpe(cov: np.ndarray, mu: np.ndarray, lb: np.ndarray, ub: np.ndarray, rf: float = 0.0) -> FastResult:
    """Long-only maximum Sharpe ratio weights with bounds; rf in the same units as ``mu`` (per period)."""
    _check_bounds(lb, ub)
    n = lb.size
    ex = mu - rf
    # the best excess return the bounds allow: fill the highest excess returns first
    w_best = lb.copy()
    left = 1.0 - lb.sum()
    for i in np.argsort(-ex):
        add = min(ub[i] - lb[i], left)
        w_best[i] += add
        left -= add
        if left <= 0:
            break
    if ex @ w_best <= 0:
        raise InvalidInput("no portfolio within the bounds has a positive expected excess return; "
                           "the maximum Sharpe ratio is undefined", field="objective", solver_status="infeasible")
    x0 = feasible_start(lb, ub)
    if ex @ x0 <= 1e-3 * (ex @ w_best):
        x0 = 0.5 * (x0 + w_best)  # still feasible (convex set), now with positive excess return
    e0 = float(ex @ x0)
    y0 = x0 / e0
    # inequalities in y: y_i - lb_i 1'y >= 0 ; ub_i 1'y - y_i >= 0 (only binding ones)
    ones = np.ones(n)
    lo_rows = np.nonzero(lb >= 0)[0]
    hi_rows = np.nonzero(ub < 1.0)[0]
    G = np.vstack([np.eye(n)[lo_rows] - np.outer(lb[lo_rows], ones), np.outer(ub[hi_rows], ones) - np.eye(n)[hi_rows]])
    h = np.zeros(G.shape[0])
    slack = G @ y0
    working = [i for i in range(G.shape[0]) if abs(slack[i]) <= 1e-14 * max(1.0, abs(y0).max())]
    y, it = active_set_qp(2.0 * cov, ex[None, :], np.ones(1), G, h, y0, working)
    return FastResult(_clean(y / y.sum(), lb, ub), it)


def _clean(w: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Remove rounding dust (1e-16 outside a bound) so that bounds hold exactly."""
    return np.clip(w, lb, ub)
