"""Inventory-skewed market maker on the simulated venues: on every bar it keeps one GTC buy limit and one
GTC sell (or short) limit around the close, ``half_spread_bps`` away, both shifted against its inventory
(Avellaneda-Stoikov's idea, linear): with inventory q of at most ``max_inventory``, the quotes move by
-``skew`` x (q / max_inventory) x half spread, so a long book quotes lower to sell more and buy less. It
never quotes the side that would take the inventory beyond ``max_inventory``. Quotes are moved with amend
(the trading core keeps queue priority for size cuts and re-queues price changes); fills happen on the
bar's price path at the quote's price, as maker fills."""

import math

from engines.strategy.api import Param, Strategy


class MarketMaker(Strategy):
    half_spread_bps = Param(20.0, low=0.5, high=500.0, step=0.5, doc="distance of each quote from the close (bp)")
    size = Param(10.0, low=0.0001, high=1e6, doc="quantity of each quote")
    max_inventory = Param(50.0, low=0.0001, high=1e7, doc="largest absolute position")
    skew = Param(1.0, low=0.0, high=5.0, step=0.25, doc="how far inventory shifts both quotes (in half spreads)")

    def on_start(self):
        self.bid_id = self.ask_id = None

    def on_bar(self, bar):
        q = self.ctx.position(bar.symbol)
        half = bar.close * self.p.half_spread_bps * 1e-4
        shift = -self.p.skew * (q / self.p.max_inventory) * half
        # on the cent grid, never through the close (a quote that crossed would take liquidity, not make it)
        bid = min(round(bar.close - half + shift, 2), math.floor(bar.close * 100 + 1e-9) / 100)
        ask = max(round(bar.close + half + shift, 2), math.ceil(bar.close * 100 - 1e-9) / 100)
        self.ctx.state["max_abs_inventory"] = max(self.ctx.state.get("max_abs_inventory", 0.0), abs(q))
        live = {o.client_order_id: o for o in self.ctx.open_orders(bar.symbol)}
        self.bid_id = self._quote(bar.symbol, "buy", bid, self.bid_id, live, q + self.p.size <= self.p.max_inventory)
        self.ask_id = self._quote(bar.symbol, "sell" if q >= self.p.size else "short", ask, self.ask_id, live,
                                  q - self.p.size >= -self.p.max_inventory)

    def _quote(self, symbol, side, price, cid, live, allowed):
        o = live.get(cid)
        if o is not None and (not allowed or o.side != side):
            self.ctx.cancel(cid)
            o = None
        if not allowed or price <= 0:
            return None
        if o is None:
            return self.ctx.submit(symbol, side, self.p.size, "limit", limit_price=price, tif="gtc")
        self.ctx.amend(cid, limit_price=price)
        return cid
