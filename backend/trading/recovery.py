"""Memory from the database: the one path by which the trading core's state is built, at start and
after a failed commit (crash-only, as NautilusTrader does), and the reconciliation that proves
memory and database agree with a replay of every stored fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from backend.trading import store
from backend.trading.algos import ACTIVE, AlgoState
from backend.trading.config import TradingConfig
from backend.trading.engine import TradingEngine
from backend.trading.positions import replay
from backend.trading.pre_trade import RiskLimits


@dataclass
class Restored:
    engine: TradingEngine
    algos: list[AlgoState]


async def load(pool: asyncpg.Pool, config: TradingConfig) -> Restored:
    """A fresh engine holding exactly what the database holds: instruments, accounts with their limits
    and limit sets, kill switches, positions, every client order id, open orders (in creation order, so
    books keep time priority), and active algorithms with progress recounted from their child orders."""
    eng = TradingEngine(session_close_utc=config.session_close_utc)
    assigned: dict[int, list] = {}
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        for inst in await store.load_instruments(conn):
            eng.add_instrument(inst)
        for r in await conn.fetch("SELECT * FROM trading_accounts"):
            a = store.account_from_row(r)
            acct = eng.add_account(a["id"], a["name"], a["starting_cash"], a["currency"],
                                   RiskLimits.from_dict(a["limits"]), cash=a["cash"], killed=a["kill_switch"])
            if a["risk_limit_set_id"] is not None:
                assigned.setdefault(a["risk_limit_set_id"], []).append(acct)
        for set_id, ls in (await store.load_limit_sets(conn, list(assigned))).items():
            for acct in assigned[set_id]:
                acct.risk.limit_set = ls
        for r in await conn.fetch("SELECT scope, reason FROM trading_kill_switch WHERE active AND scope = '*'"):
            eng.global_killed = True
            eng.kill_reasons["*"] = r["reason"]
        for r in await conn.fetch("SELECT scope, reason FROM trading_kill_switch WHERE active AND scope <> '*'"):
            eng.kill_reasons[r["scope"]] = r["reason"]
        for p in await store.load_positions(conn):
            eng.ledger.put(p)
        for r in await conn.fetch("SELECT account_id, client_order_id, id FROM trading_orders"):
            eng.by_client[(r["account_id"], r["client_order_id"])] = r["id"]
        for o in await store.load_open_orders(conn):
            if o.account_id in eng.accounts:
                eng.restore_order(o)
        rows = await conn.fetch("SELECT * FROM trading_algos WHERE status = ANY($1::text[]) ORDER BY created_ns",
                                list(ACTIVE))
        algos = []
        for r in rows:  # the children are the truth for progress
            agg = await conn.fetchrow(
                "SELECT count(*) n, coalesce(sum(qty), 0) sent, coalesce(sum(filled_qty), 0) filled, "
                "coalesce(sum(filled_qty * avg_fill_price), 0) notional, coalesce(sum(fees), 0) fees "
                "FROM trading_orders WHERE algo_id = $1", r["id"])
            state = orjson.loads(r["state"])
            state.update(sent_qty=agg["sent"], filled_qty=agg["filled"], notional=agg["notional"], fees=agg["fees"],
                         child_count=max(state["child_count"], agg["n"]))
            algos.append(AlgoState(r["id"], r["account_id"], r["strategy"], r["kind"], r["symbol"], r["side"],
                                   r["qty"], orjson.loads(r["params"]), r["status"], created_ns=r["created_ns"],
                                   updated_ns=r["updated_ns"], **state))
    return Restored(eng, algos)


async def reconcile(pool: asyncpg.Pool, engine: TradingEngine) -> dict[str, Any]:
    """Positions and cash as stored and as held in memory, against a replay of every stored fill.
    The caller makes sure everything acknowledged is durable first (a writer barrier)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        fills = await store.fills_for_replay(conn)
        stored = {(p.account_id, p.strategy, p.symbol): p for p in await store.load_positions(conn)}
        accounts = {r["id"]: (r["starting_cash"], r["cash"]) for r in
                    await conn.fetch("SELECT id, starting_cash, cash FROM trading_accounts")}
        orders = await conn.fetchval("SELECT count(*) FROM trading_orders")
        filled_sum = await conn.fetchval("SELECT coalesce(sum(filled_qty), 0) FROM trading_orders")
    replayed, cash_delta = replay(fills)
    mismatches: list[dict[str, Any]] = []

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))

    for key in set(replayed) | set(stored):
        r, s = replayed.get(key), stored.get(key)
        mem = engine.ledger.positions.get(key)
        for name, src in (("stored", s), ("memory", mem)):
            if r is None or src is None:
                if (r and abs(r.qty) > 1e-9) or (src and abs(src.qty) > 1e-9):
                    mismatches.append({"key": list(key), "source": name, "issue": "missing"})
                continue
            for attr in ("qty", "avg_cost", "realised_pnl", "fees"):
                if not close(getattr(r, attr), getattr(src, attr)):
                    mismatches.append({"key": list(key), "source": name, "field": attr,
                                       "replayed": getattr(r, attr), "actual": getattr(src, attr)})
    for acct_id, (start, cash) in accounts.items():
        expect = start + cash_delta.get(acct_id, 0.0)
        for name, actual in (("stored", cash), ("memory", engine.accounts[acct_id].cash
                                                if acct_id in engine.accounts else None)):
            if actual is None or not close(expect, actual):
                mismatches.append({"account_id": acct_id, "source": name, "field": "cash", "replayed": expect,
                                   "actual": actual})
    fill_qty = sum(abs(f[3]) for f in fills)
    if not close(fill_qty, float(filled_sum)):
        mismatches.append({"field": "orders.filled_qty", "replayed": fill_qty, "actual": float(filled_sum)})
    return {"ok": not mismatches, "fills": len(fills), "orders": orders, "positions": len(replayed),
            "accounts": len(accounts), "filled_qty": fill_qty, "mismatches": mismatches[:100],
            "mismatch_count": len(mismatches)}
