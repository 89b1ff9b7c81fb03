"""Time-series momentum: long while the instrument's own return over the last ``lookback`` bars (the
features engine's ``roc``, in %) is above ``entry_pct``, flat once it falls below ``exit_pct``.
Moskowitz, Ooi and Pedersen's trend signal on one instrument, long-only. Decided on each bar's close;
all-in."""

import numpy as np

from backend.core.errors import InvalidInput
from engines.strategy.api import Param, SignalStrategy
from engines.strategy.signals import indicator


class TsMomentum(SignalStrategy):
    lookback = Param(126, low=2, high=1000, step=1, doc="return horizon (bars)")
    entry_pct = Param(0.0, low=-50.0, high=100.0, step=1.0, doc="enter above this return (%)")
    exit_pct = Param(0.0, low=-50.0, high=100.0, step=1.0, doc="exit below this return (%)")

    @classmethod
    def check(cls, params):
        if params["exit_pct"] > params["entry_pct"]:
            raise InvalidInput("exit_pct must not exceed entry_pct", field="params.exit_pct")

    @classmethod
    def warmup_bars(cls, params):
        return params["lookback"] + 1

    def on_bar(self, bar):
        self.roc = self.ctx.indicator("roc", bar.symbol, timeperiod=self.p.lookback).value
        super().on_bar(bar)

    def entry(self, bar):
        return self.roc > self.p.entry_pct

    def exit(self, bar):
        return self.roc < self.p.exit_pct

    @classmethod
    def signals(cls, bars, params):
        r = indicator("roc", bars, timeperiod=params["lookback"])
        with np.errstate(invalid="ignore"):
            return r > params["entry_pct"], r < params["exit_pct"]
