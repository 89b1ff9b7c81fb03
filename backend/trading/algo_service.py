"""Execution algorithms in the service: create, control, and run TWAP/VWAP/POV parents whose child
orders go through order intake like any other order. Each child's transaction also records the
parent's schedule position, so a restart (or a rebuild) resumes without doubling a slice."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from backend.core.errors import Denied, InvalidInput, NotFound
from backend.trading import algos as algo_mod
from backend.trading import store
from backend.trading.domain import SMART, OrderType, Side, TimeInForce, is_multiple
from backend.trading.models import CreateAlgo, SubmitOrder

if TYPE_CHECKING:
    from backend.trading.service import TradingService

UPSERT_ALGO = (
    "INSERT INTO trading_algos (id, account_id, strategy, kind, symbol, side, qty, params, status, state, created_ns,"
    " updated_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10::jsonb,$11,$12) ON CONFLICT (id) DO UPDATE SET"
    " status = EXCLUDED.status, state = EXCLUDED.state, updated_ns = EXCLUDED.updated_ns"
)


class Algorithms:
    def __init__(self, svc: TradingService) -> None:
        self.svc = svc
        self.runners: dict[str, algo_mod.AlgoRunner] = {}

    def statement(self, s: algo_mod.AlgoState) -> tuple[str, tuple]:
        s.updated_ns = time.time_ns()
        return (UPSERT_ALGO, (s.id, s.account_id, s.strategy, s.kind, s.symbol, s.side, s.qty,
                              store.dumps(s.params), s.status, store.dumps(s.state_dict()), s.created_ns,
                              s.updated_ns))

    async def persist(self, s: algo_mod.AlgoState) -> None:
        await self.svc.commit(None, [self.statement(s)])

    async def _submit_child(self, s: algo_mod.AlgoState, cid: str, qty: float) -> tuple[float, float, float,
                                                                                          str | None]:
        lot = self.svc.engine.instruments[s.symbol].lot_size
        qty = round(qty / lot) * lot
        limit = s.params.get("limit_price")
        req = SubmitOrder(account_id=s.account_id, symbol=s.symbol, side=Side(s.side),
                          type=OrderType.LIMIT if limit else OrderType.MARKET, qty=qty, tif=TimeInForce.IOC,
                          limit_price=limit, client_order_id=cid, strategy=s.strategy,
                          venue=s.params.get("venue", SMART))
        try:  # the parent's schedule position is written in the child's transaction
            o = await self.svc.intake.submit(req, algo_id=s.id, statements=[self.statement(s)])
        except Denied as e:
            await self.persist(s)
            return 0.0, 0.0, 0.0, e.detail
        filled = o["filled_qty"]
        return filled, filled * (o["avg_fill_price"] or 0.0), o["fees"], o["reason"] if filled < qty else None

    def adopt(self, st: algo_mod.AlgoState) -> algo_mod.AlgoRunner:
        """A runner for a parent (new, or restored from the database)."""
        eng = self.svc.engine
        lot = eng.instruments[st.symbol].lot_size if st.symbol in eng.instruments else 1.0
        runner = algo_mod.AlgoRunner(st, self._submit_child, lambda sym: self.svc.engine.volume.get(sym, 0.0), lot,
                                     self.persist, tick_s=self.svc.config.algo_tick_s)
        self.runners[st.id] = runner
        return runner

    async def stop_all(self) -> None:
        for runner in self.runners.values():
            await runner.stop()

    async def replace(self, states: list[algo_mod.AlgoState]) -> None:
        """Stop every runner and run exactly ``states`` (after a rebuild from the database)."""
        await self.stop_all()
        self.runners.clear()
        for st in states:
            self.adopt(st).start()

    async def create(self, req: CreateAlgo) -> dict[str, Any]:
        svc = self.svc
        svc.check_open()
        svc.engine.account(req.account_id)
        await svc.load_instrument(req.symbol)
        inst = svc.engine.instruments.get(req.symbol)
        if inst is None:
            raise InvalidInput(f"no instrument {req.symbol!r}", field="symbol")
        if req.side is Side.SELL and req.qty > svc.engine.ledger.net_qty(req.account_id, req.symbol) + 1e-9:
            raise InvalidInput("sell quantity exceeds the long position; use side 'short'", field="qty")
        if not is_multiple(req.qty, inst.lot_size):
            raise InvalidInput(f"quantity {req.qty} is not a multiple of lot {inst.lot_size}", field="qty")
        now = time.time_ns()
        params: dict[str, Any] = {"duration_s": req.duration_s, "slices": req.slices,
                                  "participation": req.participation, "limit_price": req.limit_price,
                                  "venue": req.venue}
        st = algo_mod.AlgoState(uuid.uuid4().hex[:20], req.account_id, req.strategy, req.kind, req.symbol,
                                req.side.value, req.qty, params, started_ns=now, created_ns=now, updated_ns=now,
                                volume_start=svc.engine.volume.get(req.symbol, 0.0))
        if req.kind == "twap":
            st.schedule = algo_mod.twap_schedule(req.qty, req.slices, inst.lot_size)
        elif req.kind == "vwap":
            since = datetime.now(UTC) - timedelta(days=req.lookback_days)
            rows = await svc.pool.fetch("SELECT ts, volume FROM bars WHERE symbol = $1 AND timeframe = $2 "
                                        "AND ts >= $3", req.symbol, req.bars_timeframe, since)
            if not rows:
                raise InvalidInput(f"no stored {req.bars_timeframe} bars for {req.symbol} in the last "
                                   f"{req.lookback_days} days to build a volume profile", field="symbol")
            profile = algo_mod.volume_profile([(r["ts"], r["volume"]) for r in rows])
            st.schedule = algo_mod.vwap_schedule(req.qty, profile, now, req.duration_s, req.slices, inst.lot_size)
            params["bars_used"] = len(rows)
        await self.persist(st)
        self.adopt(st).start()
        return st.view(time.time_ns())

    def get(self, algo_id: str) -> algo_mod.AlgoRunner:
        r = self.runners.get(algo_id)
        if r is None:
            raise NotFound(f"no algorithm {algo_id!r}", field="algo_id")
        return r

    async def control(self, algo_id: str, action: str) -> dict[str, Any]:
        self.svc.check_open()
        r = self.get(algo_id)
        getattr(r, action)()
        await self.persist(r.s)
        return r.s.view(time.time_ns())
