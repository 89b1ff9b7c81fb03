"""Pairs trading on two cointegrated instruments (``symbols`` = [y, x] of the run, in that order).

Every ``refit_bars`` bars, on the last ``window`` closes: the Engle-Granger cointegration test
(statsmodels ``coint``) and the hedge ratio b of y on x by OLS. While the test's p-value is below
``max_pvalue``, the spread s = y - b x is traded on its z-score over the window: above ``entry_z`` short
the spread (short y, buy b x), below -``entry_z`` buy it (buy y, short b x), flat again once |z| falls
below ``exit_z`` (or the pair stops cointegrating). Each leg is sized to ``leg_fraction`` of equity.
Decided on the close of the bar that completes both legs' bars; orders at the market."""

import numpy as np
from statsmodels.tsa.stattools import coint

from backend.core.errors import InvalidInput
from engines.strategy.api import Param, Strategy


class PairsTrading(Strategy):
    symbols_needed = 2
    window = Param(120, low=30, high=2000, step=10, doc="look-back for the test, hedge ratio and z-score (bars)")
    refit_bars = Param(20, low=1, high=500, step=1, doc="bars between cointegration tests")
    max_pvalue = Param(0.05, low=0.001, high=0.5, doc="trade only while coint's p-value is below this")
    entry_z = Param(2.0, low=0.5, high=5.0, step=0.25, doc="open when |z| exceeds this")
    exit_z = Param(0.5, low=0.0, high=3.0, step=0.25, doc="close when |z| falls below this")
    leg_fraction = Param(0.4, low=0.01, high=1.0, doc="notional of each leg as a share of equity")

    @classmethod
    def check(cls, params):
        if params["exit_z"] >= params["entry_z"]:
            raise InvalidInput("exit_z must be below entry_z", field="params.exit_z")

    @classmethod
    def warmup_bars(cls, params):
        return params["window"]

    def on_start(self):
        if len(self.ctx.symbols) != 2:
            raise InvalidInput("pairs trading needs exactly two symbols: [y, x]", field="symbols")
        self.y, self.x = self.ctx.symbols
        self.beta, self.pvalue, self.since_fit = None, 1.0, 0

    def on_bar(self, bar):
        if bar.symbol != self.x:  # act once both legs have this bar (x is processed after y)
            return
        ys, xs = self.ctx.history("close", self.p.window, self.y), self.ctx.history("close", self.p.window, self.x)
        if ys.size < self.p.window or xs.size < self.p.window:
            return
        self.since_fit -= 1
        if self.beta is None or self.since_fit <= 0:
            self.pvalue = float(coint(ys, xs)[1])
            self.beta = float(np.polyfit(xs, ys, 1)[0])
            self.since_fit = self.p.refit_bars
            self.ctx.state["last_fit"] = {"pvalue": self.pvalue, "beta": self.beta}
        spread = ys - self.beta * xs
        sd = spread.std(ddof=1)
        z = (spread[-1] - spread.mean()) / sd if sd > 0 else 0.0
        held = self.ctx.position(self.y)
        if held != 0 and (abs(z) < self.p.exit_z or self.pvalue >= self.p.max_pvalue):
            self.ctx.order_target(self.y, 0.0)
            self.ctx.order_target(self.x, 0.0)
        elif held == 0 and self.pvalue < self.p.max_pvalue and abs(z) > self.p.entry_z and self.beta > 0:
            notional = self.ctx.equity * self.p.leg_fraction
            qy = self.ctx.affordable_qty(self.y, ys[-1], 1.0)
            qy = min(qy, notional / ys[-1])
            qx = qy * self.beta
            lot_y = self._lot(qy)
            lot_x = self._lot(qx)
            if lot_y <= 0 or lot_x <= 0:
                return
            sign = -1.0 if z > 0 else 1.0  # z high: the spread is rich, sell y and buy x
            self.ctx.order_target(self.y, sign * lot_y)
            self.ctx.order_target(self.x, -sign * lot_x)
            self.ctx.log.info("open z=%.2f beta=%.3f p=%.3f", z, self.beta, self.pvalue)

    @staticmethod
    def _lot(q):
        return float(np.floor(q * 1e4) / 1e4)
