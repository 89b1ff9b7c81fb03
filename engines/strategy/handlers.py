"""The strategy engine's operations (declared in ops.py): the registry, backtests and their results."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import orjson

from backend.contract.operation import OpContext
from backend.jobs import ops as job_ops
from backend.jobs.models import JobView
from engines.strategy import registry, service
from engines.strategy.backtest import BacktestConfig, BarData, run_event
from engines.strategy.models import (
    MAX_RESPONSE_ROWS,
    MAX_SYNC_BARS,
    MAX_SYNC_SWEEP_WORK,
    BacktestList,
    BacktestRef,
    BacktestRequest,
    BacktestResponse,
    BacktestSummary,
    EquityCurve,
    ListBacktestsRequest,
    ListStrategiesRequest,
    StrategyInfo,
    StrategyList,
    StrategyRef,
    SweepRequest,
    SweepResponse,
    ValidateStrategyRequest,
    ValidateStrategyResponse,
)

SMOKE_BARS = 500


def list_strategies(req: ListStrategiesRequest, ctx: OpContext) -> StrategyList:
    return StrategyList(directory=str(registry.strategy_dir()), items=[StrategyInfo(**d) for d in registry.catalog()])


def describe_strategy(req: StrategyRef, ctx: OpContext) -> StrategyInfo:
    return StrategyInfo(**registry.load(req.strategy, req.version).describe())


def canned_bars(n: int = SMOKE_BARS, seed: int = 7) -> BarData:
    """A geometric random walk with intrabar ranges: the smoke run's data (no database needed)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.003, n))
    spread = np.abs(rng.normal(0, 0.008, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    ts = (np.datetime64("2020-01-01", "ns") + np.arange(n) * np.timedelta64(1, "D")).astype(np.int64)
    return BarData(ts, open_, high, low, close, rng.uniform(1e5, 1e6, n))


def validate_strategy(req: ValidateStrategyRequest, ctx: OpContext) -> ValidateStrategyResponse:
    """Loads, parameters valid, and an event-driven smoke run on canned bars completes."""
    s = registry.load(req.strategy, req.version)
    params = s.cls.resolve(req.params)
    data = {f"SMOKE{i}": canned_bars(seed=7 + i) for i in range(s.cls.symbols_needed)}
    r = run_event(s.cls, params, data, BacktestConfig(lot_size=1e-6), s.name)
    smoke = {k: r.metrics.get(k) for k in ("trade_count", "final_value", "total_return", "max_drawdown")}
    return ValidateStrategyResponse(strategy=s.name, version=s.version, params=params,
                                    warmup_bars=s.cls.warmup_bars(params), smoke=smoke | {"orders": len(r.orders)})


async def run_backtest(req: BacktestRequest, ctx: OpContext) -> BacktestResponse:
    db = ctx.require_db()
    service.resolve(req)  # a bad strategy or parameter is refused before any bar is read
    data, sizes = await service.load_bars(db, req, MAX_SYNC_BARS)
    s, params, r = await asyncio.to_thread(service.execute, req, data, sizes)
    bid = await service.store(db, req, s, params, r)
    return response(bid, s.name, s.version, req.engine, params, r.metrics, r.trades, r.orders, r.logs,
                    r.ts.tolist(), r.equity.tolist(), r.exposure.tolist())


def response(bid: int, name: str, version: str, engine: str, params: dict, metrics: dict, trades: list, orders: list,
             logs: list, ts: list, equity: list, exposure: list) -> BacktestResponse:
    truncated = len(trades) > MAX_RESPONSE_ROWS or len(orders) > MAX_RESPONSE_ROWS
    return BacktestResponse(backtest_id=bid, strategy=name, version=version, engine=engine, params=params,
                            metrics=metrics, trades=trades[:MAX_RESPONSE_ROWS], orders=orders[:MAX_RESPONSE_ROWS],
                            logs=logs, equity=EquityCurve(ts_ns=ts, equity=equity, exposure=exposure),
                            truncated=truncated)


async def submit_backtest(req: BacktestRequest, ctx: OpContext) -> JobView:
    ctx.require_db()
    service.resolve(req)
    return await job_ops.submit(ctx, "backtest", req)


async def get_backtest(req: BacktestRef, ctx: OpContext) -> BacktestResponse:
    row = await service.fetch(ctx.require_db(), req.backtest_id)

    def j(k: str) -> Any:
        return orjson.loads(row[k])

    return response(row["id"], row["strategy"], row["version"], row["engine"], j("params"), j("metrics"), j("trades"),
                    j("orders"), j("logs"), list(row["ts_ns"]), list(row["equity"]), list(row["exposure"]))


async def list_backtests(req: ListBacktestsRequest, ctx: OpContext) -> BacktestList:
    rows = await ctx.require_db().fetch(
        "SELECT id, strategy, version, engine, params, metrics, job_id, created_at FROM strategy_backtests "
        "WHERE $1::text IS NULL OR strategy = $1 ORDER BY id DESC LIMIT $2", req.strategy, req.limit)
    return BacktestList(items=[BacktestSummary(
        backtest_id=r["id"], strategy=r["strategy"], version=r["version"], engine=r["engine"],
        params=orjson.loads(r["params"]), metrics=orjson.loads(r["metrics"]), job_id=r["job_id"],
        created_at=r["created_at"].isoformat()) for r in rows])


async def run_sweep(req: SweepRequest, ctx: OpContext) -> SweepResponse:
    db = ctx.require_db()
    registry.load(req.strategy, req.version)
    data, sizes = await service.load_bars(db, req.backtest(), MAX_SYNC_BARS)
    out = await asyncio.to_thread(service.run_sweep, req, data, sizes, MAX_SYNC_SWEEP_WORK)
    return SweepResponse(**out)


async def submit_sweep(req: SweepRequest, ctx: OpContext) -> JobView:
    ctx.require_db()
    registry.load(req.strategy, req.version)
    return await job_ops.submit(ctx, "sweep", req)
