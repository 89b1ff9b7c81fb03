"""The SMA-crossover strategy (benchmarks/peers/sma_cross.py) in NautilusTrader, run in its own venv.

    /work/venvs/nautilus/bin/python benchmarks/peers/nautilus_sma.py BARS.npz --repeats 3   # JSON on stdout

NautilusTrader needs pandas < 3, the platform has pandas 3: benchmarks/peers/setup.sh builds that venv, and
this script imports nothing from the platform (numpy and nautilus_trader only). The strategy is restated here
from sma_cross.py's definition: BacktestEngine with one cash venue (netting, bar execution, no fees, no
latency model, 100,000 USD), an equity instrument quoted in cents, whole shares; SMAs are NautilusTrader's
SimpleMovingAverage; sizing from the account's free balance. A market order submitted in on_bar fills
against the bar just processed, at its close. One timed call = engine construction, the instrument, the
Bar objects built from the arrays in memory, the run, reading the fills and the account, engine disposal.
Prints {"version", "fills", "final_equity", "median_s", "samples_s"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from decimal import Decimal

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators import SimpleMovingAverage
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

FAST, SLOW = 20, 50  # sma_cross.FAST, SLOW
CASH = 100_000  # sma_cross.CASH
VENUE = Venue("XNYS")


class SmaCrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class SmaCross(Strategy):
    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.fast, self.slow = SimpleMovingAverage(FAST), SimpleMovingAverage(SLOW)
        self.t = -1
        self.prev: tuple[float, float] | None = None
        self.bar_of_order: dict = {}
        self.fills: list = []

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.register_indicator_for_bars(self.config.bar_type, self.fast)
        self.register_indicator_for_bars(self.config.bar_type, self.slow)
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        self.t += 1
        if not self.slow.initialized:
            return
        f0, s0 = self.fast.value, self.slow.value
        prev, self.prev = self.prev, (f0, s0)
        if prev is None:
            return
        f1, s1 = prev
        held = self.portfolio.net_position(self.config.instrument_id)
        close = bar.close.as_double()
        if held == 0 and f1 <= s1 and f0 > s0:
            cash = self.portfolio.account(VENUE).balance_free(USD).as_double()
            qty = int(round(cash * 100)) // int(round(close * 100))  # sma_cross.all_in_shares
            if qty > 0:
                self._submit(OrderSide.BUY, qty)
        elif held > 0 and f1 >= s1 and f0 < s0:
            self._submit(OrderSide.SELL, int(held))

    def _submit(self, side: OrderSide, qty: int) -> None:
        order = self.order_factory.market(self.config.instrument_id, side, Quantity.from_int(qty))
        self.bar_of_order[order.client_order_id] = self.t
        self.submit_order(order)

    def on_order_filled(self, event) -> None:  # noqa: ANN001 - OrderFilled
        side = "buy" if event.order_side == OrderSide.BUY else "sell"
        self.fills.append((self.bar_of_order[event.client_order_id], side, int(event.last_qty.as_double()),
                           event.last_px.as_double()))

    def on_order_rejected(self, event) -> None:  # noqa: ANN001
        raise RuntimeError(f"order rejected: {event.reason}")

    def on_order_denied(self, event) -> None:  # noqa: ANN001
        raise RuntimeError(f"order denied: {event.reason}")


def instrument() -> Equity:
    return Equity(instrument_id=InstrumentId(Symbol("SPX"), VENUE), raw_symbol=Symbol("SPX"), currency=USD,
                  price_precision=2, price_increment=Price.from_str("0.01"), lot_size=Quantity.from_int(1),
                  ts_event=0, ts_init=0, maker_fee=Decimal(0), taker_fee=Decimal(0))


def run(data: dict) -> dict:
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(log_level="ERROR")))
    try:
        engine.add_venue(VENUE, oms_type=OmsType.NETTING, account_type=AccountType.CASH, base_currency=USD,
                         starting_balances=[Money(CASH, USD)], bar_execution=True)
        inst = instrument()
        engine.add_instrument(inst)
        bar_type = BarType.from_str(f"{inst.id}-1-DAY-LAST-EXTERNAL")
        ts = (data["dates"].astype("datetime64[D]").astype("datetime64[ns]").astype(np.int64)
              + 21 * 3600 * 10**9)  # the session's close, 21:00 UTC
        cols = [data[k].tolist() for k in ("open", "high", "low", "close")]
        vol = data["volume"].tolist()
        bars = [Bar(bar_type, Price(o, 2), Price(h, 2), Price(lo, 2), Price(c, 2), Quantity(v, 0), int(t), int(t))
                for o, h, lo, c, v, t in zip(*cols, vol, ts.tolist(), strict=True)]
        engine.add_data(bars)
        strategy = SmaCross(SmaCrossConfig(instrument_id=inst.id, bar_type=bar_type))
        engine.add_strategy(strategy)
        engine.run()
        account = engine.portfolio.account(VENUE)
        held = float(engine.portfolio.net_position(inst.id))
        final = account.balance_total(USD).as_double() + held * float(data["close"][-1])
        return {"fills": strategy.fills, "final_equity": final}
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bars", help=".npz with dates, open, high, low, close, volume")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with np.load(args.bars) as f:
        data = {k: f[k] for k in f.files}
    out = run(data)  # warm (and the answer that is compared)
    samples = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run(data)
        samples.append(time.perf_counter() - t0)
    import nautilus_trader

    print(json.dumps({"version": nautilus_trader.__version__, **out, "median_s": statistics.median(samples),
                      "samples_s": samples}))


if __name__ == "__main__":
    main()
