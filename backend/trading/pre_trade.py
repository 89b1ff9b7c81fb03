"""Pre-trade risk: small named checks, each with a stable denial code and the values that tripped it.

Every check is ``check_<name>(order, ctx) -> Denial | None`` and ``CHECKS`` runs them in order;
the first denial wins. ``RiskLimits`` are per account (0 disables a count/size limit).

Where an account is assigned one of the risk engine's limit sets (``risk_limit_sets``), that
set's pre-trade limit types take precedence over the account's own values: ``position_size``
(max |position| in shares; scoped to a symbol, for that symbol only), ``order_notional`` (max
order notional) and ``gross_exposure`` (these two apply account-wide whatever their scope, as
in the risk engine's own evaluation). A symbol-scoped limit beats an unscoped one; repeated
limits of one type count at their strictest. The set's other types
(VaR, leverage, drawdown, ...) are portfolio measures the risk engine checks itself. A denial
names where its threshold came from (``limit_source``: ``account`` or ``risk_limit_set:<id>``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from backend.trading.domain import EPS, Denial, Instrument, Order, Side, is_multiple

_BUY, _SELL = Side.BUY, Side.SELL  # bound once: an enum member read costs ~70 ns, a global ~8


@dataclass(slots=True)
class RiskLimits:
    """An account's own pre-trade limits. ``None`` turns a limit off; 0 is a limit of zero (blocks)."""

    max_order_qty: float | None = 100_000.0
    max_order_notional: float | None = 5_000_000.0
    price_collar_pct: float | None = 10.0  # limit/stop price within this % of the last price
    max_position_qty: float | None = 1_000_000.0  # per instrument, absolute, net across strategies
    max_gross_exposure: float | None = 50_000_000.0  # sum |position| * mark, plus this order
    max_open_orders: int | None = 1_000
    max_orders_per_window: int | None = 1_000
    rate_window_s: float = 1.0
    duplicate_window_s: float | None = 1.0  # same order shape under another client id within this window
    margin_rate: float = 0.5  # fraction of gross exposure held as margin

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RiskLimits:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


#: risk-engine limit type -> the pre-trade limit it sets
LIMIT_SET_TYPES = {"position_size": "max_position_qty", "order_notional": "max_order_notional",
                   "gross_exposure": "max_gross_exposure"}
SYMBOL_SCOPED = ("position_size",)


@dataclass(slots=True)
class LimitSet:
    """An assigned risk-engine limit set, reduced to what the pre-trade checks enforce."""

    id: int
    name: str
    version: str  # the set's updated_at: a change means reload
    limits: dict[str, float] = field(default_factory=dict)  # RiskLimits field -> threshold (unscoped)
    by_symbol: dict[str, dict[str, float]] = field(default_factory=dict)  # symbol -> {field: threshold}
    not_enforced: list[str] = field(default_factory=list)  # limit types of the set the checks do not use

    @property
    def source(self) -> str:
        return f"risk_limit_set:{self.id}"

    @classmethod
    def from_rows(cls, set_id: int, name: str, version: str, rows: list[tuple[str, float, str | None]]) -> LimitSet:
        """``rows``: (limit_type, threshold, scope) as stored in ``risk_limits``."""
        ls = cls(set_id, name, version)
        for limit_type, threshold, scope in rows:
            fld = LIMIT_SET_TYPES.get(limit_type)
            if fld is None:
                if limit_type not in ls.not_enforced:
                    ls.not_enforced.append(limit_type)
                continue
            target = ls.by_symbol.setdefault(scope, {}) if scope and limit_type in SYMBOL_SCOPED else ls.limits
            target[fld] = min(threshold, target.get(fld, threshold))
        return ls

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "limits": dict(self.limits),
                "by_symbol": {k: dict(v) for k, v in self.by_symbol.items()}, "not_enforced": list(self.not_enforced)}


@dataclass(slots=True)
class AccountRisk:
    """The account's state the checks read. Kept incrementally by the engine."""

    limits: RiskLimits
    killed: bool = False
    open_count: int = 0
    open_notional: float = 0.0
    open_leaves: dict[str, list[float]] = field(default_factory=dict)  # symbol -> [buy leaves, sell leaves]
    recent: deque = field(default_factory=deque)  # ns of accepted submissions (sliding window)
    shapes: dict[tuple, tuple[int, str]] = field(default_factory=dict)  # order shape -> (ns, client id)
    limit_set: LimitSet | None = None  # the risk engine's set assigned to the account, if any

    def limit(self, name: str, symbol: str) -> tuple[float | None, str]:
        """(threshold, source) of a limit the risk engine's sets may set: symbol-scoped set limit,
        else the set's unscoped one, else the account's own."""
        ls = self.limit_set
        if ls is None:
            return getattr(self.limits, name), "account"
        scoped = ls.by_symbol.get(symbol)
        if scoped is not None and name in scoped:
            return scoped[name], ls.source
        if name in ls.limits:
            return ls.limits[name], ls.source
        return getattr(self.limits, name), "account"

    def effective_limits(self, symbol: str | None = None) -> dict[str, Any]:
        out = self.limits.as_dict()
        if self.limit_set is not None:
            out.update(self.limit_set.limits)
            if symbol is not None:
                out.update(self.limit_set.by_symbol.get(symbol, {}))
        return out


@dataclass(slots=True)
class CheckContext:
    instrument: Instrument | None
    risk: AccountRisk
    mark: float | None
    position_qty: float  # net, this account and instrument, all strategies
    gross_exposure: float
    equity: float
    margin_used: float
    global_killed: bool
    now_ns: int
    from_algo: bool = False


def _deny(code: str, check: str, reason: str, **values: Any) -> Denial:
    return Denial(code, check, reason, values)


def check_kill_switch(o: Order, c: CheckContext) -> Denial | None:
    if c.global_killed or c.risk.killed:
        scope = "global" if c.global_killed else "account"
        return _deny("TRADING_HALTED", "kill_switch", f"{scope} kill switch is active", scope=scope)
    return None


def check_instrument_tradable(o: Order, c: CheckContext) -> Denial | None:
    if c.instrument is None:
        return _deny("INSTRUMENT_UNKNOWN", "instrument_tradable", f"no instrument {o.symbol!r}", symbol=o.symbol)
    if not c.instrument.tradable:
        return _deny("INSTRUMENT_NOT_TRADABLE", "instrument_tradable", f"{o.symbol} is not tradable",
                     symbol=o.symbol)
    return None


def check_lot_size(o: Order, c: CheckContext) -> Denial | None:
    lot = c.instrument.lot_size
    if o.qty <= 0 or not is_multiple(o.qty, lot):
        return _deny("QUANTITY_INVALID_LOT", "lot_size", f"quantity {o.qty} is not a positive multiple of lot {lot}",
                     qty=o.qty, lot_size=lot)
    return None


def check_tick_size(o: Order, c: CheckContext) -> Denial | None:
    tick = c.instrument.tick_size
    p = o.limit_price  # limit first, then stop (no per-order tuple of the two)
    if p is not None and (p <= 0 or not is_multiple(p, tick)):
        return _tick_denial("limit_price", p, tick)
    p = o.stop_price
    if p is not None and (p <= 0 or not is_multiple(p, tick)):
        return _tick_denial("stop_price", p, tick)
    return None


def _tick_denial(name: str, p: float, tick: float) -> Denial:
    return _deny("PRICE_INVALID_TICK", "tick_size", f"{name} {p} is not a positive multiple of tick {tick}",
                 field=name, price=p, tick_size=tick)


def check_max_quantity(o: Order, c: CheckContext) -> Denial | None:
    mx = c.risk.limits.max_order_qty
    if mx is not None and o.qty > mx + EPS:
        return _deny("QUANTITY_EXCEEDS_MAXIMUM", "max_quantity", f"quantity {o.qty} exceeds {mx}", qty=o.qty,
                     max_order_qty=mx)
    return None


def check_reference_price(o: Order, c: CheckContext) -> Denial | None:
    if o.reference_price(c.mark) is None:
        return _deny("NO_REFERENCE_PRICE", "reference_price",
                     f"no last price for {o.symbol}: a market order needs live market data", symbol=o.symbol)
    return None


def check_max_notional(o: Order, c: CheckContext) -> Denial | None:
    mx, src = c.risk.limit("max_order_notional", o.symbol)
    notional = o.qty * o.reference_price(c.mark)
    if mx is not None and notional > mx + EPS:
        return _deny("NOTIONAL_EXCEEDS_MAX_PER_ORDER", "max_notional", f"notional {notional:.2f} exceeds {mx}",
                     notional=notional, max_order_notional=mx, limit_source=src)
    return None


def check_price_collar(o: Order, c: CheckContext) -> Denial | None:
    pct = c.risk.limits.price_collar_pct
    mark = c.mark
    if pct is None or mark is None:
        return None
    band = mark * pct / 100 + EPS
    p = o.limit_price  # limit first, then stop (no per-order tuple of the two)
    if p is not None and abs(p - mark) > band:
        return _collar_denial("limit_price", p, mark, pct)
    p = o.stop_price
    if p is not None and abs(p - mark) > band:
        return _collar_denial("stop_price", p, mark, pct)
    return None


def _collar_denial(name: str, p: float, mark: float, pct: float) -> Denial:
    return _deny("PRICE_OUTSIDE_COLLAR", "price_collar", f"{name} {p} is more than {pct}% from the last price {mark}",
                 field=name, price=p, last_price=mark, collar_pct=pct)


def _leaves(c: CheckContext, symbol: str) -> list[float]:
    return c.risk.open_leaves.get(symbol) or [0.0, 0.0]


def check_sell_covered(o: Order, c: CheckContext) -> Denial | None:
    if o.side is not _SELL:
        return None
    available = c.position_qty - _leaves(c, o.symbol)[1]
    if o.qty > available + EPS:
        return _deny("SELL_EXCEEDS_LONG_POSITION", "sell_covered",
                     f"sell of {o.qty} exceeds the long position available ({available}); use side 'short'",
                     qty=o.qty, available=available)
    return None


def check_position_limit(o: Order, c: CheckContext) -> Denial | None:
    mx, src = c.risk.limit("max_position_qty", o.symbol)
    if mx is None:
        return None
    buy_leaves, sell_leaves = _leaves(c, o.symbol)
    if o.side is _BUY:
        projected = c.position_qty + buy_leaves + o.qty
    else:
        projected = c.position_qty - sell_leaves - o.qty
    if abs(projected) > mx + EPS and abs(projected) > abs(c.position_qty) - EPS:
        return _deny("POSITION_LIMIT_EXCEEDED", "position_limit",
                     f"projected position {projected} exceeds {mx}", projected=projected, max_position_qty=mx,
                     limit_source=src)
    return None


def _increases_exposure(o: Order, c: CheckContext) -> bool:
    return (o.side is _BUY and c.position_qty >= -EPS) or (o.side is not _BUY and c.position_qty <= EPS) \
        or o.qty > abs(c.position_qty) + EPS


def check_gross_exposure(o: Order, c: CheckContext) -> Denial | None:
    mx, src = c.risk.limit("max_gross_exposure", o.symbol)
    if mx is None or not _increases_exposure(o, c):
        return None
    projected = c.gross_exposure + o.qty * o.reference_price(c.mark)
    if projected > mx + EPS:
        return _deny("GROSS_EXPOSURE_EXCEEDED", "gross_exposure", f"gross exposure would be {projected:.2f} > {mx}",
                     projected=projected, max_gross_exposure=mx, limit_source=src)
    return None


def check_open_orders(o: Order, c: CheckContext) -> Denial | None:
    mx = c.risk.limits.max_open_orders
    if mx is not None and c.risk.open_count >= mx:
        return _deny("OPEN_ORDERS_EXCEEDED", "open_orders", f"{c.risk.open_count} open orders, limit {mx}",
                     open_orders=c.risk.open_count, max_open_orders=mx)
    return None


def check_order_rate(o: Order, c: CheckContext) -> Denial | None:
    lim = c.risk.limits
    if lim.max_orders_per_window is None:
        return None
    window_ns = int(lim.rate_window_s * 1e9)
    recent = c.risk.recent
    while recent and recent[0] <= c.now_ns - window_ns:
        recent.popleft()
    if len(recent) >= lim.max_orders_per_window:
        return _deny("RATE_LIMIT_EXCEEDED", "order_rate",
                     f"{len(recent)} orders in the last {lim.rate_window_s}s, limit {lim.max_orders_per_window}",
                     orders_in_window=len(recent), window_s=lim.rate_window_s, limit=lim.max_orders_per_window)
    return None


def check_buying_power(o: Order, c: CheckContext) -> Denial | None:
    if not _increases_exposure(o, c):
        return None
    rate = c.risk.limits.margin_rate
    required = o.qty * o.reference_price(c.mark) * rate
    available = c.equity - c.margin_used - c.risk.open_notional * rate
    if required > available + EPS:
        return _deny("INSUFFICIENT_BUYING_POWER", "buying_power",
                     f"order needs {required:.2f} of margin, {available:.2f} available",
                     required=required, available=available, margin_rate=rate)
    return None


def order_shape(o: Order) -> tuple:
    return (o.symbol, o.side, o.type, o.qty, o.limit_price, o.stop_price, o.strategy)


def check_duplicate(o: Order, c: CheckContext) -> Denial | None:
    window = c.risk.limits.duplicate_window_s
    if window is None or c.from_algo:
        return None
    seen = c.risk.shapes.get(order_shape(o))
    if seen is not None and c.now_ns - seen[0] < window * 1e9 and seen[1] != o.client_order_id:
        return _deny("DUPLICATE_ORDER", "duplicate",
                     f"an identical order (client id {seen[1]!r}) was accepted {(c.now_ns - seen[0]) / 1e9:.3f}s ago",
                     previous_client_order_id=seen[1], window_s=window)
    return None


#: Run in this order; the first denial wins.
CHECKS = (
    check_kill_switch, check_instrument_tradable, check_lot_size, check_tick_size, check_max_quantity,
    check_reference_price, check_max_notional, check_price_collar, check_sell_covered, check_position_limit,
    check_gross_exposure, check_open_orders, check_order_rate, check_buying_power, check_duplicate,
)


def run_checks(o: Order, c: CheckContext) -> Denial | None:
    for check in CHECKS:
        d = check(o, c)
        if d is not None:
            return d
    return None


def record_accepted(o: Order, risk: AccountRisk, now_ns: int) -> None:
    """Book-keeping the rate and duplicate checks need once an order is accepted."""
    risk.recent.append(now_ns)
    if risk.limits.duplicate_window_s:
        shapes = risk.shapes
        shapes[order_shape(o)] = (now_ns, o.client_order_id)
        if len(shapes) > 4096:  # bound memory: drop shapes older than the window
            cutoff = now_ns - risk.limits.duplicate_window_s * 1e9
            for k in [k for k, v in shapes.items() if v[0] < cutoff]:
                del shapes[k]
