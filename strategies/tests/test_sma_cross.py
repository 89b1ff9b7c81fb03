"""sma_cross's own tests, run by the promotion pipeline's unit stage (and by pytest like any test)."""

import numpy as np

from engines.strategy import registry
from engines.strategy.backtest import BacktestConfig, BarData, run_event


def test_a_rise_after_a_fall_buys_once_and_a_fall_sells():
    close = np.concatenate([np.linspace(100, 80, 30), np.linspace(80, 120, 30), np.linspace(120, 90, 30)])
    ts = (np.arange(close.size) * 86_400 * 10**9).astype(np.int64)
    r = run_event(registry.load("sma_cross").cls, {"fast": 3, "slow": 10}, {"S": BarData.from_close(ts, close)},
                  BacktestConfig(lot_size=1e-6))
    assert [f["side"] for f in r.fills] == ["buy", "sell"]
