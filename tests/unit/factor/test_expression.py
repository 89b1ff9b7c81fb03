"""The factor expression language: parsed and validated, never evaluated as Python."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from backend.core.errors import InvalidInput
from engines.factor.expression import evaluate, max_window, parse
from engines.factor.library import LIBRARY
from tests.unit.factor.data import panel

pytestmark = pytest.mark.timeout(60)
NAMES = frozenset(LIBRARY)


def ev(text: str, p: dict) -> np.ndarray:
    p = dict(p)
    c = p["close"]
    p.setdefault("returns", np.vstack([np.full((1, c.shape[1]), np.nan), c[1:] / c[:-1] - 1]))
    return evaluate(
        parse(text, NAMES),
        p,
        {n: (lambda n=n: LIBRARY[n].fn(p, {k: v[0] for k, v in LIBRARY[n].params.items()}, None)) for n in NAMES},
    )


def test_arithmetic_when_hand_case_then_precedence_and_unary_minus_hold():
    p = {"close": np.array([[2.0, 4.0]]), "volume": np.array([[10.0, 20.0]])}
    np.testing.assert_allclose(ev("-close + volume / close * 2 ^ 2", p), [[18.0, 16.0]])
    np.testing.assert_allclose(ev("(close + 1) * -2", p), [[-6.0, -10.0]])


def test_functions_when_evaluated_then_match_talib_and_pandas():
    p = panel(300)
    c = p["close"]
    np.testing.assert_allclose(ev("sma(close, 10)", p)[:, 3], talib.SMA(c[:, 3], 10))
    np.testing.assert_allclose(
        ev("ts_std(returns, 20)", p)[:, 1],
        pd.Series(c[1:, 1] / c[:-1, 1] - 1).rolling(20).std().reindex(range(-1, 299)).to_numpy(),
        equal_nan=True,
    )
    np.testing.assert_allclose(ev("delta(log(close), 5)", p)[10], np.log(c[10]) - np.log(c[5]))
    np.testing.assert_allclose(
        ev("rsi(close, 14) / 100 - momentum", p)[260, 0], talib.RSI(c[:, 0], 14)[260] / 100 - (c[239, 0] / c[8, 0] - 1)
    )


def test_division_by_zero_when_evaluated_then_nan_not_inf():
    p = {"close": np.array([[1.0, 2.0]]), "volume": np.array([[0.0, 1.0]])}
    out = ev("close / volume", p)
    assert np.isnan(out[0, 0]) and out[0, 1] == 2.0


def test_max_window_when_nested_then_largest_literal_window():
    assert max_window(parse("ts_mean(delta(close, 5), 60) + ema(close, 20)", NAMES)) == 60


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "close.__class__",
        "close; 1",
        "lambda: 1",
        "open[0]",
        "close ** 2",
        "ts_mean(close, n)",
        "ts_mean(close, 2.5)",
        "ts_mean(close, 0)",
        "ts_mean(close, 99999)",
        "sma(close)",
        "nosuch(close, 3)",
        "foo + 1",
        "(close",
        "close +",
        "",
        "sma",
        "1 2",
    ],
)
def test_parse_when_not_in_grammar_then_invalid_input_on_expression_field(text):
    with pytest.raises(InvalidInput) as e:
        parse(text, NAMES)
    assert e.value.field == "expression"


def test_parse_when_too_long_or_too_deep_then_rejected():
    with pytest.raises(InvalidInput):
        parse("close+" * 400 + "close", NAMES)
    with pytest.raises(InvalidInput):
        parse("(" * 60 + "close" + ")" * 60, NAMES)
