"""The inline problem an optimisation works on: symbols, returns (or a covariance), and checks.

After the prepare step every request is inline; this turns it into arrays once and refuses what no
optimiser can use, naming the field: too few rows, ragged rows, a covariance that is not symmetric
positive semi-definite, previous weights that do not sum to at most the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backend.contract.arrays import as_matrix
from backend.core.errors import InvalidInput
from engines.portfolio.models.optimize import MIN_OBSERVATIONS, OptimizeRequest
from engines.risk.models.common import MarketData


@dataclass(frozen=True)
class Problem:
    symbols: list[str]
    returns: pd.DataFrame | None  # periods x symbols, simple returns
    covariance: np.ndarray | None  # only when given inline without returns
    mean: np.ndarray | None

    @property
    def n_observations(self) -> int:
        return 0 if self.returns is None else len(self.returns)

    def need_returns(self, why: str) -> pd.DataFrame:
        if self.returns is None:
            raise InvalidInput(f"{why} needs return scenarios (returns, prices or a reference), not a covariance",
                               field="market.covariance")
        return self.returns


def load_problem(market: MarketData, field: str = "market") -> Problem:
    """Inline market data -> Problem (a reference must have been resolved by the prepare step)."""
    if market.is_reference:
        raise InvalidInput("market data by reference needs the engine's database step", field=field)
    if not market.symbols:
        raise InvalidInput("name the columns: symbols is required", field=f"{field}.symbols")
    symbols = list(market.symbols)
    if len(set(symbols)) != len(symbols):
        raise InvalidInput("symbols must be unique", field=f"{field}.symbols")
    n = len(symbols)
    if market.covariance is not None:
        cov = as_matrix(market.covariance, f"{field}.covariance")
        if cov.shape != (n, n):
            raise InvalidInput(f"covariance must be {n}x{n} (one row and column per symbol)",
                               field=f"{field}.covariance")
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-14):
            raise InvalidInput("covariance is not symmetric", field=f"{field}.covariance")
        eig = np.linalg.eigvalsh(cov)
        if eig[0] < -1e-10 * max(1.0, eig[-1]):
            raise InvalidInput(f"covariance is not positive semi-definite (smallest eigenvalue {eig[0]:.3g})",
                               field=f"{field}.covariance")
        mean = None
        if market.mean is not None:
            if len(market.mean) != n:
                raise InvalidInput(f"mean needs {n} values", field=f"{field}.mean")
            mean = np.asarray(market.mean, dtype=float)
        return Problem(symbols, None, cov, mean)
    if market.returns is not None:
        R = as_matrix(market.returns, f"{field}.returns")
        name = "returns"
    else:
        P = as_matrix(market.prices if market.prices is not None else [], f"{field}.prices", min_rows=2)
        if (P <= 0).any():
            raise InvalidInput("prices must be > 0", field=f"{field}.prices")
        R = P[1:] / P[:-1] - 1.0
        name = "prices"
    if R.shape[1] != n:
        raise InvalidInput(f"{name} rows have {R.shape[1]} values, symbols name {n}", field=f"{field}.{name}")
    if R.shape[0] < MIN_OBSERVATIONS:
        what = "look-back" if market.dates is not None else name
        raise InvalidInput(f"{what} gives {R.shape[0]} return rows; optimisation needs at least {MIN_OBSERVATIONS}",
                           field=f"{field}.{name}")
    if (R <= -1.0).any():
        raise InvalidInput("a return must be > -1", field=f"{field}.{name}")
    index = pd.DatetimeIndex(market.dates[-R.shape[0]:]) if market.dates and len(market.dates) >= R.shape[0] else None
    return Problem(symbols, pd.DataFrame(R, columns=symbols, index=index), None, None)


def universe_check(req: OptimizeRequest, problem: Problem) -> None:
    """Previous weights may not exceed the budget in absolute sum by more than rounding."""
    prev = req.constraints.previous_weights
    if prev is not None:
        total = sum(prev.values())
        if total > abs(req.constraints.budget) + 1e-9:
            raise InvalidInput(f"previous weights sum to {total:.6g}, more than the budget {req.constraints.budget}",
                               field="constraints.previous_weights")
