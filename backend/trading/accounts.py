"""Accounts, their pre-trade limits, the risk engine's limit sets they follow, and the kill switch.

Account changes are committed first, in their own transaction, and applied to memory after (a
unique-key clash is a 409, never a half-created account; a failure changes nothing anywhere).
The kill switch goes through the order core (activating it cancels open orders), so it follows
the core's rule: applied, then committed, and a failed
commit halts intake until memory is rebuilt from the database.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import asyncpg

from backend.bus.streams import KILL_SWITCH_TOPIC
from backend.core.errors import Conflict, InvalidInput
from backend.trading import algos as algo_mod
from backend.trading import store
from backend.trading.models import CreateAccount
from backend.trading.pre_trade import LimitSet, RiskLimits

if TYPE_CHECKING:
    from backend.trading.service import TradingService

log = logging.getLogger(__name__)


class Accounts:
    def __init__(self, svc: TradingService) -> None:
        self.svc = svc

    async def create(self, req: CreateAccount) -> dict[str, Any]:
        self.svc.check_open()
        if req.id in self.svc.engine.accounts:
            raise Conflict(f"account {req.id!r} exists", field="id")
        limits = RiskLimits.from_dict(req.limits.model_dump())
        limit_set = await self._limit_set(req.risk_limit_set_id)
        try:
            await self.svc.pool.execute(
                "INSERT INTO trading_accounts (id, name, currency, starting_cash, cash, limits, risk_limit_set_id) "
                "VALUES ($1,$2,$3,$4,$4,$5::jsonb,$6)", req.id, req.name, req.currency, req.starting_cash,
                store.dumps(limits.as_dict()), req.risk_limit_set_id)
        except asyncpg.UniqueViolationError as e:
            raise Conflict(f"account {req.id!r} exists", field="id") from e
        acct = self.svc.engine.add_account(req.id, req.name, req.starting_cash, req.currency, limits)
        acct.risk.limit_set = limit_set
        return self.svc.engine.account_view(acct)

    async def set_limits(self, account_id: str, limits: dict[str, Any]) -> dict[str, Any]:
        self.svc.check_open()
        self.svc.engine.account(account_id)
        new = RiskLimits.from_dict(limits)
        await self.svc.pool.execute("UPDATE trading_accounts SET limits = $2::jsonb, updated_at = now() WHERE id = $1",
                                    account_id, store.dumps(new.as_dict()))
        acct = self.svc.engine.account(account_id)
        acct.risk.limits = new
        return self.svc.engine.account_view(acct)

    # ---- the risk engine's limit sets ---------------------------------------------
    async def _limit_set(self, set_id: int | None) -> LimitSet | None:
        if set_id is None:
            return None
        ls = (await store.load_limit_sets(self.svc.pool, [set_id])).get(set_id)
        if ls is None:
            raise InvalidInput(f"no risk limit set with id {set_id}", field="risk_limit_set_id")
        return ls

    async def assign_limit_set(self, account_id: str, set_id: int | None) -> dict[str, Any]:
        """Make the account follow a risk engine limit set (None: its own limits again)."""
        self.svc.check_open()
        self.svc.engine.account(account_id)
        ls = await self._limit_set(set_id)
        await self.svc.pool.execute("UPDATE trading_accounts SET risk_limit_set_id = $2, updated_at = now() "
                                    "WHERE id = $1", account_id, set_id)
        acct = self.svc.engine.account(account_id)
        acct.risk.limit_set = ls
        return self.svc.engine.account_view(acct)

    async def refresh_limit_sets(self) -> int:
        """Reload assigned sets the risk engine has edited; drop deleted ones (the account's own limits
        apply again; the foreign key has already cleared the assignment). Returns how many changed."""
        held: dict[int, list] = {}
        for acct in self.svc.engine.accounts.values():
            if acct.risk.limit_set is not None:
                held.setdefault(acct.risk.limit_set.id, []).append(acct)
        if not held:
            return 0
        versions = await store.limit_set_versions(self.svc.pool, list(held))
        stale = [i for i, accts in held.items() if versions.get(i) != accts[0].risk.limit_set.version]
        if not stale:
            return 0
        fresh = await store.load_limit_sets(self.svc.pool, stale)
        for set_id in stale:
            for acct in held[set_id]:
                acct.risk.limit_set = fresh.get(set_id)
        return len(stale)

    async def limit_set_loop(self) -> None:
        while True:
            await asyncio.sleep(self.svc.config.limit_set_refresh_s)
            if self.svc.halted:
                continue
            try:
                changed = await self.refresh_limit_sets()
                if changed:
                    log.info("trading: %d risk limit set(s) reloaded", changed)
            except Exception:  # noqa: BLE001 - keep the last known sets; retry on the next tick
                log.exception("risk limit set refresh failed")

    # ---- kill switch ---------------------------------------------------------
    async def set_kill(self, active: bool, account_id: str | None, reason: str) -> dict[str, Any]:
        self.svc.check_open()
        eng = self.svc.engine
        if account_id is not None:
            eng.account(account_id)
        eff = eng.set_kill(active, account_id, reason)
        stmts = [("INSERT INTO trading_kill_switch (scope, active, reason, updated_at) VALUES ($1,$2,$3,now()) "
                  "ON CONFLICT (scope) DO UPDATE SET active = EXCLUDED.active, reason = EXCLUDED.reason, "
                  "updated_at = now()", (account_id or "*", active, reason))]
        if account_id is not None:
            stmts.append(("UPDATE trading_accounts SET kill_switch = $2 WHERE id = $1", (account_id, active)))
        stopped = []
        if active:
            for runner in self.svc.algos.runners.values():
                s = runner.s
                if s.status in algo_mod.ACTIVE and (account_id is None or s.account_id == account_id):
                    runner.cancel()
                    s.last_error = "kill switch"
                    stmts.append(self.svc.algos.statement(s))
                    stopped.append(s.id)
        batch = store.Batch.from_effects(eff)
        batch.statements += stmts
        batch.event(KILL_SWITCH_TOPIC, "kill_switch", {"scope": account_id or "global", "active": active,
                                                   "reason": reason, "orders_cancelled": len(eff.transitions)})
        await self.svc.writer.commit(batch)
        return {"scope": account_id or "global", "active": active, "reason": reason,
                "orders_cancelled": [o.id for o, _ in eff.transitions], "algorithms_cancelled": stopped}

    def kill_state(self) -> dict[str, Any]:
        eng = self.svc.engine
        return {"global": {"active": eng.global_killed, "reason": eng.kill_reasons.get("*")},
                "accounts": {a.id: {"active": True, "reason": eng.kill_reasons.get(a.id)}
                             for a in eng.accounts.values() if a.risk.killed}}
