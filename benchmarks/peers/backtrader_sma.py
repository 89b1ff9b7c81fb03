"""The SMA-crossover strategy (benchmarks/peers/sma_cross.py) in backtrader 1.9.78.123.

Cerebro with cheat-on-close (a market order issued at bar t fills at bar t's close), no commission, 100,000
cash; SMAs are backtrader's own indicators; sizing from the broker's cash. One call = building Cerebro, the
data feed from the bars in memory, the run, and reading the fills and the broker's value.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd

from benchmarks.peers.sma_cross import CASH, FAST, SLOW, Bars, all_in_shares


class SmaCross(bt.Strategy):
    def __init__(self) -> None:
        self.fast = bt.indicators.SMA(self.data.close, period=FAST)
        self.slow = bt.indicators.SMA(self.data.close, period=SLOW)
        self.fills: list[tuple[int, str, int, float]] = []
        self.bar_of_order: dict[int, int] = {}

    def next(self) -> None:
        t = len(self.data) - 1
        if t < SLOW:
            return
        f0, f1, s0, s1 = self.fast[0], self.fast[-1], self.slow[0], self.slow[-1]
        held = self.position.size
        if held == 0 and f1 <= s1 and f0 > s0:
            shares = all_in_shares(self.broker.getcash(), self.data.close[0])
            if shares > 0:
                self.bar_of_order[self.buy(size=shares).ref] = t
        elif held > 0 and f1 >= s1 and f0 < s0:
            order = self.sell(size=held)
            self.bar_of_order[order.ref] = t

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            side = "buy" if order.isbuy() else "sell"
            self.fills.append((self.bar_of_order[order.ref], side, int(abs(order.executed.size)),
                               float(order.executed.price)))
        elif order.status in (order.Canceled, order.Margin, order.Rejected):
            raise RuntimeError(f"backtrader refused order {order.ref}: {order.getstatusname()}")


def run(bars: Bars) -> dict:
    """Fills and final broker value (cash + position at the last close)."""
    df = pd.DataFrame({"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
                       "volume": bars.volume}, index=pd.DatetimeIndex(bars.dates.astype("datetime64[ns]")))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=0.0)
    cerebro.broker.set_coc(True)
    strat = cerebro.run()[0]
    return {"fills": strat.fills, "final_equity": float(cerebro.broker.getvalue()),
            "version": bt.__version__, "last_close": float(np.asarray(bars.close)[-1])}
