"""Order intake: submit, cancel and amend, each durably recorded before it is acknowledged.

Idempotent on (account, client order id), and race-free by construction: the first submission
of a client id registers itself as in flight before it awaits anything, and a twin that arrives
meanwhile awaits that first one's outcome (its order, or its denial, or its failure) instead of
reaching the order core. After the first is done, the id is in the core's memory and its order
in the database, so any later twin is answered from there.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from backend.core.errors import Conflict, Denied, NotFound
from backend.trading import store
from backend.trading.domain import Order
from backend.trading.models import SubmitOrder
from backend.trading.state import OrderStatus

if TYPE_CHECKING:
    from backend.trading.service import TradingService


def denied_error(o: Order) -> Denied:
    d = o.denial
    return Denied(f"{d.code}: {d.reason}", denial_code=d.code, check=d.check, values=d.values, order_id=o.id,
                  client_order_id=o.client_order_id)


class OrderIntake:
    def __init__(self, svc: TradingService) -> None:
        self.svc = svc
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}

    async def submit(self, req: SubmitOrder, algo_id: str | None = None,
                     statements: list[tuple[str, tuple]] | None = None) -> dict[str, Any]:
        """Check, execute and durably record one order; idempotent on (account, client order id)."""
        self.svc.check_open()
        self.svc.engine.account(req.account_id)
        if not req.client_order_id:
            return await self._submit(req, algo_id, statements)
        key = (req.account_id, req.client_order_id)
        first = self._inflight.get(key)
        if first is not None:  # a twin in flight: its outcome is ours
            return await asyncio.shield(first)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            found = await self._existing(req.account_id, req.client_order_id)
            result = found if found is not None else await self._submit(req, algo_id, statements)
        except BaseException as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no twin may be waiting
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            del self._inflight[key]

    async def _submit(self, req: SubmitOrder, algo_id: str | None,
                      statements: list[tuple[str, tuple]] | None) -> dict[str, Any]:
        await self.svc.load_instrument(req.symbol)
        self.svc.check_open()  # the instrument load awaited: a rebuild may have begun
        o, eff = self.svc.engine.submit(
            account_id=req.account_id, symbol=req.symbol, side=req.side, type=req.type, qty=req.qty, tif=req.tif,
            limit_price=req.limit_price, stop_price=req.stop_price, client_order_id=req.client_order_id,
            strategy=req.strategy, venue=req.venue, algo_id=algo_id)
        view = store.order_dict(o)
        await self.svc.commit(eff, statements)
        if o.status is OrderStatus.DENIED:
            raise denied_error(o)
        return view

    async def _existing(self, account_id: str, cid: str) -> dict[str, Any] | None:
        eng = self.svc.engine
        oid = eng.find_client(account_id, cid)
        if oid is None:  # every client id ever stored is loaded at start: memory is authoritative
            return None
        if oid in eng.orders:
            await self.svc.writer.barrier()  # answer with the order only once it is durable
            return store.order_dict(eng.orders[oid]) if oid in eng.orders else await self._stored(oid)
        return await self._stored(oid)

    async def _stored(self, oid: str) -> dict[str, Any] | None:
        o = await store.fetch_order(self.svc.pool, oid)
        if o is None:
            return None
        if o.status is OrderStatus.DENIED:
            raise denied_error(o)
        return store.order_dict(o)

    async def cancel(self, order_id: str) -> dict[str, Any]:
        self.svc.check_open()
        if order_id not in self.svc.engine.orders:
            await self._not_open(order_id)
        o, eff = self.svc.engine.cancel(order_id)
        view = store.order_dict(o)
        await self.svc.commit(eff)
        return view

    async def amend(self, order_id: str, qty: float | None, limit_price: float | None,
                    stop_price: float | None) -> dict[str, Any]:
        self.svc.check_open()
        if order_id not in self.svc.engine.orders:
            await self._not_open(order_id)
        o, eff = self.svc.engine.amend(order_id, qty=qty, limit_price=limit_price, stop_price=stop_price)
        view = store.order_dict(o)
        await self.svc.commit(eff)
        return view

    async def _not_open(self, order_id: str) -> None:
        o = await store.fetch_order(self.svc.pool, order_id)
        if o is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        raise Conflict(f"order {order_id!r} is {o.status.value}", field="order_id", status_now=o.status.value)

    async def get_order(self, order_id: str) -> dict[str, Any]:
        await self.svc.durable()
        o = self.svc.engine.orders.get(order_id) or await store.fetch_order(self.svc.pool, order_id)
        if o is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        return store.order_dict(o)
