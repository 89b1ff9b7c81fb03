"""Event-driven backtest: a strategy driven bar by bar through the trading core itself.

The same ``TradingEngine`` as the gateway's (pre-trade checks, venue books, router, fees, positions,
P&L) runs on a simulated clock with one simulated venue, ``BACKTEST``, whose taker/maker fees are the
run's. Conventions (each an option of ``BacktestConfig``):

- **Prices in a bar.** Each bar is replayed as quotes around a price path. With no open order, only
  the close is quoted. With open orders (resting limits, waiting stops, or orders held for the next
  open) the path is open -> high -> low -> close, or open -> low -> high -> close: ``adaptive`` (the
  default, as NautilusTrader does) visits first whichever of high and low is nearer the open;
  ``ohlc`` / ``olhc`` fix the order. A resting limit fills at its limit once a quote trades through
  it (bid above a sell limit, ask below a buy limit); a stop triggers when the path reaches it and
  then fills as a market order at that path point.
- **Quotes.** At each path price p the venue shows bid p - s and ask p + s, s = ``slippage_ticks`` x
  tick size, with ``liquidity`` units on each side (unlimited by default), so a market buy fills at
  p + s and a sell at p - s. A zero slippage is a half-spread of ``MIN_HALF_SPREAD`` (1e-8 price
  units): the book must not cross, and 1e-8 is far below any tick.
- **When decisions fill** (``fill_at``): ``close`` - an order submitted in ``on_bar`` meets the quote
  at that bar's close (the signal bar's close, as vectorbt's ``from_signals`` by default);
  ``next_open`` - it is held and submitted at the next bar's open quote of its symbol.
- **Fees** in basis points of notional, taker for market orders and marketable limits, maker for
  resting limits that fill. **DAY** orders expire at the session close (``session_close_utc``).
- **No look-ahead.** The strategy sees bar t only after bars 0..t-1 were processed; its indicators
  and ``history`` hold bars up to t; nothing of bar t+1 exists yet (tests/unit/strategy prove that
  changing bar t+1 changes no decision at t).
- **Deterministic.** No randomness is used; the same bars, parameters and configuration give the same
  orders, fills and equity (the seed is recorded for the options that will need one).

Results: orders, fills, round-trip trades, the equity and exposure curves, and performance from the
analytics engine's own ``performance`` (one definition of Sharpe, drawdown, ... in the codebase).
"""

from __future__ import annotations

import gc
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from backend.core.errors import InvalidInput
from backend.trading.domain import Instrument, OrderType, Side, TimeInForce
from backend.trading.engine import TradingEngine
from backend.trading.pre_trade import RiskLimits
from backend.trading.venues import VenueProfile
from engines.features.indicators import CATALOG, resolve_params
from engines.features.streaming import make_stream
from engines.strategy.api import Bar, Context, FillEvent, Indicator, OrderEvent, Strategy
from engines.strategy.results import BacktestResult, summarise

VENUE = "BACKTEST"
ACCOUNT = "BACKTEST"
MIN_HALF_SPREAD = 1e-8
UNLIMITED = 1e15
FIELDS = ("open", "high", "low", "close", "volume")
LOG_LINES = 200


@dataclass(frozen=True)
class BacktestConfig:
    initial_cash: float = 100_000.0
    taker_fee_bps: float = 0.0
    maker_fee_bps: float = 0.0
    slippage_ticks: float = 0.0
    tick_size: float = 0.01
    lot_size: float = 1.0
    fill_at: str = "close"  # or "next_open"
    intrabar: str = "adaptive"  # or "ohlc", "olhc"
    liquidity: float | None = None  # units per side at each quote; None = unlimited
    latency_ms: float = 0.0
    session_close_utc: str = "21:00"
    periods_per_year: int = 252
    seed: int = 0
    #: pre-trade limits of the backtest account (RiskLimits fields); by default a cash account
    #: (margin rate 1: no leverage) with the order-rate and duplicate checks off (simulated time)
    risk: dict[str, Any] = field(default_factory=dict)

    def risk_limits(self) -> RiskLimits:
        base = {"max_order_qty": None, "max_order_notional": None, "price_collar_pct": None,
                "max_position_qty": None, "max_gross_exposure": None, "max_open_orders": None,
                "max_orders_per_window": None, "duplicate_window_s": None, "margin_rate": 1.0}
        return RiskLimits.from_dict(base | self.risk)


@dataclass
class BarData:
    """One symbol's bars: int64 ns timestamps (bar open) and float64 OHLCV, ascending."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.size)

    @classmethod
    def from_close(cls, ts: np.ndarray, close: np.ndarray) -> BarData:
        c = np.asarray(close, dtype=np.float64)
        return cls(np.asarray(ts, dtype=np.int64), c, c, c, c, np.zeros_like(c))

    def slice(self, lo: int, hi: int) -> BarData:
        return BarData(*(getattr(self, f)[lo:hi] for f in ("ts", *FIELDS)))

    def as_mapping(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f) for f in FIELDS}


class _LogBuffer(logging.Handler):
    def __init__(self, clock: Callable[[], int]) -> None:
        super().__init__()
        self.lines: deque[dict[str, Any]] = deque(maxlen=LOG_LINES)
        self.clock = clock

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append({"ts_ns": self.clock(), "level": record.levelname, "message": record.getMessage()})


def strategy_logger(name: str, clock: Callable[[], int]) -> tuple[logging.LoggerAdapter, _LogBuffer]:
    """A logger whose records are kept (the last ``LOG_LINES``) for the run's result or the instance's logs."""
    log = logging.Logger(f"strategy.{name}")  # not in the global registry: one per run, collected with it
    buf = _LogBuffer(clock)
    log.addHandler(buf)
    return logging.LoggerAdapter(log, {}), buf


class BacktestContext(Context):
    """The strategy's view of a backtest: orders go straight into the run's ``TradingEngine``."""

    def __init__(self, run: EventBacktest) -> None:
        self._run = run
        self.symbols = tuple(run.data)
        self.state: dict[str, Any] = {}
        self.log, self._logbuf = strategy_logger(run.name, run.now_ns)

    def now_ns(self) -> int:
        return self._run.now

    def _sym(self, symbol: str | None) -> str:
        if symbol is None:
            if len(self.symbols) != 1:
                raise InvalidInput("name the symbol: this run has several", field="symbol")
            return self.symbols[0]
        if symbol not in self._run.data:
            raise InvalidInput(f"{symbol!r} is not a symbol of this run", field="symbol")
        return symbol

    def indicator(self, name: str, symbol: str | None = None, **params: float) -> Indicator:
        sym = self._sym(symbol)
        key = (sym, name, tuple(sorted(params.items())))
        ind = self._run.indicators.get(key)
        if ind is None:
            ind = self._run.add_indicator(key, sym, name, params)
        return ind

    def history(self, field: str, n: int, symbol: str | None = None) -> np.ndarray:
        if field not in FIELDS:
            raise InvalidInput(f"field must be one of {FIELDS}", field="field")
        sym = self._sym(symbol)
        i = self._run.index[sym]
        arr = getattr(self._run.data[sym], field)
        return arr[max(0, i - n + 1): i + 1]

    def position(self, symbol: str | None = None) -> float:
        return self._run.engine.ledger.net.get((ACCOUNT, self._sym(symbol)), 0.0)

    @property
    def cash(self) -> float:
        return self._run.account.cash

    @property
    def equity(self) -> float:
        return self._run.engine.equity(self._run.account)

    def open_orders(self, symbol: str | None = None) -> list[OrderEvent]:
        sym = None if symbol is None else self._sym(symbol)
        out = [self._run.event(o) for o in self._run.engine.orders.values() if sym is None or o.symbol == sym]
        out += [self._run.pending_event(p) for p in self._run.pending if sym is None or p["symbol"] == sym]
        return out

    def submit(self, symbol: str, side: str, qty: float, type: str = "market", *, limit_price: float | None = None,
               stop_price: float | None = None, tif: str | None = None, client_order_id: str | None = None) -> str:
        return self._run.submit(self._sym(symbol), side, qty, type, limit_price, stop_price, tif, client_order_id)

    def cancel(self, client_order_id: str) -> None:
        self._run.cancel(client_order_id)

    def amend(self, client_order_id: str, *, qty: float | None = None, limit_price: float | None = None,
              stop_price: float | None = None) -> None:
        self._run.amend(client_order_id, qty, limit_price, stop_price)

    def affordable_qty(self, symbol: str, price: float, fraction: float = 1.0) -> float:
        cfg = self._run.cfg
        px = price + self._run.half_spread
        cash = self._run.account.cash * fraction
        if cash <= 0 or px <= 0:
            return 0.0
        lot = cfg.lot_size
        q = cash / (px * (1.0 + cfg.taker_fee_bps * 1e-4))
        return math.floor(q / lot * (1 - 1e-12)) * lot

    def buy_with_cash(self, symbol: str, fraction: float = 1.0) -> str:
        return self._run.submit(self._sym(symbol), "buy", 0.0, "market", None, None, None, None, cash_fraction=fraction)


class EventBacktest:
    """One run: ``EventBacktest(cls, params, data, cfg).run()`` -> ``BacktestResult``."""

    def __init__(self, cls: type[Strategy], params: Mapping[str, Any], data: Mapping[str, BarData],
                 cfg: BacktestConfig | None = None, name: str = "strategy",
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.cfg = cfg or BacktestConfig()
        if self.cfg.fill_at not in ("close", "next_open"):
            raise InvalidInput("fill_at must be close or next_open", field="fill_at")
        if self.cfg.intrabar not in ("adaptive", "ohlc", "olhc"):
            raise InvalidInput("intrabar must be adaptive, ohlc or olhc", field="intrabar")
        self.name = name
        self.data = dict(data)
        self.now = 0
        self.engine = TradingEngine(venues=(VenueProfile(
            VENUE, maker_fee_bps=self.cfg.maker_fee_bps, taker_fee_bps=self.cfg.taker_fee_bps,
            latency_ms=self.cfg.latency_ms, levels=1, size_factor=1.0, decay=1.0, spread_ticks=0),),
            clock=self.now_ns, session_close_utc=self.cfg.session_close_utc)
        for sym in self.data:
            self.engine.add_instrument(Instrument(sym, tick_size=self.cfg.tick_size, lot_size=self.cfg.lot_size))
        self.account = self.engine.add_account(ACCOUNT, "backtest", self.cfg.initial_cash,
                                               limits=self.cfg.risk_limits())
        self.half_spread = max(self.cfg.slippage_ticks * self.cfg.tick_size, MIN_HALF_SPREAD)
        self.size = self.cfg.liquidity if self.cfg.liquidity is not None else UNLIMITED
        self.index = {s: -1 for s in self.data}
        self.indicators: dict[tuple, Indicator] = {}
        self._by_symbol: dict[str, list[Indicator]] = {s: [] for s in self.data}
        self.pending: list[dict[str, Any]] = []
        self._quoted: dict[str, float] = {}  # symbol -> price its book was last quoted around
        self.all_orders: dict[str, Any] = {}  # engine order id -> Order (final state at the end)
        self.by_client: dict[str, str] = {}
        self.fills: list[Any] = []
        self.progress = progress
        self._seq = 0
        self.ctx = BacktestContext(self)
        self.strategy = cls(self.ctx, params)
        s = type(self.strategy)
        self._wants_events = s.on_order_event is not Strategy.on_order_event
        self._wants_fills = s.on_fill is not Strategy.on_fill

    def now_ns(self) -> int:
        return self.now

    # ---- indicators --------------------------------------------------------------
    def add_indicator(self, key: tuple, sym: str, name: str, params: Mapping[str, float]) -> Indicator:
        defn = CATALOG.get(name)
        if defn is None:
            raise InvalidInput(f"unknown indicator {name!r}", field="indicator")
        try:
            resolved = resolve_params(defn, params)
        except KeyError as e:
            raise InvalidInput(f"{name} has no parameter {e.args[0]!r}", field=f"indicator.{e.args[0]}") from e
        except ValueError as e:
            raise InvalidInput(f"{name}.{e.args[0]} {e.args[1]}", field=f"indicator.{e.args[0]}") from e
        ind = Indicator(sym, name, resolved, make_stream(name, resolved))
        d = self.data[sym]
        for i in range(self.index[sym] + 1):  # created mid-run: warm up on the bars seen so far, no further
            ind.values = ind.stream.update({f: float(getattr(d, f)[i]) for f in FIELDS})
        self.indicators[key] = ind
        self._by_symbol[sym].append(ind)
        return ind

    # ---- orders --------------------------------------------------------------------
    def _next_cid(self) -> str:
        self._seq += 1
        return f"bt-{self._seq}"

    def submit(self, sym: str, side: str, qty: float, type_: str, limit: float | None, stop: float | None,
               tif: str | None, cid: str | None, cash_fraction: float | None = None) -> str:
        try:
            side_e, type_e = Side(side), OrderType(type_)
            tif_e = TimeInForce(tif) if tif is not None else None
        except ValueError as e:
            raise InvalidInput(f"bad order: {e}", field="order") from e
        cid = cid or self._next_cid()
        order = {"symbol": sym, "side": side_e, "type": type_e, "qty": float(qty), "limit_price": limit,
                 "stop_price": stop, "tif": tif_e, "client_order_id": cid, "ts_ns": self.now,
                 "cash_fraction": cash_fraction}
        if self.cfg.fill_at == "next_open":
            self.pending.append(order)
        else:
            self._send(order)
        return cid

    def _send(self, p: dict[str, Any]) -> None:
        sym = p["symbol"]
        px = self.engine.marks.get(sym)
        if px is not None and self._quoted.get(sym) != px:
            self._quote(sym, px)
        if p["cash_fraction"] is not None:  # sized now, at the price it meets
            p["qty"] = self.ctx.affordable_qty(p["symbol"], self.engine.marks[p["symbol"]], p["cash_fraction"])
            if p["qty"] <= 0:
                return
        o, eff = self.engine.submit(account_id=ACCOUNT, symbol=p["symbol"], side=p["side"], type=p["type"],
                                    qty=p["qty"], tif=p["tif"], limit_price=p["limit_price"],
                                    stop_price=p["stop_price"], client_order_id=p["client_order_id"],
                                    strategy=self.name, venue=VENUE)
        self.all_orders[o.id] = o
        self.by_client[o.client_order_id] = o.id
        self._effects(eff)

    def _order_id(self, cid: str) -> str:
        oid = self.by_client.get(cid)
        if oid is None:
            raise InvalidInput(f"no order {cid!r}", field="client_order_id")
        return oid

    def cancel(self, cid: str) -> None:
        for p in self.pending:
            if p["client_order_id"] == cid:
                self.pending.remove(p)
                return
        oid = self._order_id(cid)
        if oid in self.engine.orders:
            self._effects(self.engine.cancel(oid, "cancelled by the strategy")[1])

    def amend(self, cid: str, qty: float | None, limit: float | None, stop: float | None) -> None:
        for p in self.pending:
            if p["client_order_id"] == cid:
                p.update({k: v for k, v in (("qty", qty), ("limit_price", limit), ("stop_price", stop))
                          if v is not None})
                return
        self._effects(self.engine.amend(self._order_id(cid), qty=qty, limit_price=limit, stop_price=stop)[1])

    def event(self, o: Any) -> OrderEvent:
        return OrderEvent(o.client_order_id, o.symbol, o.side.value, o.type.value, o.status.value, o.qty,
                          o.filled_qty, o.avg_fill_price, o.reason, o.updated_ns)

    def pending_event(self, p: dict[str, Any]) -> OrderEvent:
        return OrderEvent(p["client_order_id"], p["symbol"], p["side"].value, p["type"].value, "pending", p["qty"],
                          0.0, 0.0, "held for the next open", p["ts_ns"])

    def _effects(self, eff: Any) -> None:
        if eff.fills:
            self.fills.extend(eff.fills)
        if self._wants_events:
            for o, _status in eff.transitions:
                self.strategy.on_order_event(self.event(o))
        if self._wants_fills:
            for f in eff.fills:
                self.strategy.on_fill(FillEvent(self._client_of(f.order_id), f.symbol, f.side.value, f.price, f.qty,
                                                f.fee, f.ts_ns))

    def _client_of(self, oid: str) -> str:
        o = self.all_orders.get(oid)
        return o.client_order_id if o is not None else oid

    # ---- the loop ------------------------------------------------------------------
    def _quote(self, sym: str, px: float) -> None:
        h = self.half_spread
        self._quoted[sym] = px
        eff = self.engine.on_quote(sym, px - h, px + h, self.size, self.size)
        if eff:
            self._effects(eff)

    def _mark(self, sym: str, px: float) -> None:
        """The close of a bar with no open order of its symbol: only the mark moves now; the book is quoted
        there when an order is sent (``_send``). Nothing can trade on a quote no order meets, so the
        fills are the same as quoting every close, at a fraction of the cost."""
        self.engine.marks[sym] = px

    def _path(self, sym: str, o: float, h: float, lo: float) -> None:
        mode = self.cfg.intrabar
        high_first = mode == "ohlc" or (mode == "adaptive" and abs(h - o) <= abs(lo - o))
        for px in ((h, lo) if high_first else (lo, h)):
            self._quote(sym, px)

    def _has_open(self, sym: str) -> bool:
        eng = self.engine
        return bool(eng.stops.get(sym)) or any(o.symbol == sym for o in eng.orders.values())

    def run(self) -> BacktestResult:
        # The objects alive before the run (modules, numpy, torch: hundreds of thousands) are frozen for the
        # garbage collector while it runs, so its collections scan only what the run allocates (~25% faster).
        gc.freeze()
        try:
            return self._run()
        finally:
            gc.unfreeze()

    def _run(self) -> BacktestResult:
        syms = list(self.data)
        stamps = np.unique(np.concatenate([self.data[s].ts for s in syms])) if syms else np.empty(0, np.int64)
        pos = {s: 0 for s in syms}
        n = int(stamps.size)
        equity = np.empty(n)
        exposure = np.empty(n)
        arrays = {s: [getattr(self.data[s], f) for f in ("ts", *FIELDS)] for s in syms}
        acct, eng = self.account, self.engine
        self.now = int(stamps[0]) if n else 0
        self.strategy.on_start()
        on_bar = self.strategy.on_bar
        next_open = self.cfg.fill_at == "next_open"
        every = max(1, n // 100)
        for k in range(n):
            t = int(stamps[k])
            for s in syms:
                i = pos[s]
                ts_, op, hi, lo, cl, vol = arrays[s]
                if i >= ts_.size or ts_[i] != t:
                    continue
                pos[s] = i + 1
                self.now = t
                o, h, l_, c = float(op[i]), float(hi[i]), float(lo[i]), float(cl[i])
                held = [p for p in self.pending if p["symbol"] == s] if next_open and self.pending else []
                if held or (eng.orders and self._has_open(s)):
                    self._quote(s, o)
                    for p in held:
                        self.pending.remove(p)
                        self._send(p)
                    if eng.orders and self._has_open(s):
                        self._path(s, o, h, l_)
                if eng.orders and self._has_open(s):
                    self._quote(s, c)
                else:
                    self._mark(s, c)
                if eng.orders:
                    eff = eng.expire_due(t)
                    if eff:
                        self._effects(eff)
                bar = {"open": o, "high": h, "low": l_, "close": c, "volume": float(vol[i])}
                for ind in self._by_symbol[s]:
                    ind.values = ind.stream.update(bar)
                self.index[s] = i
                on_bar(Bar(s, t, o, h, l_, c, bar["volume"], i))
            equity[k] = eng.equity(acct)
            exposure[k] = eng.ledger.gross_exposure(ACCOUNT, eng.marks)
            if self.progress is not None and k % every == 0:
                self.progress(k + 1, n)
        self.strategy.on_stop()
        return summarise(self, stamps, equity, exposure)

    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)


def run_event(cls: type[Strategy], params: Mapping[str, Any], data: Mapping[str, BarData],
              cfg: BacktestConfig | None = None, name: str = "strategy",
              progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Run one event-driven backtest (see the module docstring)."""
    return EventBacktest(cls, params, data, cfg, name, progress).run()
