"""Limit evaluation: each of the 13 limit types against a hand-computed value; status thresholds."""

import numpy as np
import pytest

from backend.core.errors import InvalidInput
from engines.risk.compute.limits import evaluate
from engines.risk.models.limits import Limit, LimitType, PortfolioSnapshot

pytestmark = pytest.mark.timeout(60)

R = np.array([[0.01, -0.02], [-0.03, 0.01], [0.02, 0.02], [-0.01, -0.04], [0.005, 0.0]])
SNAP = PortfolioSnapshot(
    positions=[
        {"symbol": "A", "value": 600.0, "quantity": 60, "sector": "tech", "beta": 1.2, "average_daily_volume": 600},
        {"symbol": "B", "value": -300.0, "quantity": -10, "sector": "tech", "beta": 0.5, "average_daily_volume": 20},
        {"symbol": "C", "value": 100.0, "quantity": 5, "sector": "energy", "beta": 2.0, "average_daily_volume": 1e4},
    ],
    equity=500.0, daily_pnl=-42.0, equity_curve=[100, 120, 90, 110, 80, 130],
    order={"symbol": "A", "notional": -250.0},
    market={"symbols": ["A", "B", "C"], "returns": np.c_[R, np.zeros(5)].tolist()},
)

EXPECTED = {
    LimitType.gross_exposure: 1000.0,
    LimitType.net_exposure: 400.0,
    LimitType.leverage: 1000.0 / 500.0,
    LimitType.single_name_concentration: 600.0 / 500.0,
    LimitType.sector_concentration: 900.0 / 500.0,
    LimitType.var: None,  # computed below from the losses
    LimitType.cvar: None,
    LimitType.max_drawdown: 1 - 80 / 120,
    LimitType.daily_loss: 42.0,
    LimitType.position_size: 60.0,
    LimitType.order_notional: 250.0,
    LimitType.liquidity: 10 / 20,
    LimitType.beta_exposure: abs(600 * 1.2 - 300 * 0.5 + 100 * 2.0),
}


def lim(t: LimitType, threshold: float = 1.0, **kw) -> Limit:
    return Limit(id=1, limit_type=t, threshold=threshold, **kw)


def test_limit_types_when_evaluated_then_values_match_hand_computation():
    assert len(LimitType) >= 12
    losses = -(R @ np.array([600.0, -300.0]))  # 5 scenarios, a = 0.8: VaR = 4th smallest, CVaR = the largest
    for t in LimitType:
        res = evaluate([lim(t, confidence=0.8)], SNAP)[0]
        if t is LimitType.var:
            assert res.value == pytest.approx(np.sort(losses)[3])
        elif t is LimitType.cvar:
            assert res.value == pytest.approx(np.sort(losses)[4])
        else:
            assert res.value == pytest.approx(EXPECTED[t]), t


def test_scope_when_symbol_or_sector_given_then_only_that_one_measured():
    out = evaluate([lim(LimitType.single_name_concentration, scope="C"), lim(LimitType.sector_concentration,
                    scope="energy"), lim(LimitType.position_size, scope="B"),
                    lim(LimitType.liquidity, scope="C")], SNAP)
    assert [r.value for r in out] == pytest.approx([100 / 500, 100 / 500, 10, 5 / 1e4])


@pytest.mark.parametrize("threshold,status", [(1001.0, "warning"), (1000.0, "warning"), (999.0, "breach"),
                                              (1251.0, "ok"), (1250.0, "warning")])
def test_status_when_utilisation_crosses_fraction_or_one_then_warning_or_breach(threshold, status):
    res = evaluate([lim(LimitType.gross_exposure, threshold=threshold, warning_fraction=0.8)], SNAP)[0]
    assert res.status == status and res.utilisation == pytest.approx(1000.0 / threshold)


@pytest.mark.parametrize("t,field", [(LimitType.leverage, "portfolio.equity"),
                                     (LimitType.var, "portfolio.market"),
                                     (LimitType.order_notional, "portfolio.order"),
                                     (LimitType.beta_exposure, "portfolio.positions.0.beta")])
def test_limit_when_needed_input_missing_then_invalid_naming_it(t, field):
    bare = PortfolioSnapshot(positions=[{"symbol": "A", "value": 1.0}])
    with pytest.raises(InvalidInput) as e:
        evaluate([lim(t)], bare)
    assert e.value.field == field
