"""The strategy engine's I/O: stored bars in, stored results out; the backtest itself is pure compute.

``load_bars`` reads each symbol's bars from the market data engine's ``bars`` table (and its tick and
lot sizes from ``instruments``), refusing an unknown timeframe range, a symbol with no bars or a range
shorter than the strategy's warm-up, each as a 4xx naming the field. ``execute`` runs one backtest
(event-driven or vectorised) and ``store`` writes its result to ``strategy_backtests``; the same three
steps serve the synchronous operation and the job (engines/strategy/jobs.py).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

import asyncpg
import numpy as np
import orjson

from backend.core.errors import InvalidInput, NotFound
from engines.marketdata.timeframes import parse_timeframe
from engines.strategy import registry
from engines.strategy.backtest import BacktestConfig, BarData, run_event
from engines.strategy.models import BacktestRequest
from engines.strategy.results import BacktestResult
from engines.strategy.vector import check_vectorisable, run_vector

SECONDS_PER_YEAR = 365.25 * 86400


async def load_bars(db: asyncpg.Pool, req: BacktestRequest, max_bars: int) -> tuple[dict[str, BarData],
                                                                                     dict[str, tuple[float, float]]]:
    """Each symbol's bars in [start, end) and its (tick size, lot size)."""
    parse_timeframe(req.timeframe)
    start = req.start or dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
    end = req.end or dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    out: dict[str, BarData] = {}
    total = 0
    for i, sym in enumerate(req.symbols):
        rows = await db.fetch(
            "SELECT (extract(epoch FROM ts) * 1e9)::bigint AS t, open, high, low, close, volume FROM bars "
            "WHERE symbol = $1 AND timeframe = $2 AND ts >= $3 AND ts < $4 ORDER BY ts LIMIT $5",
            sym, req.timeframe, start, end, max_bars + 1)
        if not rows:
            any_bars = await db.fetchval("SELECT EXISTS (SELECT 1 FROM bars WHERE symbol = $1 AND timeframe = $2)",
                                         sym, req.timeframe)
            if any_bars:
                raise InvalidInput(f"{sym!r} has no {req.timeframe} bars in this date range", field="start")
            raise InvalidInput(f"{sym!r} has no {req.timeframe} bars", field=f"symbols.{i}")
        total += len(rows)
        if total > max_bars:
            raise InvalidInput(f"the range holds more than {max_bars} bars: narrow it, or run it as a job "
                               "(submit_backtest)", field="start")
        a = np.array(rows, dtype=np.float64)
        out[sym] = BarData(np.array([r[0] for r in rows], dtype=np.int64), a[:, 1].copy(), a[:, 2].copy(),
                           a[:, 3].copy(), a[:, 4].copy(), a[:, 5].copy())
    inst = await db.fetch("SELECT symbol, tick_size::float8, lot_size::float8 FROM instruments "
                          "WHERE symbol = ANY($1::text[])", list(req.symbols))
    sizes = {r[0]: (r[1], r[2]) for r in inst}
    return out, sizes


def config_for(req: BacktestRequest, sizes: dict[str, tuple[float, float]]) -> BacktestConfig:
    o = req.options
    tick = o.tick_size or min((sizes.get(s, (0.01, 1.0))[0] for s in req.symbols), default=0.01)
    lot = o.lot_size or min((sizes.get(s, (0.01, 1.0))[1] for s in req.symbols), default=1.0)
    tf = parse_timeframe(req.timeframe)
    ppy = o.periods_per_year or (252 if tf.is_daily else max(1, round(252 * 6.5 * 3600e9 / tf.ns)))
    return BacktestConfig(initial_cash=o.initial_cash, taker_fee_bps=o.taker_fee_bps, maker_fee_bps=o.maker_fee_bps,
                          slippage_ticks=o.slippage_ticks, tick_size=tick, lot_size=lot, fill_at=o.fill_at,
                          intrabar=o.intrabar, liquidity=o.liquidity, periods_per_year=ppy,
                          risk=o.risk.model_dump())


def resolve(req: BacktestRequest) -> tuple[registry.LoadedStrategy, dict[str, Any]]:
    """The strategy (at the requested version) and its resolved parameters; 4xx on anything wrong."""
    s = registry.load(req.strategy, req.version)
    params = s.cls.resolve(req.params)
    if req.engine == "vector":
        check_vectorisable(s.cls, params)
        if len(req.symbols) != 1:
            raise InvalidInput("the vectorised backtest runs one symbol", field="symbols")
    return s, params


def execute(req: BacktestRequest, data: dict[str, BarData], sizes: dict[str, tuple[float, float]],
            progress: Callable[[int, int], None] | None = None) -> tuple[registry.LoadedStrategy, dict[str, Any],
                                                                         BacktestResult]:
    s, params = resolve(req)
    need = s.cls.warmup_bars(params) + 2
    for i, sym in enumerate(req.symbols):
        if len(data[sym]) < need:
            raise InvalidInput(f"{sym!r} has {len(data[sym])} bars in the range; {req.strategy} with these "
                               f"parameters needs at least {need}", field="start" if req.start else f"symbols.{i}")
    cfg = config_for(req, sizes)
    if req.engine == "vector":
        sym = req.symbols[0]
        return s, params, run_vector(s.cls, params, data[sym], cfg, symbol=sym)
    return s, params, run_event(s.cls, params, data, cfg, req.strategy, progress)


async def store(db: asyncpg.Pool | asyncpg.Connection, req: BacktestRequest, s: registry.LoadedStrategy,
                params: dict[str, Any], r: BacktestResult, job_id: str | None = None) -> int:
    def js(v: Any) -> str:
        return orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    return await db.fetchval(
        "INSERT INTO strategy_backtests (strategy, version, engine, params, request, job_id, metrics, trades, orders, "
        "logs, ts_ns, equity, exposure) VALUES ($1,$2,$3,$4::jsonb,$5::jsonb,$6,$7::jsonb,$8::jsonb,$9::jsonb,"
        "$10::jsonb,$11,$12,$13) RETURNING id",
        s.name, s.version, req.engine, js(params), req.model_dump_json(), job_id, js(r.metrics), js(r.trades),
        js(r.orders), js(r.logs), r.ts.tolist(), r.equity.tolist(), r.exposure.tolist())


async def fetch(db: asyncpg.Pool, backtest_id: int) -> dict[str, Any]:
    row = await db.fetchrow("SELECT * FROM strategy_backtests WHERE id = $1", backtest_id)
    if row is None:
        raise NotFound(f"no backtest {backtest_id}", field="backtest_id")
    return dict(row)


def run_sweep(req: Any, data: dict[str, BarData], sizes: dict[str, tuple[float, float]], max_work: int,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """A sweep (and its walk-forward when asked) of a ``SweepRequest`` on loaded bars; pure compute."""
    from engines.strategy import sweep as sw

    s = registry.load(req.strategy, req.version)
    space = {k: (v if isinstance(v, list) else v.model_dump(exclude_none=True)) for k, v in req.space.items()}
    if req.method == "grid":
        sets, skipped = sw.param_grid(s.cls, space)
    else:
        sets, skipped = sw.param_random(s.cls, space, req.samples, req.seed)
    if not sets:
        raise InvalidInput("no valid parameter set in the space", field="space")
    if req.engine == "vector":
        for p in sets[:1]:
            check_vectorisable(s.cls, p)
    bars = data[req.symbols[0]]
    work = len(sets) * len(bars)
    if work > max_work:
        raise InvalidInput(f"{len(sets)} parameter sets x {len(bars)} bars is more than {max_work}: narrow it, or "
                           "run it as a job (submit_sweep)", field="space")
    need = max(s.cls.warmup_bars(p) for p in sets) + 2
    if len(bars) < need:
        raise InvalidInput(f"{len(bars)} bars in the range; the space needs at least {need}", field="start")
    cfg = config_for(req.backtest(), sizes)
    workers = max(1, min(req.workers, os.cpu_count() or 1))
    out = sw.sweep(s, sets, bars, cfg, req.engine, workers, req.objective, progress)
    wf = None
    if req.walk_forward is not None:
        w = req.walk_forward
        wf = sw.walk_forward(s, sets, bars, cfg, req.engine, w.train_bars, w.test_bars, w.anchored, workers,
                             req.objective)
    return out | {"strategy": s.name, "version": s.version, "engine": req.engine, "skipped": skipped,
                  "walk_forward": wf}
