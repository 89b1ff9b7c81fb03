"""Donchian breakout (the turtle traders' rule): long when the close breaks above the highest high of
the previous ``entry_period`` bars, flat when it breaks below the lowest low of the previous
``exit_period`` bars. Channels from the features engine's ``donchian`` indicator, taken one bar back so
the current bar never sets its own threshold. Decided on each bar's close; all-in."""

import numpy as np

from engines.strategy.api import Param, SignalStrategy
from engines.strategy.signals import indicator

NAN = float("nan")


class DonchianBreakout(SignalStrategy):
    entry_period = Param(20, low=2, high=500, step=1, doc="breakout channel (bars)")
    exit_period = Param(10, low=2, high=500, step=1, doc="exit channel (bars)")

    @classmethod
    def warmup_bars(cls, params):
        return max(params["entry_period"], params["exit_period"]) + 1

    def on_start(self):
        self.prev = {}

    def on_bar(self, bar):
        up = self.ctx.indicator("donchian", bar.symbol, timeperiod=self.p.entry_period)["upper"]
        lo = self.ctx.indicator("donchian", bar.symbol, timeperiod=self.p.exit_period)["lower"]
        self.levels = self.prev.get(bar.symbol, (NAN, NAN))  # the channels as of the previous bar
        self.prev[bar.symbol] = (up, lo)
        super().on_bar(bar)

    def entry(self, bar):
        return bar.close > self.levels[0]

    def exit(self, bar):
        return bar.close < self.levels[1]

    @classmethod
    def signals(cls, bars, params):
        up = indicator("donchian", bars, "upper", timeperiod=params["entry_period"])
        lo = indicator("donchian", bars, "lower", timeperiod=params["exit_period"])
        c = np.asarray(bars["close"], dtype=np.float64)
        entries, exits = np.zeros(c.size, bool), np.zeros(c.size, bool)
        with np.errstate(invalid="ignore"):
            entries[1:] = c[1:] > up[:-1]
            exits[1:] = c[1:] < lo[:-1]
        return entries, exits
