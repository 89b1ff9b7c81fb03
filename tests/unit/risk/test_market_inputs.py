"""Bad input to the shared market-data handling: each a 422 naming the field."""

import numpy as np
import pytest
from pydantic import ValidationError

from backend.core.errors import InvalidInput
from engines.risk.compute.market import check_covariance, nearest_psd, panel
from engines.risk.compute.var import historical_var, parametric_var
from engines.risk.models.common import MarketData, Position
from engines.risk.models.var import HistoricalVarRequest, ParametricVarRequest
from tests.unit.risk.kit import positions, returns_market

pytestmark = pytest.mark.timeout(60)


def test_panel_when_position_symbol_unknown_then_invalid_naming_position():
    market, _ = returns_market(50, 2)
    with pytest.raises(InvalidInput) as e:
        panel(MarketData(**market), [Position(symbol="ZZZ", value=1.0)])
    assert e.value.field == "positions.0.symbol" and "unknown symbol" in e.value.detail


def test_panel_when_columns_and_symbols_mismatch_then_invalid():
    market, R = returns_market(50, 3)
    market["symbols"] = ["S0", "S1"]
    with pytest.raises(InvalidInput) as e:
        panel(MarketData(**market), [Position(symbol="S0", value=1.0)])
    assert e.value.field == "market.returns" and "3 columns but 2 symbols" in e.value.detail


def test_model_when_rows_ragged_then_validation_error_naming_row():
    from backend.contract.problem import validation_errors

    with pytest.raises(ValidationError) as e:
        MarketData(symbols=["A", "B"], returns=[[0.01, 0.02], [0.01]])
    assert validation_errors(e.value.errors())[0]["field"] == "returns.1"


def test_models_when_value_not_finite_then_validation_error():
    with pytest.raises(ValidationError):
        MarketData(symbols=["A"], returns=[[float("nan")], [0.01]])
    with pytest.raises(ValidationError):
        Position(symbol="A", value=float("inf"))


@pytest.mark.parametrize("conf", [0.0, 1.0, -0.1, 1.5])
def test_request_when_confidence_outside_open_unit_interval_then_validation_error(conf):
    market, _ = returns_market(50, 2)
    with pytest.raises(ValidationError) as e:
        HistoricalVarRequest(positions=positions([1, 1]), market=market, confidence_levels=[conf])
    assert e.value.errors()[0]["loc"][0] == "confidence_levels"


def test_request_when_portfolio_empty_then_validation_error():
    market, _ = returns_market(50, 2)
    with pytest.raises(ValidationError) as e:
        HistoricalVarRequest(positions=[], market=market)
    assert e.value.errors()[0]["loc"] == ("positions",)


def test_market_when_two_sources_then_validation_error():
    with pytest.raises(ValidationError, match="exactly one"):
        MarketData(symbols=["A"], returns=[[0.0], [0.1]], lookback_days=10)


def test_covariance_when_not_psd_then_invalid_offering_repair():
    C = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, -0.4], [0.7, -0.4, 1.0]])
    assert np.linalg.eigvalsh(C).min() < 0
    req = ParametricVarRequest(positions=[{"symbol": "A", "value": 1.0}],
                               market={"symbols": ["A", "B", "C"], "covariance": C.tolist()})
    with pytest.raises(InvalidInput) as e:
        parametric_var(req)
    assert e.value.field == "market.covariance" and "repair_covariance" in e.value.detail


def test_covariance_when_repair_requested_then_nearest_psd_used_and_reported():
    C = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, -0.4], [0.7, -0.4, 1.0]])
    fixed, repaired, dist = check_covariance(C, repair=True)
    assert repaired and np.linalg.eigvalsh(fixed).min() >= -1e-12
    # Higham: the nearest PSD matrix in Frobenius norm moves C by the norm of its negative eigenvalues
    neg = np.linalg.eigvalsh(C)
    assert dist == pytest.approx(np.sqrt(np.sum(np.minimum(neg, 0) ** 2)), rel=1e-6)
    req = ParametricVarRequest(positions=[{"symbol": "A", "value": 1.0}, {"symbol": "B", "value": 1.0}],
                               market={"symbols": ["A", "B", "C"], "covariance": C.tolist(),
                                       "repair_covariance": True})
    out = parametric_var(req)
    assert out.covariance_repaired and out.covariance_repair_distance == pytest.approx(dist)


def test_nearest_psd_when_already_psd_then_unchanged():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert np.allclose(nearest_psd(A), A)


def test_prices_when_non_positive_then_invalid_naming_cell():
    with pytest.raises(InvalidInput) as e:
        historical_var(HistoricalVarRequest(positions=[{"symbol": "A", "value": 1.0}],
                                            market={"symbols": ["A"], "prices": [[1.0], [0.0], [1.0]]}))
    assert e.value.field == "market.prices.1.0"


def test_returns_when_below_minus_one_then_invalid():
    with pytest.raises(InvalidInput) as e:
        historical_var(HistoricalVarRequest(positions=[{"symbol": "A", "value": 1.0}],
                                            market={"symbols": ["A"], "returns": [[0.1], [-1.2]]}))
    assert e.value.field == "market.returns.1.0"


def test_historical_when_only_covariance_given_then_invalid():
    with pytest.raises(InvalidInput, match="return history"):
        historical_var(HistoricalVarRequest(positions=[{"symbol": "A", "value": 1.0}],
                                            market={"symbols": ["A"], "covariance": [[1e-4]]}))
