"""Execution algorithms: TWAP, VWAP and POV parents that produce child orders over time.

Schedules are pure (``twap_schedule``, ``vwap_schedule``, ``pov_child_qty``); ``AlgoRunner`` drives
one parent on the event loop: at each due time it submits a child (an IOC market order, or IOC
limit when the parent has a limit) through the normal submit path, with client order id
``<algo id>-<n>`` so a restart can never double a slice. Unfilled child quantity carries into the
next slice. Pause stops the clock (the schedule shifts by the paused time); cancel stops for good.
The parent's state is written in the same transaction as each child order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from backend.core.errors import Conflict, InvalidInput, Unavailable

log = logging.getLogger(__name__)

ALGO_KINDS = ("twap", "vwap", "pov")
ACTIVE = ("running", "paused")


def _lot_split(total: float, weights: Sequence[float], lot: float) -> list[float]:
    """Quantities per slice, multiples of ``lot``, proportional to ``weights``, summing to ``total``."""
    wsum = float(sum(weights))
    lots_total = round(total / lot)
    out, done, cum = [], 0, 0.0
    for w in weights:
        cum += w
        target = math.floor(lots_total * cum / wsum + 1e-9)
        out.append((target - done) * lot)
        done = target
    out[-1] += (lots_total - done) * lot
    return [round(q, 9) for q in out]


def twap_schedule(total: float, slices: int, lot: float) -> list[float]:
    """Equal slices (to the lot)."""
    return _lot_split(total, [1.0] * slices, lot)


def volume_profile(bars: Sequence[tuple[datetime, float]]) -> list[float]:
    """Mean traded volume per minute of the UTC day (1440 buckets) from (bar start, volume) rows."""
    sums = [0.0] * 1440
    days: list[set] = [set() for _ in range(1440)]
    for ts, vol in bars:
        m = ts.hour * 60 + ts.minute
        sums[m] += vol
        days[m].add(ts.date())
    return [sums[m] / len(days[m]) if days[m] else 0.0 for m in range(1440)]


def vwap_weights(profile: Sequence[float], start_ns: int, duration_s: float, slices: int) -> list[float]:
    """Weight of each slice = the profile's volume in the minute at the slice's midpoint."""
    out = []
    for i in range(slices):
        mid = datetime.fromtimestamp((start_ns + (i + 0.5) * duration_s / slices * 1e9) / 1e9, UTC)
        out.append(profile[mid.hour * 60 + mid.minute])
    return out


def vwap_schedule(total: float, profile: Sequence[float], start_ns: int, duration_s: float, slices: int,
                  lot: float) -> list[float]:
    w = vwap_weights(profile, start_ns, duration_s, slices)
    if sum(w) <= 0:
        raise InvalidInput("stored bars show no volume in the algorithm's time-of-day window; "
                           "VWAP needs a volume profile", field="symbol")
    return _lot_split(total, w, lot)


def pov_child_qty(participation: float, market_volume: float, sent: float, total: float, lot: float) -> float:
    """Child size that brings this parent to ``participation`` of the market volume seen since start."""
    target = min(participation * market_volume, total)
    return max(math.floor((target - sent) / lot + 1e-9) * lot, 0.0)


@dataclass
class AlgoState:
    id: str
    account_id: str
    strategy: str
    kind: str
    symbol: str
    side: str
    qty: float
    params: dict[str, Any]
    status: str = "running"
    schedule: list[float] = field(default_factory=list)  # twap / vwap slice quantities
    next_slice: int = 0
    sent_qty: float = 0.0
    filled_qty: float = 0.0
    notional: float = 0.0
    fees: float = 0.0
    child_count: int = 0
    carry_qty: float = 0.0
    started_ns: int = 0
    paused_ns: int = 0  # total time spent paused
    paused_at_ns: int | None = None
    volume_start: float = 0.0
    last_error: str | None = None
    created_ns: int = 0
    updated_ns: int = 0

    def state_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("id", "account_id", "strategy", "kind", "symbol", "side", "qty", "params", "status",
                  "created_ns", "updated_ns"):
            d.pop(k)
        return d

    def view(self, now_ns: int) -> dict[str, Any]:
        duration = self.params.get("duration_s")
        elapsed = max(now_ns - self.started_ns - self.paused_ns - ((now_ns - self.paused_at_ns)
                                                                    if self.paused_at_ns else 0), 0) / 1e9
        scheduled = sum(self.schedule[: self.next_slice]) if self.schedule else None
        return {
            "id": self.id, "account_id": self.account_id, "strategy": self.strategy, "kind": self.kind,
            "symbol": self.symbol, "side": self.side, "qty": self.qty, "params": self.params, "status": self.status,
            "sent_qty": self.sent_qty, "filled_qty": self.filled_qty, "progress": self.filled_qty / self.qty,
            "avg_fill_price": self.notional / self.filled_qty if self.filled_qty else None, "fees": self.fees,
            "child_orders": self.child_count, "slices_done": self.next_slice,
            "slices_total": len(self.schedule) or None, "scheduled_qty": scheduled, "schedule": self.schedule or None,
            "elapsed_s": elapsed, "duration_s": duration, "last_error": self.last_error,
            "created_ns": self.created_ns, "updated_ns": self.updated_ns,
        }


#: submit_child(state, client_order_id, qty) -> (filled qty, notional, fees, error or None)
SubmitChild = Callable[[AlgoState, str, float], Awaitable[tuple[float, float, float, str | None]]]


class AlgoRunner:
    """Drives one parent; ``volume`` reads the cumulative market volume of the symbol (for POV)."""

    def __init__(self, state: AlgoState, submit_child: SubmitChild, volume: Callable[[str], float],
                 lot: float, persist: Callable[[AlgoState], Awaitable[None]], tick_s: float = 0.05) -> None:
        self.s = state
        self.submit_child = submit_child
        self.volume = volume
        self.lot = lot
        self.persist = persist
        self.tick_s = tick_s
        self.resumed = asyncio.Event()
        if state.status == "running":
            self.resumed.set()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"algo-{self.s.id}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def pause(self) -> None:
        if self.s.status != "running":
            raise Conflict(f"algorithm is {self.s.status}, not running", field="status")
        self.s.status = "paused"
        self.s.paused_at_ns = time.time_ns()
        self.resumed.clear()

    def resume(self) -> None:
        if self.s.status != "paused":
            raise Conflict(f"algorithm is {self.s.status}, not paused", field="status")
        self.s.paused_ns += time.time_ns() - (self.s.paused_at_ns or time.time_ns())
        self.s.paused_at_ns = None
        self.s.status = "running"
        self.resumed.set()

    def cancel(self) -> None:
        if self.s.status not in ACTIVE:
            raise Conflict(f"algorithm is already {self.s.status}", field="status")
        self.s.status = "cancelled"
        self.resumed.set()

    def _due_ns(self, i: int) -> int:
        interval = self.s.params["duration_s"] / len(self.s.schedule)
        return self.s.started_ns + self.s.paused_ns + int(i * interval * 1e9)

    async def _run(self) -> None:
        s = self.s
        try:
            while s.status in ACTIVE:
                await self.resumed.wait()
                if s.status != "running":
                    continue
                if s.kind == "pov":
                    await self._pov_step()
                else:
                    await self._slice_step()
                if s.status != "running":
                    continue
                await asyncio.sleep(self.tick_s)
        except asyncio.CancelledError:
            raise
        except Unavailable:  # the core halted to rebuild: it restarts this parent from the database
            log.info("algorithm %s paused by a trading halt", s.id)
        except Exception as e:  # noqa: BLE001 - an algo fails alone, visibly
            log.exception("algorithm %s failed", s.id)
            s.status, s.last_error = "failed", f"{type(e).__name__}: {e}"
            await self.persist(s)

    async def _send(self, qty: float) -> None:
        s = self.s
        cid = f"{s.id}-{s.child_count}"
        s.child_count += 1
        filled, notional, fees, err = await self.submit_child(s, cid, qty)
        s.sent_qty += qty
        s.filled_qty += filled
        s.notional += notional
        s.fees += fees
        s.last_error = err
        s.carry_qty = max(qty - filled, 0.0) if s.kind != "pov" else 0.0
        await self.persist(s)

    async def _slice_step(self) -> None:
        s = self.s
        now = time.time_ns()
        while s.status == "running" and s.next_slice < len(s.schedule) and now >= self._due_ns(s.next_slice):
            qty = min(s.schedule[s.next_slice] + s.carry_qty, s.qty - s.filled_qty)
            s.next_slice += 1
            if qty > 1e-9:
                await self._send(qty)
        if s.status == "running" and s.next_slice >= len(s.schedule):
            s.status = "completed"  # only after the last child is durable and counted
            await self.persist(s)

    async def _pov_step(self) -> None:
        s = self.s
        p = s.params
        seen = self.volume(s.symbol) - s.volume_start
        qty = min(pov_child_qty(p["participation"], seen, s.filled_qty, s.qty, self.lot), s.qty - s.filled_qty)
        expired = p.get("duration_s") and time.time_ns() - s.started_ns - s.paused_ns >= p["duration_s"] * 1e9
        if qty >= self.lot - 1e-9:
            await self._send(qty)
            if s.filled_qty >= s.qty - 1e-9 and s.status == "running":
                s.status = "completed"
                await self.persist(s)
        elif expired:
            s.status = "completed"
            await self.persist(s)
