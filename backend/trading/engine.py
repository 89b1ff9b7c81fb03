"""The in-memory order management core: submit, cancel, amend, market data, stops, expiry, kill switch.

Pure: no I/O and no awaits, so each call is atomic on the event loop. Every call returns
``Effects`` naming what changed (order transitions, fills, positions, account cash, router
decisions); the service turns them into one durable batch before it acknowledges anything.
Lifecycle of an order here: INITIALISED -> (pre-trade) DENIED | SUBMITTED -> (venue)
REJECTED | ACCEPTED -> fills / rest / trigger / cancel / expire (see ``state``).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.trading import router as sor
from backend.trading.book import BookCrossed, Entry
from backend.trading.domain import (
    EPS,
    SMART,
    Denial,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderType,
    Side,
    TimeInForce,
    is_multiple,
)
from backend.trading.positions import Ledger, Position
from backend.trading.pre_trade import (
    AccountRisk,
    CheckContext,
    RiskLimits,
    check_kill_switch,
    check_lot_size,
    check_max_notional,
    check_max_quantity,
    check_price_collar,
    check_tick_size,
    record_accepted,
    run_checks,
)
from backend.trading.state import OPEN, TERMINAL, TRANSITIONS, OrderStatus, Trigger, next_status
from backend.trading.venues import DEFAULT_VENUES, SimulatedVenue, VenueProfile

S = OrderStatus

# Enum members bound once as module globals: reading ``Side.BUY`` goes through the enum
# metaclass (~70 ns a read on CPython 3.11) against ~8 ns for a global, and one order reads
# a few dozen of them. Same objects, so ``is`` comparisons are unchanged.
_ACCEPTED = S.ACCEPTED
_BUY = Side.BUY
_DAY = TimeInForce.DAY
_FOK = TimeInForce.FOK
_GTC = TimeInForce.GTC
_INITIALISED = S.INITIALISED
_IOC = TimeInForce.IOC
_LIMIT = OrderType.LIMIT
_MAKER = Liquidity.MAKER
_MARKET = OrderType.MARKET
_ON_ACCEPT = Trigger.ACCEPT
_ON_AMEND = Trigger.AMEND
_ON_CANCEL = Trigger.CANCEL
_ON_DENY = Trigger.DENY
_ON_EXPIRE = Trigger.EXPIRE
_ON_FILL = Trigger.FILL
_ON_FILL_PARTIAL = Trigger.FILL_PARTIAL
_ON_REJECT = Trigger.REJECT
_ON_SUBMIT = Trigger.SUBMIT
_ON_TRIGGER = Trigger.TRIGGER
_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT
_TAKER = Liquidity.TAKER
_TRIGGERED = S.TRIGGERED


@dataclass(slots=True)
class Account:
    id: str
    name: str
    currency: str
    starting_cash: float
    cash: float
    risk: AccountRisk
    created_ns: int = 0


@dataclass(slots=True, init=False)
class Effects:
    """What one engine call changed, in order."""

    transitions: list[tuple[Order, OrderStatus]]
    fills: list[Fill]
    positions: list[Position]
    accounts: list[Account]
    #: (order, RouteDecision, taker fills [(price, qty, fee)], ts_ns); render with router.decision_record
    decisions: list[tuple[Order, sor.RouteDecision, list[tuple[float, float, float]], int]]

    def __init__(self) -> None:  # one per engine call: list literals beat five default_factory calls
        self.transitions = []
        self.fills = []
        self.positions = []
        self.accounts = []
        self.decisions = []

    def __bool__(self) -> bool:
        return bool(self.transitions or self.fills or self.decisions)

    def extend(self, other: Effects) -> None:
        self.transitions += other.transitions
        self.fills += other.fills
        self.positions += other.positions
        self.accounts += other.accounts
        self.decisions += other.decisions


def next_session_close_ns(now_ns: int, close_utc: str = "21:00") -> int:
    """The next daily session close (UTC ``HH:MM``) strictly after ``now_ns``."""
    hh, mm = (int(x) for x in close_utc.split(":"))
    now = datetime.fromtimestamp(now_ns / 1e9, UTC)
    close = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if close <= now:
        close += timedelta(days=1)
    return int(close.timestamp() * 1e9)


class TradingEngine:
    def __init__(self, venues: tuple[VenueProfile, ...] = DEFAULT_VENUES, clock: Callable[[], int] = time.time_ns,
                 session_close_utc: str = "21:00") -> None:
        self.venues: dict[str, SimulatedVenue] = {p.name: SimulatedVenue(p) for p in venues}
        #: where passive SMART orders rest: best maker economics (lowest maker fee, then latency)
        self._rest_venue = min(self.venues.values(), key=lambda v: (v.profile.maker_fee_bps, v.profile.latency_ms))
        self._all_venues = list(self.venues.values())
        self.clock = clock
        #: order ids: a random per-process prefix plus a counter (unique across restarts, cheap)
        self._id_prefix = uuid.uuid4().hex[:16]
        self._id_seq = itertools.count(1)
        self.session_close_utc = session_close_utc
        self.instruments: dict[str, Instrument] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}  # open orders only; terminal ones leave
        self.by_client: dict[tuple[str, str], str] = {}
        self.ref_px: dict[str, float] = {}  # order id -> price its open notional was booked at
        self.stops: dict[str, dict[str, Order]] = {}  # symbol -> stop orders waiting for their trigger
        self.ledger = Ledger()
        self.marks: dict[str, float] = {}
        self.quotes: dict[str, tuple[float, float, float, float]] = {}
        self.volume: dict[str, float] = {}  # symbol -> cumulative traded size seen on the feed
        self.global_killed = False
        self.kill_reasons: dict[str, str] = {}

    # ---- reference data ------------------------------------------------------
    def add_instrument(self, inst: Instrument) -> None:
        self.instruments[inst.symbol] = inst

    def add_account(self, account_id: str, name: str, starting_cash: float, currency: str = "USD",
                    limits: RiskLimits | None = None, cash: float | None = None, killed: bool = False) -> Account:
        acct = Account(account_id, name, currency, starting_cash, starting_cash if cash is None else cash,
                       AccountRisk(limits or RiskLimits(), killed=killed), self.clock())
        self.accounts[account_id] = acct
        return acct

    def account(self, account_id: str) -> Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            raise NotFound(f"no account {account_id!r}", field="account_id")
        return acct

    def equity(self, acct: Account) -> float:
        return acct.cash + self.ledger.market_value(acct.id, self.marks)

    def account_view(self, acct: Account) -> dict[str, Any]:
        gross = self.ledger.gross_exposure(acct.id, self.marks)
        positions = self.ledger.for_account(acct.id)
        equity = self.equity(acct)
        margin = gross * acct.risk.limits.margin_rate
        return {
            "id": acct.id, "name": acct.name, "currency": acct.currency, "starting_cash": acct.starting_cash,
            "cash": acct.cash, "equity": equity, "gross_exposure": gross, "margin_used": margin,
            "margin_available": equity - margin - acct.risk.open_notional * acct.risk.limits.margin_rate,
            "margin_usage": margin / equity if equity > 0 else None,
            "realised_pnl": sum(p.realised_pnl for p in positions),
            "unrealised_pnl": sum(p.unrealised(self.marks.get(p.symbol)) for p in positions),
            "fees": sum(p.fees for p in positions), "open_orders": acct.risk.open_count,
            "kill_switch": acct.risk.killed, "limits": acct.risk.limits.as_dict(),
            "risk_limit_set": acct.risk.limit_set.as_dict() if acct.risk.limit_set else None,
            "effective_limits": acct.risk.effective_limits(),
        }

    # ---- submit --------------------------------------------------------------
    def find_client(self, account_id: str, client_order_id: str) -> str | None:
        return self.by_client.get((account_id, client_order_id))

    def submit(self, *, account_id: str, symbol: str, side: Side, type: OrderType, qty: float,
               tif: TimeInForce | None = None, limit_price: float | None = None, stop_price: float | None = None,
               client_order_id: str | None = None, strategy: str = "default", venue: str = SMART,
               algo_id: str | None = None, order_id: str | None = None) -> tuple[Order, Effects]:
        """Create, check and execute one order. Denied orders are returned with status DENIED.

        An already-known ``client_order_id`` is the caller's business (``find_client``)."""
        acct = self.account(account_id)
        if venue != SMART and venue not in self.venues:
            raise InvalidInput(f"unknown venue {venue!r}", field="venue")
        if tif is None:
            tif = _IOC if type is _MARKET else _GTC
        _validate_shape(type, tif, limit_price, stop_price)
        now = self.clock()
        oid = order_id or f"{self._id_prefix}{next(self._id_seq):08x}"
        o = Order(oid, account_id, strategy, client_order_id or oid, symbol, side, type, tif, qty, limit_price,
                  stop_price, venue, _INITIALISED, now, now, algo_id=algo_id)
        self.by_client[(account_id, o.client_order_id)] = oid
        eff = Effects()
        mark = self.marks.get(symbol)
        gross, value = self.ledger.exposure(account_id, self.marks)
        ctx = CheckContext(self.instruments.get(symbol), acct.risk, mark, self.ledger.net_qty(account_id, symbol),
                           gross, acct.cash + value, gross * acct.risk.limits.margin_rate, self.global_killed, now,
                           algo_id is not None)
        denial = run_checks(o, ctx)
        if denial is not None:
            o.denial = denial
            o.reason = denial.reason
            self._move(o, _ON_DENY, eff)
            return o, eff
        self._move(o, _ON_SUBMIT, eff)
        if type is _MARKET and not self._any_liquidity(o):
            o.reason = "NO_LIQUIDITY: no displayed liquidity on the opposite side"
            self._move(o, _ON_REJECT, eff)
            return o, eff
        record_accepted(o, acct.risk, now)
        if tif is _DAY:
            o.expire_ns = next_session_close_ns(now, self.session_close_utc)
        self._open(o, acct, o.reference_price(mark))
        self._move(o, _ON_ACCEPT, eff)
        if o.stop_price is not None:
            if self._stop_hit(o, mark):
                self._trigger(o, eff)
            else:
                self.stops.setdefault(symbol, {})[oid] = o
        else:
            self._execute(o, eff)
        return o, eff

    # ---- cancel / amend ------------------------------------------------------
    def open_order(self, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None:
            raise Conflict(f"order {order_id!r} is not open", field="order_id")
        return o

    def cancel(self, order_id: str, reason: str = "cancelled by request") -> tuple[Order, Effects]:
        o = self.open_order(order_id)
        eff = Effects()
        self._unrest(o)
        o.reason = reason
        self._move(o, _ON_CANCEL, eff)
        return o, eff

    def amend(self, order_id: str, *, qty: float | None = None, limit_price: float | None = None,
              stop_price: float | None = None) -> tuple[Order, Effects]:
        """Change quantity and/or prices of an open order. A lower quantity keeps queue priority;
        a new price or a higher quantity re-enters the book (and may trade)."""
        o = self.open_order(order_id)
        if qty is not None and qty <= o.filled_qty + EPS:
            raise InvalidInput(f"quantity {qty} must exceed the filled {o.filled_qty}", field="qty")
        if limit_price is not None and o.limit_price is None:
            raise InvalidInput("order has no limit price to amend", field="limit_price")
        if stop_price is not None and (o.stop_price is None or o.status is _TRIGGERED):
            raise InvalidInput("order has no pending stop price to amend", field="stop_price")
        probe = Order(o.id, o.account_id, o.strategy, o.client_order_id, o.symbol, o.side, o.type, o.tif,
                      qty if qty is not None else o.qty, limit_price if limit_price is not None else o.limit_price,
                      stop_price if stop_price is not None else o.stop_price, o.venue, o.status, o.created_ns,
                      o.updated_ns)
        acct = self.accounts[o.account_id]
        ctx = CheckContext(self.instruments.get(o.symbol), acct.risk, self.marks.get(o.symbol), 0.0, 0.0, 0.0, 0.0,
                           self.global_killed, self.clock())
        for check in (check_kill_switch, check_lot_size, check_tick_size, check_max_quantity, check_max_notional,
                      check_price_collar):
            if ctx.mark is None and check is check_max_notional and probe.limit_price is None:
                continue
            d = check(probe, ctx)
            if d is not None:
                raise AmendDenied(d)
        eff = Effects()
        book = self.venues[o.resting_venue].book(o.symbol) if o.resting_venue else None
        reprice = (limit_price is not None and abs(limit_price - (o.limit_price or 0)) > EPS) or (
            qty is not None and qty > o.qty + EPS)
        self._close_open(o)
        if qty is not None:
            o.qty = qty
        if limit_price is not None:
            o.limit_price = limit_price
        if stop_price is not None:
            o.stop_price = stop_price
        self._open(o, acct, o.reference_price(self.marks.get(o.symbol)), count=False)
        self._move(o, _ON_AMEND, eff)
        if book is not None:
            if reprice:
                book.remove(o.id)
                o.resting_venue = None
                self._execute(o, eff)
            else:
                book.reduce(o.id, o.leaves_qty)
        elif self._waiting_stop(o) and self._stop_hit(o, self.marks.get(o.symbol)):
            self.stops.get(o.symbol, {}).pop(o.id, None)
            self._trigger(o, eff)
        return o, eff

    # ---- market data ---------------------------------------------------------
    def on_quote(self, symbol: str, bid: float, ask: float, bid_size: float, ask_size: float,
                 ts_ns: int | None = None) -> Effects:
        """A live quote: fill user orders it trades through, refresh simulated liquidity, fire stops."""
        eff = Effects()
        if not (bid > 0 and ask > 0 and ask >= bid):
            return eff
        inst = self.instruments.get(symbol)
        if inst is None:
            return eff
        self.quotes[symbol] = (bid, ask, bid_size, ask_size)
        self.marks[symbol] = (bid + ask) / 2
        for v in self.venues.values():
            for e in v.on_quote(symbol, bid, ask, bid_size, ask_size, inst.tick_size, inst.lot_size):
                self._fill_resting(v, e, e.price, eff)
            v.refresh(symbol, bid, ask, bid_size, ask_size, inst.tick_size, inst.lot_size)
        self._check_stops(symbol, eff)
        return eff

    def on_trade(self, symbol: str, price: float, size: float, ts_ns: int | None = None) -> Effects:
        """A print: marks the instrument, counts volume, fills user orders it trades through, fires stops."""
        eff = Effects()
        if symbol not in self.instruments or not price > 0:
            return eff
        self.marks[symbol] = price
        self.volume[symbol] = self.volume.get(symbol, 0.0) + max(size, 0.0)
        for v in self.venues.values():
            for e in v.on_trade(symbol, price):
                self._fill_resting(v, e, e.price, eff)
        self._check_stops(symbol, eff)
        return eff

    # ---- expiry and kill switch ---------------------------------------------
    def expire_due(self, now_ns: int | None = None) -> Effects:
        """Expire DAY orders whose session has closed."""
        now = now_ns if now_ns is not None else self.clock()
        eff = Effects()
        for o in [o for o in self.orders.values() if o.expire_ns is not None and o.expire_ns <= now]:
            self._unrest(o)
            o.reason = "DAY order expired at session close"
            self._move(o, _ON_EXPIRE, eff)
        return eff

    def set_kill(self, active: bool, account_id: str | None = None, reason: str = "") -> Effects:
        """Activate or release a kill switch (global when ``account_id`` is None); activating cancels
        every open order in its scope."""
        eff = Effects()
        if account_id is None:
            self.global_killed = active
        else:
            self.account(account_id).risk.killed = active
        key = account_id or "*"
        if active:
            self.kill_reasons[key] = reason
            for o in [o for o in self.orders.values() if account_id is None or o.account_id == account_id]:
                self._unrest(o)
                o.reason = f"kill switch: {reason}" if reason else "kill switch"
                self._move(o, _ON_CANCEL, eff)
        else:
            self.kill_reasons.pop(key, None)
        return eff

    # ---- restart -------------------------------------------------------------
    def restore_order(self, o: Order) -> None:
        """Put an open order read back from storage into the books / stop table (call in creation order)."""
        acct = self.accounts[o.account_id]
        self.by_client[(o.account_id, o.client_order_id)] = o.id
        self._open(o, acct, o.reference_price(self.marks.get(o.symbol)))
        if self._waiting_stop(o):
            self.stops.setdefault(o.symbol, {})[o.id] = o
        elif o.resting_venue and o.limit_price is not None:
            self.venues[o.resting_venue].book(o.symbol).rest(o.id, o.account_id, o.side is _BUY,
                                                             o.limit_price, o.leaves_qty)

    # ---- internals -----------------------------------------------------------
    def _move(self, o: Order, trigger: Trigger, eff: Effects) -> None:
        status = TRANSITIONS.get((o.status, trigger))  # the table lookup inline; next_status raises the error
        o.status = status if status is not None else next_status(o.status, trigger)
        o.updated_ns = self.clock()
        o.version += 1
        eff.transitions.append((o, o.status))
        if o.status in TERMINAL:
            self._close_open(o)
            self.orders.pop(o.id, None)
            if o.stop_price is not None:
                waiting = self.stops.get(o.symbol)
                if waiting is not None:
                    waiting.pop(o.id, None)

    def _open(self, o: Order, acct: Account, ref: float | None, count: bool = True) -> None:
        self.orders[o.id] = o
        ref = ref or 0.0
        self.ref_px[o.id] = ref
        r = acct.risk
        if count:
            r.open_count += 1
        leaves = r.open_leaves.get(o.symbol)
        if leaves is None:
            leaves = r.open_leaves[o.symbol] = [0.0, 0.0]
        leaves[0 if o.side is _BUY else 1] += o.leaves_qty
        r.open_notional += o.leaves_qty * ref

    def _close_open(self, o: Order, count: bool | None = None) -> None:
        """Remove the order's remaining quantity from the account's open aggregates."""
        ref = self.ref_px.pop(o.id, None)
        if ref is None:
            return
        r = self.accounts[o.account_id].risk
        if count if count is not None else o.status in TERMINAL:
            r.open_count -= 1
        leaves = r.open_leaves[o.symbol]
        leaves[0 if o.side is _BUY else 1] -= o.leaves_qty
        r.open_notional -= o.leaves_qty * ref

    def _reduce_open(self, o: Order, qty: float) -> None:
        ref = self.ref_px.get(o.id)
        if ref is None:
            return
        r = self.accounts[o.account_id].risk
        r.open_leaves[o.symbol][0 if o.side is _BUY else 1] -= qty
        r.open_notional -= qty * ref

    def _unrest(self, o: Order) -> None:
        if o.resting_venue:
            self.venues[o.resting_venue].book(o.symbol).remove(o.id)
            o.resting_venue = None
        if o.stop_price is not None:  # only orders with a stop price are ever in the stop table
            waiting = self.stops.get(o.symbol)
            if waiting is not None:
                waiting.pop(o.id, None)

    def _venues_for(self, o: Order) -> list[SimulatedVenue]:
        return self._all_venues if o.venue == SMART else [self.venues[o.venue]]

    def _any_liquidity(self, o: Order) -> bool:
        is_buy = o.side is _BUY
        for v in self._venues_for(o):
            b = v.books.get(o.symbol)
            if b is not None and (b.asks if is_buy else b.bids):
                return True
        return False

    @staticmethod
    def _crosses(venues: list[SimulatedVenue], symbol: str, is_buy: bool, limit: float) -> bool:
        for v in venues:
            b = v.books.get(symbol)
            if b is None:
                continue
            best = b.ask if is_buy else b.bid
            if best is not None and (best <= limit + EPS if is_buy else best >= limit - EPS):
                return True
        return False

    def _limit_for(self, o: Order) -> float | None:
        return o.limit_price if o.type in (_LIMIT, _STOP_LIMIT) else None

    def _execute(self, o: Order, eff: Effects) -> None:
        """Route the order's leaves across venues, take liquidity, then rest or cancel the remainder."""
        is_buy = o.side is _BUY
        limit = o.limit_price if o.type is _LIMIT or o.type is _STOP_LIMIT else None
        smart = o.venue == SMART
        venues = self._all_venues if smart else [self.venues[o.venue]]
        rests = limit is not None and (o.tif is _GTC or o.tif is _DAY)
        if rests and not self._crosses(venues, o.symbol, is_buy, limit):  # passive: straight to the book
            venue = self._rest_venue if smart else venues[0]
            venue.book(o.symbol).rest(o.id, o.account_id, is_buy, limit, o.leaves_qty)
            o.resting_venue = venue.name
            return
        decision = sor.allocate(venues, o.symbol, is_buy, o.leaves_qty, limit,
                                rest_venue=self._rest_venue if smart else venues[0])
        if o.tif is _FOK and decision.unallocated_qty > EPS:
            o.reason = f"FOK: only {o.leaves_qty - decision.unallocated_qty} of {o.leaves_qty} fillable"
            self._move(o, _ON_CANCEL, eff)
            return
        taker_fills: list[tuple[float, float, float]] = []
        for alloc in decision.allocations:
            v = self.venues[alloc.venue]
            for e, q, price in v.book(o.symbol).match(is_buy, alloc.qty, alloc.worst_price):
                if e.order_id is not None:
                    self._fill_maker(v, e, q, price, eff)
                f = self._fill(o, v, price, q, _TAKER, eff)
                taker_fills.append((price, q, f.fee))
        if smart and decision.allocations:
            # kept as objects: the store renders them (sor.decision_record) when it persists the batch
            eff.decisions.append((o, decision, taker_fills, self.clock()))
        if o.status in TERMINAL or o.leaves_qty <= EPS:
            return
        if rests:
            venue = self.venues[decision.rest_venue if smart else o.venue]
            book = venue.book(o.symbol)
            try:
                book.rest(o.id, o.account_id, is_buy, limit, o.leaves_qty)
            except BookCrossed:  # defensive: take what crosses on that venue, then rest
                for e, q, price in book.match(is_buy, o.leaves_qty, limit):
                    if e.order_id is not None:
                        self._fill_maker(venue, e, q, price, eff)
                    self._fill(o, venue, price, q, _TAKER, eff)
                if o.leaves_qty > EPS:
                    book.rest(o.id, o.account_id, is_buy, limit, o.leaves_qty)
            if o.leaves_qty > EPS:
                o.resting_venue = venue.name
            return
        o.reason = "unfilled remainder cancelled (" + ("market" if limit is None else o.tif.value) + ")"
        self._move(o, _ON_CANCEL, eff)

    def _fill_maker(self, v: SimulatedVenue, e: Entry, q: float, price: float, eff: Effects) -> None:
        maker = self.orders.get(e.order_id)
        if maker is not None:
            if e.qty <= EPS:
                maker.resting_venue = None
            self._fill(maker, v, price, q, _MAKER, eff)

    def _fill_resting(self, v: SimulatedVenue, e: Entry, price: float, eff: Effects) -> None:
        """The live market traded through a resting user order: it fills in full at its limit."""
        o = self.orders.get(e.order_id)
        if o is None:
            return
        q = v.book(o.symbol).remove(o.id)
        if q <= EPS:
            return
        o.resting_venue = None
        self._fill(o, v, price, q, _MAKER, eff)

    def _fill(self, o: Order, v: SimulatedVenue, price: float, qty: float, liq: Liquidity, eff: Effects) -> Fill:
        now = self.clock()
        fee = v.profile.fee(price, qty, liq)
        o.fill_count += 1
        f = Fill(f"{o.id}-F{o.fill_count}", o.id, o.account_id, o.strategy, o.symbol, o.side, v.name, price, qty,
                 fee, liq, now, now + v.latency_ns)
        new_filled = o.filled_qty + qty
        o.avg_fill_price = (o.avg_fill_price * o.filled_qty + price * qty) / new_filled
        self._reduce_open(o, qty)
        o.filled_qty = new_filled
        o.fees += fee
        signed = o.side.sign * qty
        acct = self.accounts[o.account_id]
        acct.cash -= signed * price + fee
        eff.fills.append(f)
        eff.positions.append(self.ledger.apply(o.account_id, o.strategy, o.symbol, signed, price, fee))
        eff.accounts.append(acct)
        self._move(o, _ON_FILL if o.leaves_qty <= EPS else _ON_FILL_PARTIAL, eff)
        return f

    @staticmethod
    def _waiting_stop(o: Order) -> bool:
        """A stop order not yet triggered (it stays ACCEPTED until its trigger fires)."""
        return o.stop_price is not None and o.status is _ACCEPTED

    @staticmethod
    def _stop_hit(o: Order, mark: float | None) -> bool:
        if mark is None or o.stop_price is None:
            return False
        return mark >= o.stop_price - EPS if o.side is _BUY else mark <= o.stop_price + EPS

    def _trigger(self, o: Order, eff: Effects) -> None:
        self._move(o, _ON_TRIGGER, eff)
        if o.type is _STOP and not self._any_liquidity(o):
            o.reason = "NO_LIQUIDITY at trigger"
            self._move(o, _ON_CANCEL, eff)
            return
        self._execute(o, eff)

    def _check_stops(self, symbol: str, eff: Effects) -> None:
        waiting = self.stops.get(symbol)
        if not waiting:
            return
        mark = self.marks.get(symbol)
        for o in [o for o in waiting.values() if self._stop_hit(o, mark)]:
            waiting.pop(o.id, None)
            if o.status in OPEN:
                self._trigger(o, eff)


class AmendDenied(InvalidInput):
    code = "AMEND_DENIED"
    title = "Amendment denied by a pre-trade check"

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.reason, field=denial.values.get("field") or "qty", denial=denial.as_dict())


def _validate_shape(type_: OrderType, tif: TimeInForce, limit: float | None, stop: float | None) -> None:
    needs_limit = type_ in (_LIMIT, _STOP_LIMIT)
    needs_stop = type_ in (_STOP, _STOP_LIMIT)
    if needs_limit and limit is None:
        raise InvalidInput(f"a {type_.value} order needs limit_price", field="limit_price")
    if not needs_limit and limit is not None:
        raise InvalidInput(f"a {type_.value} order takes no limit_price", field="limit_price")
    if needs_stop and stop is None:
        raise InvalidInput(f"a {type_.value} order needs stop_price", field="stop_price")
    if not needs_stop and stop is not None:
        raise InvalidInput(f"a {type_.value} order takes no stop_price", field="stop_price")
    if type_ is _MARKET and tif in (_GTC, _DAY):
        raise InvalidInput("a market order's time in force must be ioc or fok", field="tif")


__all__ = ["Account", "AmendDenied", "Effects", "TradingEngine", "is_multiple"]
