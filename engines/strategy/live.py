"""Paper-trading and promotion operations (declared in ops.py); the instances live in ``paper.MANAGER``.

Promotion stages, each recorded in ``strategy_promotions`` with its evidence and the version it concerns:
validate (the file loads, the parameters are valid, a smoke run on canned bars completes) -> unit (the
strategy's own tests, ``<strategies>/tests/test_<name>.py``, when it has them) -> backtest gate (an
event-driven backtest on stored bars against the thresholds) -> paper (an instance starts with its rollback
rule; it can later be rolled back automatically, recorded the same way, reverting to the previous version).
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from backend.contract.operation import OpContext
from engines.strategy import registry, service
from engines.strategy.handlers import validate_strategy
from engines.strategy.models import (
    MAX_SYNC_BARS,
    MAX_SYNC_SWEEP_WORK,
    InstanceList,
    InstanceRef,
    InstanceView,
    ListInstancesRequest,
    ListPromotionsRequest,
    PaperStartRequest,
    PromoteRequest,
    PromoteResponse,
    PromotionList,
    PromotionRecord,
    PromotionStage,
    StopPaperRequest,
    SweepRequest,
    ValidateStrategyRequest,
)
from engines.strategy.paper import MANAGER, PaperSpec

#: Longest run of a strategy's own tests in the unit stage.
UNIT_TIMEOUT_S = 120.0


def _spec(req: PaperStartRequest) -> PaperSpec:
    return PaperSpec(account_id=req.account_id, symbols=list(req.symbols), bar_seconds=req.bar_seconds,
                     capital=req.capital, max_drawdown_pct=req.rule.max_drawdown_pct, max_errors=req.rule.max_errors,
                     flatten_on_rollback=req.rule.flatten_on_rollback, stage=req.stage,
                     max_consecutive_losses=req.rule.max_consecutive_losses)


async def start_paper(req: PaperStartRequest, ctx: OpContext) -> InstanceView:
    inst = await MANAGER.start(ctx, req.strategy, req.version, dict(req.params), _spec(req))
    return InstanceView(**inst.view())


async def stop_paper(req: StopPaperRequest, ctx: OpContext) -> InstanceView:
    MANAGER.bind(ctx)
    inst = await MANAGER.stop(req.instance_id, flatten=req.flatten)
    return InstanceView(**inst.view())


async def pause_paper(req: InstanceRef, ctx: OpContext) -> InstanceView:
    MANAGER.bind(ctx)
    return InstanceView(**(await MANAGER.pause(req.instance_id)).view())


async def resume_paper(req: InstanceRef, ctx: OpContext) -> InstanceView:
    MANAGER.bind(ctx)
    return InstanceView(**(await MANAGER.unpause(req.instance_id)).view())


async def paper_status(req: InstanceRef, ctx: OpContext) -> InstanceView:
    return InstanceView(**MANAGER.get(req.instance_id).view())


async def list_paper(req: ListInstancesRequest, ctx: OpContext) -> InstanceList:
    return InstanceList(items=[InstanceView(**i.view()) for i in MANAGER.instances.values()])


async def _record(ctx: OpContext, name: str, version: str, st: PromotionStage, instance_id: str | None = None) -> None:
    await ctx.require_db().execute(
        "INSERT INTO strategy_promotions (strategy, version, stage, outcome, evidence, instance_id) "
        "VALUES ($1,$2,$3,$4,$5::jsonb,$6)", name, version, st.stage, st.outcome,
        orjson.dumps(st.evidence).decode(), instance_id)


async def own_tests(name: str) -> PromotionStage | None:
    """The unit stage: the strategy's own tests (``<strategies>/tests/test_<name>.py``) under pytest in a
    subprocess, bounded by ``UNIT_TIMEOUT_S``; None when it has none (the smoke run of validate still ran)."""
    path = registry.strategy_dir() / "tests" / f"test_{name}.py"
    if not path.is_file():
        return None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path), cwd=str(registry.REPO),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), UNIT_TIMEOUT_S)
        rc = proc.returncode
    except TimeoutError:
        proc.kill()
        await proc.wait()
        out, rc = f"timed out after {UNIT_TIMEOUT_S}s".encode(), -1
    tail = out.decode(errors="replace").strip().splitlines()[-15:]
    return PromotionStage(stage="unit", outcome="passed" if rc == 0 else "failed",
                          evidence={"tests": str(path.relative_to(registry.strategy_dir())), "exit_code": rc,
                                    "output": tail})


async def promote_strategy(req: PromoteRequest, ctx: OpContext) -> PromoteResponse:
    db = ctx.require_db()
    s = registry.load(req.strategy, req.version)
    stages: list[PromotionStage] = []

    async def done(outcome: str, bid: int | None = None, inst: InstanceView | None = None) -> PromoteResponse:
        return PromoteResponse(strategy=s.name, version=s.version, outcome=outcome, stages=stages, backtest_id=bid,
                               instance=inst)

    v = await asyncio.to_thread(validate_strategy, ValidateStrategyRequest(
        strategy=s.name, version=s.version, params=req.params), ctx)
    stages.append(PromotionStage(stage="validate", outcome="passed", evidence={"params": v.params, "smoke": v.smoke}))
    await _record(ctx, s.name, s.version, stages[-1])

    unit = await own_tests(s.name)
    if unit is not None:
        stages.append(unit)
        await _record(ctx, s.name, s.version, unit)
        if unit.outcome == "failed":
            return await done("failed")

    params = dict(req.params)
    sweep_out = None
    if req.sweep is not None:
        sw = req.sweep
        sreq = SweepRequest(strategy=s.name, version=s.version, symbols=req.backtest.symbols[:1],
                            timeframe=req.backtest.timeframe, start=req.backtest.start, end=req.backtest.end,
                            engine=sw.engine, options=req.backtest.options, space=sw.space, method=sw.method,
                            samples=sw.samples, seed=sw.seed, objective=sw.objective, walk_forward=sw.walk_forward)
        sdata, ssizes = await service.load_bars(db, sreq.backtest(), MAX_SYNC_BARS)
        sweep_out = await asyncio.to_thread(service.run_sweep, sreq, sdata, ssizes, MAX_SYNC_SWEEP_WORK)
        params |= sweep_out["best"]["params"]
        wf = sweep_out["walk_forward"]
        stages.append(PromotionStage(stage="sweep", outcome="passed", evidence={
            "trials": sweep_out["trials"], "best": sweep_out["best"],
            "deflated_sharpe": sweep_out["deflated_sharpe"]["deflated_sharpe"], "pbo": sweep_out["pbo"]["pbo"],
            "out_of_sample": wf["out_of_sample"] if wf else None}))
        await _record(ctx, s.name, s.version, stages[-1])

    bt = req.backtest.model_copy(update={"strategy": s.name, "version": s.version, "params": params,
                                         "engine": "event"})
    data, sizes = await service.load_bars(db, bt, MAX_SYNC_BARS)
    _, params, r = await asyncio.to_thread(service.execute, bt, data, sizes)
    bid = await service.store(db, bt, s, params, r)
    m, g = r.metrics, req.gate
    failed = []
    if g.min_sharpe is not None and (m.get("sharpe") is None or m["sharpe"] < g.min_sharpe):
        failed.append(f"sharpe {m.get('sharpe')} < {g.min_sharpe}")
    mdd = m.get("max_drawdown")  # None when return metrics are undefined (equity at or below zero)
    if g.max_drawdown is not None and (mdd is None or -mdd > g.max_drawdown):
        failed.append(f"max drawdown {m.get('max_drawdown')} beyond -{g.max_drawdown}")
    if g.min_trades is not None and m["trade_count"] < g.min_trades:
        failed.append(f"{m['trade_count']} trades < {g.min_trades}")
    if g.min_deflated_sharpe is not None:
        dsr = sweep_out["deflated_sharpe"]["deflated_sharpe"] if sweep_out else None
        if dsr is None or dsr < g.min_deflated_sharpe:
            failed.append(f"deflated Sharpe {dsr} < {g.min_deflated_sharpe}" + ("" if sweep_out else " (no sweep)"))
    if g.min_oos_sharpe is not None:
        wf = sweep_out["walk_forward"] if sweep_out else None
        oos = wf["out_of_sample"]["sharpe"] if wf else None
        if oos is None or oos < g.min_oos_sharpe:
            failed.append(f"out-of-sample Sharpe {oos} < {g.min_oos_sharpe}" + ("" if wf else " (no walk-forward)"))
    evidence = {"backtest_id": bid, "metrics": {k: m.get(k) for k in ("sharpe", "max_drawdown", "trade_count",
                                                                      "total_return", "final_value")},
                "gate": g.model_dump(), "failed": failed}
    stages.append(PromotionStage(stage="backtest", outcome="failed" if failed else "passed", evidence=evidence))
    await _record(ctx, s.name, s.version, stages[-1])
    if failed:
        return await done("failed", bid)

    paper = req.paper.model_copy(update={"strategy": s.name, "version": s.version, "params": params})
    inst = await MANAGER.start(ctx, s.name, s.version, dict(params), _spec(paper))
    stages.append(PromotionStage(stage=paper.stage, outcome="passed", evidence={
        "instance_id": inst.id, "account_id": paper.account_id, "rule": paper.rule.model_dump(), "params": inst.params,
        "note": "paper trading on the trading core's simulated venues; there is no broker"}))
    await _record(ctx, s.name, s.version, stages[-1], inst.id)
    return await done("passed", bid, InstanceView(**inst.view()))


async def list_promotions(req: ListPromotionsRequest, ctx: OpContext) -> PromotionList:
    rows = await ctx.require_db().fetch(
        "SELECT * FROM strategy_promotions WHERE $1::text IS NULL OR strategy = $1 ORDER BY id DESC LIMIT $2",
        req.strategy, req.limit)
    return PromotionList(items=[PromotionRecord(
        id=r["id"], strategy=r["strategy"], version=r["version"], stage=r["stage"], outcome=r["outcome"],
        evidence=orjson.loads(r["evidence"]), instance_id=r["instance_id"], created_at=r["created_at"].isoformat())
        for r in rows])
