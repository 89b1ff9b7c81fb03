"""Bollinger mean reversion with resting orders: while flat, a GTC buy limit rests at the lower band
(moved each bar with an amend); once filled, a stop rests ``stop_pct`` below the entry price; the
position is closed at the market on the first close at or above the middle band (the moving average),
cancelling the stop. Exercises limit, stop, amend and cancel through the trading core: limit and
stop fills happen inside bars, on the price path the backtest replays."""

from engines.strategy.api import Param, Strategy


class BollingerReversion(Strategy):
    period = Param(20, low=2, high=500, step=1, doc="band period (bars)")
    width = Param(2.0, low=0.5, high=5.0, step=0.5, doc="band width in standard deviations")
    stop_pct = Param(5.0, low=0.5, high=50.0, step=0.5, doc="stop loss below the entry price (%)")
    fraction = Param(1.0, low=0.01, high=1.0, doc="share of cash committed on entry")

    @classmethod
    def warmup_bars(cls, params):
        return params["period"]

    def on_start(self):
        self.entry_id = self.stop_id = None

    def _bands(self, bar):
        bb = self.ctx.indicator("bbands", bar.symbol, timeperiod=self.p.period, nbdevup=self.p.width,
                                nbdevdn=self.p.width)
        return bb["lower"], bb["middle"]

    def on_bar(self, bar):
        lower, middle = self._bands(bar)
        if lower != lower:  # warm-up
            return
        tick = 0.01
        pos = self.ctx.position(bar.symbol)
        open_ids = {o.client_order_id for o in self.ctx.open_orders(bar.symbol)}
        if pos <= 0:
            price = round(lower, 2)
            if self.entry_id in open_ids:
                self.ctx.amend(self.entry_id, limit_price=price)
            elif price > tick:
                qty = self.ctx.affordable_qty(bar.symbol, price, self.p.fraction)
                if qty > 0:
                    self.entry_id = self.ctx.submit(bar.symbol, "buy", qty, "limit", limit_price=price, tif="gtc")
        elif bar.close >= middle:
            if self.stop_id in open_ids:
                self.ctx.cancel(self.stop_id)
            self.ctx.submit(bar.symbol, "sell", pos)

    def on_fill(self, fill):
        pos = self.ctx.position(fill.symbol)
        if fill.client_order_id == self.entry_id and pos > 0:
            stop = round(fill.price * (1 - self.p.stop_pct / 100), 2)
            self.stop_id = self.ctx.submit(fill.symbol, "sell", pos, "stop", stop_price=stop, tif="gtc")
            self.ctx.log.info("entered %.4f at %.2f, stop %.2f", pos, fill.price, stop)
        elif pos <= 1e-12:
            self.ctx.state["round_trips"] = self.ctx.state.get("round_trips", 0) + 1
