"""Moving-average cross: long when the fast simple moving average of the close crosses above the slow
one, flat when it crosses back below. Decided on each bar's close; all-in (``fraction`` of the cash).

The classic trend-following rule (vectorbt's ``Portfolio.from_signals`` example). Its vectorised form
and its event-driven form give the same trades (tests/unit/strategy/test_agreement.py)."""

from backend.core.errors import InvalidInput
from engines.strategy.api import Param, SignalStrategy
from engines.strategy.signals import cross_up, crossed_above, crossed_below, indicator


class SmaCross(SignalStrategy):
    fast = Param(20, low=2, high=500, step=1, doc="fast SMA period (bars)")
    slow = Param(50, low=3, high=2000, step=1, doc="slow SMA period (bars)")

    @classmethod
    def check(cls, params):
        if params["fast"] >= params["slow"]:
            raise InvalidInput("fast must be shorter than slow", field="params.fast")

    @classmethod
    def warmup_bars(cls, params):
        return params["slow"]

    def on_start(self):
        self.prev = {}

    def _lines(self, bar):
        f = self.ctx.indicator("sma", bar.symbol, timeperiod=self.p.fast).value
        s = self.ctx.indicator("sma", bar.symbol, timeperiod=self.p.slow).value
        prev = self.prev.get(bar.symbol, (float("nan"), float("nan")))
        self.prev[bar.symbol] = (f, s)
        return f, s, prev

    def on_bar(self, bar):
        self.lines = self._lines(bar)
        super().on_bar(bar)

    def entry(self, bar):
        f, s, (pf, ps) = self.lines
        return cross_up(f, s, pf, ps)

    def exit(self, bar):
        f, s, (pf, ps) = self.lines
        return cross_up(s, f, ps, pf)

    @classmethod
    def signals(cls, bars, params):
        f = indicator("sma", bars, timeperiod=params["fast"])
        s = indicator("sma", bars, timeperiod=params["slow"])
        return crossed_above(f, s), crossed_below(f, s)
