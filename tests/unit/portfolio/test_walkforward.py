"""Walk-forward evaluation against skfolio's cross_val_predict, and drift and costs by hand."""

from __future__ import annotations

import numpy as np
import pytest
from skfolio.model_selection import WalkForward, cross_val_predict
from skfolio.optimization import MeanRisk

from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest
from engines.portfolio.compute.estimators import CLARABEL_PARAMS
from engines.portfolio.compute.walkforward import evaluate
from engines.portfolio.models.walkforward import WalkForwardRequest
from tests.unit.portfolio.conftest import inline


def test_walkforward_when_no_drift_no_costs_then_equals_skfolio_cross_val_predict(sp500):
    X = sp500.iloc[-600:]
    r = evaluate(WalkForwardRequest(**inline(X), policy={"engine": "skfolio"}, lookback_days=252,
                                    rebalance_every_days=42, drift=False))
    ref = cross_val_predict(MeanRisk(solver_params=CLARABEL_PARAMS), X, cv=WalkForward(test_size=42, train_size=252))
    got = np.asarray(r.strategies[0].returns)[: len(ref.returns)]
    assert np.abs(got - ref.returns).max() < 1e-9


def test_walkforward_when_drift_and_costs_then_hand_computed_equal_weight():
    R = np.array([[0.10, 0.0], [0.0, 0.10], [0.05, -0.05], [0.01, 0.02]] * 6)
    body = {"market": {"symbols": ["A", "B"], "returns": R.tolist()}, "lookback_days": 20, "rebalance_every_days": 2,
            "cost_bps": 10}
    ew = evaluate(WalkForwardRequest(**body)).strategies[1]
    w = np.array([0.5, 0.5])
    # row 20: buy in from cash (turnover 1), row 21: drifted weights, row 22: rebalance back
    r20 = w @ R[20] - 1e-3
    w21 = w * (1 + R[20]) / (1 + w @ R[20])
    r21 = w21 @ R[21]
    w22 = w21 * (1 + R[21]) / (1 + r21)
    r22 = w @ R[22] - 1e-3 * np.abs(w - w22).sum()
    assert ew.returns[:3] == pytest.approx([r20, r21, r22], abs=1e-15)


def test_walkforward_when_reported_then_performance_is_the_analytics_definition(sp500):
    X = sp500.iloc[-400:]
    r = evaluate(WalkForwardRequest(**inline(X), lookback_days=252, rebalance_every_days=21, cost_bps=5,
                                    sixty_forty={"equity": "AAPL", "bond": "JNJ"}))
    assert [s.name for s in r.strategies] == ["policy", "equal_weight", "sixty_forty"]
    for s in r.strategies:
        assert s.performance == performance(PerformanceRequest(returns=s.returns))
        assert s.total_cost == pytest.approx(5e-4 * sum(x.turnover for x in s.rebalances))


def test_walkforward_when_lookback_exceeds_history_then_invalid_naming_it(sp500):
    with pytest.raises(InvalidInput) as e:
        evaluate(WalkForwardRequest(**inline(sp500.iloc[-100:]), lookback_days=252))
    assert e.value.field == "lookback_days"
