"""The risk prepare step without a database, and Euler additivity as a property."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.contract.operation import OpContext
from backend.core.errors import BackendUnavailable
from engines.risk import service
from engines.risk.compute.var import decompose_var, historical_var
from engines.risk.models.var import DecomposeVarRequest, HistoricalVarRequest
from tests.unit.risk.kit import gaussian_market, positions, returns_market

pytestmark = pytest.mark.timeout(60)
NO_DB = OpContext(engine="risk")


async def test_prepare_when_reference_and_no_database_then_unavailable():
    req = HistoricalVarRequest(positions=[{"symbol": "A", "value": 1.0}], market={"lookback_days": 20})
    with pytest.raises(BackendUnavailable):
        await service.inline_market(req, NO_DB)


async def test_prepare_when_inline_and_no_database_then_request_unchanged_and_computed():
    market, R = returns_market(100, 2)
    req = HistoricalVarRequest(positions=positions([1e6, 1e6]), market=market)
    assert await service.inline_market(req, NO_DB) is req
    out = historical_var(req, NO_DB)
    assert out.levels[1].var == pytest.approx(np.quantile(-(R @ [1e6, 1e6]), 0.99, method="inverted_cdf"))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e7, 1e7).filter(lambda v: abs(v) > 1.0), min_size=4, max_size=4),
       st.floats(0.6, 0.999), st.integers(1, 20))
def test_gaussian_components_when_any_book_then_sum_to_total(values, confidence, horizon):
    market, _, _ = gaussian_market(4, seed=2)
    out = decompose_var(DecomposeVarRequest(positions=positions(values), market=market, confidence=confidence,
                                            horizon_days=horizon))
    assert out.sum_component_var == pytest.approx(out.total_var, rel=1e-9, abs=1e-6)
    assert out.sum_component_cvar == pytest.approx(out.total_cvar, rel=1e-9, abs=1e-6)
