"""RSI mean reversion: long when Wilder's RSI of the close crosses up through ``oversold`` (the selling
has exhausted itself), flat when it crosses up through ``overbought``. Decided on each bar's close;
all-in (``fraction`` of the cash). Works on range-bound series, bleeds in strong trends."""

import numpy as np

from backend.core.errors import InvalidInput
from engines.strategy.api import Param, SignalStrategy
from engines.strategy.signals import cross_up, crossed_above, indicator


class RsiReversion(SignalStrategy):
    period = Param(14, low=2, high=200, step=1, doc="RSI period (bars)")
    oversold = Param(30.0, low=1.0, high=50.0, step=5.0, doc="entry: RSI crosses above this")
    overbought = Param(70.0, low=50.0, high=99.0, step=5.0, doc="exit: RSI crosses above this")

    @classmethod
    def check(cls, params):
        if params["oversold"] >= params["overbought"]:
            raise InvalidInput("oversold must be below overbought", field="params.oversold")

    @classmethod
    def warmup_bars(cls, params):
        return params["period"] + 1

    def on_start(self):
        self.prev = {}

    def on_bar(self, bar):
        r = self.ctx.indicator("rsi", bar.symbol, timeperiod=self.p.period).value
        self.now = (r, self.prev.get(bar.symbol, float("nan")))
        self.prev[bar.symbol] = r
        super().on_bar(bar)

    def entry(self, bar):
        r, pr = self.now
        return cross_up(r, self.p.oversold, pr, self.p.oversold)

    def exit(self, bar):
        r, pr = self.now
        return cross_up(r, self.p.overbought, pr, self.p.overbought)

    @classmethod
    def signals(cls, bars, params):
        r = indicator("rsi", bars, timeperiod=params["period"])
        lo = np.full_like(r, params["oversold"])
        hi = np.full_like(r, params["overbought"])
        return crossed_above(r, lo), crossed_above(r, hi)
