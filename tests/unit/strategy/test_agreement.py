"""The event-driven backtest (through the trading core) and the vectorised one give the same trades on
the same strategy and fill convention, and both agree with vectorbt's ``Portfolio.from_signals`` on
the issue's reference case (SMA 20/50, all-in long-only, no fees, arch's S&P 500 Adj Close, 100,000
cash, fills at the signal bar's close): trade count, final value and maximum drawdown to 1e-6."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from engines.strategy import registry
from engines.strategy.backtest import BacktestConfig, BarData, run_event
from engines.strategy.vector import run_vector

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def sp500():
    from arch.data import sp500

    return sp500.load()


def ohlc(df) -> BarData:
    return BarData(df.index.as_unit("ns").asi8, *(df[k].to_numpy(np.float64)
                                                  for k in ("Open", "High", "Low", "Close", "Volume")))


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
@pytest.mark.parametrize("name,params", [("sma_cross", {"fast": 10, "slow": 40}), ("rsi_reversion", {}),
                                         ("donchian_breakout", {}), ("ts_momentum", {"lookback": 63})])
def test_vectorised_when_same_strategy_and_convention_then_same_trades_as_event_driven(sp500, name, params, fill_at):
    cls = registry.load(name).cls
    bars = ohlc(sp500)
    cfg = BacktestConfig(taker_fee_bps=10.0, slippage_ticks=2, lot_size=1e-6, fill_at=fill_at)
    ev = run_event(cls, params, {"^GSPC": bars}, cfg, name)
    vec = run_vector(cls, params, bars, cfg, symbol="^GSPC")
    assert ev.metrics["trade_count"] > 5
    key = [(t["entry_ts_ns"], t["exit_ts_ns"]) for t in ev.trades]
    assert key == [(t["entry_ts_ns"], t["exit_ts_ns"]) for t in vec.trades]
    np.testing.assert_allclose([t["entry_price"] for t in ev.trades], [t["entry_price"] for t in vec.trades],
                               rtol=1e-12)
    np.testing.assert_allclose(ev.equity, vec.equity, rtol=1e-6)
    for k in ("final_value", "max_drawdown", "sharpe", "total_return"):
        assert ev.metrics[k] == pytest.approx(vec.metrics[k], rel=1e-6), k


def test_sma_20_50_when_compared_with_vectorbt_then_trades_value_and_drawdown_agree(sp500):
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "nautilus-numba-cache"))
    vbt = pytest.importorskip("vectorbt")
    close = sp500["Adj Close"]
    fast, slow = vbt.MA.run(close, 20), vbt.MA.run(close, 50)
    pf = vbt.Portfolio.from_signals(close, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow),
                                    init_cash=100_000.0, fees=0.0, freq="1D")
    theirs = {"trade_count": int(pf.trades.count()), "final_value": float(pf.final_value()),
              "max_drawdown": float(pf.max_drawdown())}
    cls = registry.load("sma_cross").cls
    bars = BarData.from_close(close.index.as_unit("ns").asi8, close.to_numpy(np.float64))
    cfg = BacktestConfig(initial_cash=100_000.0, lot_size=1e-6)
    for ours in (run_event(cls, {"fast": 20, "slow": 50}, {"SPX": bars}, cfg), run_vector(cls, {"fast": 20, "slow": 50},
                                                                                          bars, cfg)):
        assert ours.metrics["trade_count"] == theirs["trade_count"]
        assert ours.metrics["final_value"] == pytest.approx(theirs["final_value"], rel=1e-6)
        assert ours.metrics["max_drawdown"] == pytest.approx(theirs["max_drawdown"], rel=1e-6)
