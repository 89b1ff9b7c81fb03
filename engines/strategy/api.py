"""The strategy API: one class, run unchanged by the event-driven backtest and by paper trading.

A strategy is a subclass of ``Strategy`` in a file of the strategies directory. It declares typed
parameters as class attributes (``fast = Param(10, low=2, high=200)``: the type is the default's,
the range bounds validation and sweeps) and overrides the callbacks it needs:

    on_start()                       once, before the first bar
    on_bar(bar: Bar)                 each closed bar of each subscribed symbol
    on_quote(quote) / on_trade(t)    live ticks (paper trading only; backtests run on bars)
    on_order_event(event)            each status change of one of its orders
    on_fill(fill)                    each fill of one of its orders
    on_stop()                        once, at the end

Everything else comes through ``self.ctx`` (``Context``): incremental indicators (the features
engine's streaming code, so the same numbers as ``compute_indicators``), bar history up to now,
positions, cash and equity, open orders, ``submit`` / ``cancel`` / ``amend`` (every order type of
the trading core), the clock, a logger and a key-value ``state`` that survives restarts.

A *signal* strategy also gives ``signals(bars, params)``: long-only entries and exits for the
vectorised backtest, computed with the batch indicators; a test holds the two paths to the same
trades.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from backend.core.errors import InvalidInput

NAN = float("nan")


@dataclass(frozen=True)
class Param:
    """A typed strategy parameter: the default's type, an inclusive range, an optional sweep step."""

    default: int | float | bool | str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    @property
    def kind(self) -> str:
        return type(self.default).__name__

    def coerce(self, name: str, value: Any) -> Any:
        """The value as this parameter's type, checked against its range; InvalidInput naming ``params.<name>``."""
        where = f"params.{name}"
        t = type(self.default)
        if t is bool:
            if not isinstance(value, bool):
                raise InvalidInput(f"{name} must be true or false", field=where)
            return value
        if t is int:
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float)
                                                                          and value.is_integer())):
                raise InvalidInput(f"{name} must be an integer", field=where)
            value = int(value)
        elif t is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise InvalidInput(f"{name} must be a finite number", field=where)
            value = float(value)
        elif not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string", field=where)
        if self.choices is not None and value not in self.choices:
            raise InvalidInput(f"{name} must be one of {list(self.choices)}", field=where)
        if self.low is not None and value < self.low:
            raise InvalidInput(f"{name} = {value} is below its minimum {self.low}", field=where)
        if self.high is not None and value > self.high:
            raise InvalidInput(f"{name} = {value} is above its maximum {self.high}", field=where)
        return value

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "default": self.default, "low": self.low, "high": self.high, "step": self.step,
                "choices": list(self.choices) if self.choices is not None else None, "doc": self.doc}


class Params:
    """Resolved parameter values, read as attributes (``self.p.fast``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(slots=True)
class Bar:
    symbol: str
    ts_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    index: int  # position of this bar in its symbol's series (0-based)


@dataclass(slots=True)
class OrderEvent:
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    qty: float
    filled_qty: float
    avg_fill_price: float
    reason: str | None
    ts_ns: int


@dataclass(slots=True)
class FillEvent:
    client_order_id: str
    symbol: str
    side: str
    price: float
    qty: float
    fee: float
    ts_ns: int


@dataclass(slots=True)
class Indicator:
    """An incremental indicator bound to one symbol; the runner updates it on each of that symbol's bars
    before ``on_bar``. ``value`` is the first output (``real`` for most), ``values`` all of them."""

    symbol: str
    name: str
    params: dict[str, float]
    stream: Any
    values: dict[str, float] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return self.values.get(self.stream.outputs[0], NAN) if self.values else NAN

    def __getitem__(self, output: str) -> float:
        return self.values.get(output, NAN)

    @property
    def ready(self) -> bool:
        v = self.value
        return v == v  # not NaN


class Context:
    """What a strategy may use (see the module docstring). Implemented by the backtest and the paper runner."""

    symbols: tuple[str, ...]
    state: dict[str, Any]
    log: logging.LoggerAdapter

    def now_ns(self) -> int:
        raise NotImplementedError

    def indicator(self, name: str, symbol: str | None = None, **params: float) -> Indicator:
        raise NotImplementedError

    def history(self, field: str, n: int, symbol: str | None = None) -> np.ndarray:
        """The last ``n`` values of ``field`` (open/high/low/close/volume) up to and including the current bar."""
        raise NotImplementedError

    def position(self, symbol: str | None = None) -> float:
        raise NotImplementedError

    def chart_patterns(self, symbol: str | None = None, lookback: int = 250, **params: float) -> list[str]:
        """Chart patterns (engines/strategy/patterns.py) confirmed at the current bar, found in the last
        ``lookback`` closes; ``params`` are ``PatternParams`` fields (order, tolerance_pct, ...)."""
        from engines.strategy.patterns import PatternParams, detect

        closes = self.history("close", lookback, symbol)
        if closes.size < 8:
            return []
        hits = detect(closes, PatternParams(**params))
        return [name for name, h in hits.items() if bool(h[0, -1])]

    @property
    def cash(self) -> float:
        raise NotImplementedError

    @property
    def equity(self) -> float:
        raise NotImplementedError

    def open_orders(self, symbol: str | None = None) -> list[OrderEvent]:
        raise NotImplementedError

    def submit(self, symbol: str, side: str, qty: float, type: str = "market", *, limit_price: float | None = None,
               stop_price: float | None = None, tif: str | None = None, client_order_id: str | None = None) -> str:
        """Submit an order; returns its client order id. ``side`` is buy, sell (reduces a long) or short."""
        raise NotImplementedError

    def cancel(self, client_order_id: str) -> None:
        raise NotImplementedError

    def amend(self, client_order_id: str, *, qty: float | None = None, limit_price: float | None = None,
              stop_price: float | None = None) -> None:
        raise NotImplementedError

    def order_target(self, symbol: str, target_qty: float) -> str | None:
        """Market order(s) moving the position to ``target_qty`` (sell/short as needed); None when already there."""
        pos = self.position(symbol)
        delta = target_qty - pos
        if abs(delta) <= 1e-12:
            return None
        if delta > 0:
            return self.submit(symbol, "buy", delta)
        if pos > 0 and target_qty < 0:
            self.submit(symbol, "sell", pos)
            return self.submit(symbol, "short", -target_qty)
        return self.submit(symbol, "sell" if pos > 0 else "short", -delta)

    def affordable_qty(self, symbol: str, price: float, fraction: float = 1.0) -> float:
        """The largest quantity (in lots) that ``fraction`` of the cash buys at ``price`` after taker fees."""
        raise NotImplementedError

    def buy_with_cash(self, symbol: str, fraction: float = 1.0) -> str:
        """A market buy of what ``fraction`` of the cash affords, sized when the order is sent (at the
        signal bar's close, or at the next open when fills wait for it), so a gap cannot make it unaffordable."""
        raise NotImplementedError


class Strategy:
    """Base class of every strategy (see the module docstring)."""

    description: ClassVar[str] = ""
    #: whether ``signals`` is given (vectorised backtests and fast sweeps)
    vectorised: ClassVar[bool] = False
    params_spec: ClassVar[dict[str, Param]] = {}
    #: how many symbols a run of it takes (the smoke run of validate_strategy gives it that many)
    symbols_needed: ClassVar[int] = 1

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        spec: dict[str, Param] = {}
        for base in reversed(cls.__mro__):
            spec.update({k: v for k, v in vars(base).items() if isinstance(v, Param)})
        cls.params_spec = spec
        cls.vectorised = cls.signals.__func__ is not Strategy.signals.__func__

    def __init__(self, ctx: Context, params: Mapping[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.p = Params(self.resolve(params or {}))

    @classmethod
    def resolve(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults merged with ``given``, each coerced and range-checked; unknown names refused."""
        unknown = sorted(set(given) - set(cls.params_spec))
        if unknown:
            raise InvalidInput(f"unknown parameter {unknown[0]!r}; known: {sorted(cls.params_spec)}",
                               field=f"params.{unknown[0]}")
        out = {k: p.default for k, p in cls.params_spec.items()}
        for k, v in given.items():
            out[k] = cls.params_spec[k].coerce(k, v)
        cls.check(out)
        return out

    @classmethod
    def check(cls, params: dict[str, Any]) -> None:
        """Cross-parameter rules (e.g. fast < slow); raise InvalidInput naming the field."""

    @classmethod
    def warmup_bars(cls, params: dict[str, Any]) -> int:
        """Bars needed before the first decision (the shortest data range accepted is this + 2)."""
        return 1

    @classmethod
    def signals(cls, bars: Mapping[str, np.ndarray], params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Long-only (entries, exits) boolean arrays, one per bar, decided on each bar's close."""
        raise NotImplementedError

    # ---- callbacks -------------------------------------------------------------
    def on_start(self) -> None:
        pass

    def on_bar(self, bar: Bar) -> None:
        pass

    def on_quote(self, quote: Mapping[str, Any]) -> None:
        pass

    def on_trade(self, trade: Mapping[str, Any]) -> None:
        pass

    def on_order_event(self, event: OrderEvent) -> None:
        pass

    def on_fill(self, fill: FillEvent) -> None:
        pass

    def on_stop(self) -> None:
        pass


class SignalStrategy(Strategy):
    """A long-only, all-in strategy driven by entry/exit rules decided on each bar's close.

    Subclasses give ``entry()`` / ``exit()`` (from ``self.ctx``'s incremental indicators) and ``signals``
    (the same rules on whole arrays). Entries when flat buy with ``fraction`` of the cash; exits sell it all.
    A bar with both an entry and an exit does nothing (as vectorbt's ``from_signals`` by default)."""

    fraction = Param(1.0, low=0.01, high=1.0, doc="share of cash committed on entry")

    def entry(self, bar: Bar) -> bool:
        raise NotImplementedError

    def exit(self, bar: Bar) -> bool:
        raise NotImplementedError

    def on_bar(self, bar: Bar) -> None:
        enter, leave = self.entry(bar), self.exit(bar)
        if enter == leave:
            return
        pos = self.ctx.position(bar.symbol)
        if enter and pos <= 0 and not self.ctx.open_orders(bar.symbol):
            self.ctx.buy_with_cash(bar.symbol, self.p.fraction)
        elif leave and pos > 0:
            self.ctx.submit(bar.symbol, "sell", pos)
