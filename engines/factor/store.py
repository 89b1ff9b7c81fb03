"""Factor operations that touch PostgreSQL: universe panels from stored bars, sectors from instruments,
user-defined factor definitions (CRUD). Compute stays in compute.py and runs in a worker thread."""

from __future__ import annotations

import asyncio

import asyncpg
import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import Conflict, InvalidInput
from backend.storage.definitions import Definitions
from engines.factor import compute, expression, library
from engines.factor.models import (
    ComputeFactorsRequest,
    ComputeFactorsResponse,
    Deleted,
    EvaluateStoredFactorsRequest,
    EvaluationResponse,
    FactorDefinition,
    FactorList,
    FactorNameRequest,
    FactorPanel,
    FactorRecord,
    LibraryFactor,
    ListFactorsRequest,
)
from engines.features.store import BAR_FIELDS, fetch_bars

FACTORS = Definitions("factor_definitions", "factor", columns=("description", "expression", "higher_is"),
                      update_op="update_factor")


def _record(r: asyncpg.Record) -> FactorRecord:
    return FactorRecord(**{k: r[k] for k in FactorRecord.model_fields})


def _check_definition(req: FactorDefinition) -> None:
    if req.name in library.LIBRARY:
        raise Conflict(f"{req.name!r} is a library factor; choose another name", field="name")
    expression.parse(req.expression, frozenset(library.LIBRARY))


async def create_factor(req: FactorDefinition, ctx: OpContext) -> FactorRecord:
    _check_definition(req)
    return _record(await FACTORS.create(ctx.require_db(), req.model_dump()))


async def update_factor(req: FactorDefinition, ctx: OpContext) -> FactorRecord:
    _check_definition(req)
    return _record(await FACTORS.update(ctx.require_db(), req.name, req.model_dump(), field="name"))


async def get_factor(req: FactorNameRequest, ctx: OpContext) -> FactorRecord:
    return _record(await FACTORS.get(ctx.require_db(), req.name, field="name"))


async def delete_factor(req: FactorNameRequest, ctx: OpContext) -> Deleted:
    await FACTORS.delete(ctx.require_db(), req.name, field="name")
    return Deleted(name=req.name, deleted=True)


async def list_factors(req: ListFactorsRequest, ctx: OpContext) -> FactorList:
    rows, total = await FACTORS.page(ctx.require_db(), req.limit, req.offset)
    return FactorList(
        library=[
            LibraryFactor(name=d.name, title=d.title, params={k: list(v) for k, v in d.params.items()})
            for d in library.LIBRARY.values()
        ],
        functions=sorted(expression.FUNCTIONS),
        user=[_record(r) for r in rows],
        total_user=total,
    )


async def _panel(req: ComputeFactorsRequest, ctx: OpContext):  # noqa: ANN202
    if len(set(req.symbols)) != len(req.symbols):
        raise InvalidInput("symbols repeat", field="symbols")
    if req.start and req.end and req.start > req.end:
        raise InvalidInput("start is after end", field="start")
    pool = ctx.require_db()
    wanted = list(req.symbols) + ([req.benchmark_symbol] if req.benchmark_symbol else [])
    data = await fetch_bars(pool, wanted, req.timeframe, req.start, req.end)
    dates = sorted({t for s in req.symbols for t in data[s]["ts"]})
    pos = {t: i for i, t in enumerate(dates)}
    panel = {k: np.full((len(dates), len(req.symbols)), np.nan) for k in BAR_FIELDS}
    for j, s in enumerate(req.symbols):
        idx = np.array([pos[t] for t in data[s]["ts"]])
        for k in BAR_FIELDS:
            panel[k][idx, j] = data[s][k]
    with np.errstate(invalid="ignore", divide="ignore"):
        panel["returns"] = np.vstack(
            [np.full((1, len(req.symbols)), np.nan), panel["close"][1:] / panel["close"][:-1] - 1]
        )
    panel["typical"] = (panel["high"] + panel["low"] + panel["close"]) / 3.0
    bench = None
    if req.benchmark_symbol:
        b = dict(zip(data[req.benchmark_symbol]["ts"], data[req.benchmark_symbol]["close"], strict=False))
        bench = np.array([b.get(t, np.nan) for t in dates])
    user_names = [f.name for f in req.factors if f.name is not None and f.name not in library.LIBRARY]
    rows = await pool.fetch("SELECT name, expression FROM factor_definitions WHERE name = ANY($1::text[])", user_names)
    user = {r["name"]: r["expression"] for r in rows}
    sectors = None
    if "neutralize" in req.processing.steps:
        sectors = dict(req.sectors or {})
        if not sectors:
            srows = await pool.fetch(
                "SELECT symbol, sector FROM instruments WHERE symbol = ANY($1::text[]) AND sector IS NOT NULL",
                list(req.symbols),
            )
            sectors = {r["symbol"]: r["sector"] for r in srows}
    sector_list = compute.validate_processing(req.processing, req.symbols, sectors)
    return dates, panel, bench, user, sector_list


def _factor_panels(req: ComputeFactorsRequest, panel, bench, user, sector_list) -> dict[str, np.ndarray]:  # noqa: ANN001
    out: dict[str, np.ndarray] = {}
    for i, spec in enumerate(req.factors):
        name = spec.alias or spec.name or f"expr_{i}"
        if name in out:
            raise InvalidInput(f"factor {name!r} appears twice; give an alias", field=f"factors.{i}.alias")
        f = compute.factor_values(spec, f"factors.{i}", panel, bench, user)
        out[name] = compute.process(f, req.processing, sector_list)
    return out


async def compute_factors(req: ComputeFactorsRequest, ctx: OpContext) -> ComputeFactorsResponse:
    dates, panel, bench, user, sectors = await _panel(req, ctx)
    factors = await asyncio.to_thread(_factor_panels, req, panel, bench, user, sectors)
    n = req.last_n or len(dates)
    return ComputeFactorsResponse(
        dates=dates[-n:],
        symbols=list(req.symbols),
        factors=[FactorPanel(name=k, values=compute.to_rows(v[-n:])) for k, v in factors.items()],
    )


async def evaluate_stored_factors(req: EvaluateStoredFactorsRequest, ctx: OpContext) -> EvaluationResponse:
    dates, panel, bench, user, sectors = await _panel(req, ctx)
    if max(req.options.horizons) >= len(dates):
        raise InvalidInput(f"horizon must be shorter than the {len(dates)} dates", field="options.horizons")

    def run() -> EvaluationResponse:
        return compute.evaluate_panels(_factor_panels(req, panel, bench, user, sectors), panel["close"], req.options)

    return await asyncio.to_thread(run)
