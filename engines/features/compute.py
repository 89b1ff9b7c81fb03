"""Batch indicator computation over many symbols: the TA-Lib/numpy CPU path and the torch path. No I/O.

Symbols of equal length are cut into blocks of at most ``BLOCK_BYTES`` per [symbols, bars] array; our own
indicators run vectorised across a block's symbols (their inputs stacked), TA-Lib indicators run symbol
by symbol on the inputs as given, and their output arrays are kept as they are (no stacking, no copy). Blocks run on a
thread pool: TA-Lib's C functions and pandas' rolling kernels release the GIL.

Why blocks rather than one block of every symbol: a one-block result of 34 indicators over 500 x 5,000
bars is ~0.9 GiB of [symbols, bars] arrays of 20 MB each; numpy advises the kernel to back arrays of
4 MiB and more with huge pages, and on this machine's kernel (THP defrag=madvise) first touching such
memory compacts pages synchronously, ~4x the kernel time of ordinary pages (measured: 1.65 s vs 0.33 s
of system time to fill 0.9 GiB). That, not the arithmetic, made the one-call batch 2.7x slower than a
per-symbol loop that discards its outputs (benchmarks/results/features.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from backend.contract.operation import OpContext
from backend.contract.params import parameter_errors
from backend.core.errors import InvalidInput, PayloadTooLarge
from engines.features.indicators import CATALOG, IndicatorDef, column_key, resolve_params
from engines.features.models import (
    MAX_OUTPUT_VALUES,
    BarSeries,
    Column,
    ComputeIndicatorsRequest,
    GpuIndicatorsRequest,
    IndicatorInfo,
    IndicatorSpec,
    IndicatorsResponse,
    ListIndicatorsRequest,
    ListIndicatorsResponse,
    ParamInfo,
    SymbolColumns,
)

INPUTS = ("open", "high", "low", "close", "volume", "benchmark")
PRICES = ("open", "high", "low", "close", "benchmark")
#: Largest [symbols, bars] float64 block computed at once (2 MiB: cache-sized, and under numpy's 4 MiB
#: threshold for huge-page advice, whose first touch costs ~4x more kernel time on this VM's kernel).
BLOCK_BYTES = 2 << 20


@dataclass(frozen=True)
class Resolved:
    """A validated indicator instance."""

    defn: IndicatorDef
    params: dict[str, float]
    key: str
    index: int

    def columns(self) -> list[Column]:
        multi = len(self.defn.outputs) > 1
        return [
            Column(
                name=f"{self.key}.{o}" if multi else self.key,
                indicator=self.defn.name,
                output=o,
                params=self.params,
                source=self.defn.source,
            )
            for o in self.defn.outputs
        ]

    @property
    def lookback(self) -> int:
        return self.defn.lookback(self.params)

    def driving_param(self) -> str:
        ints = [q for q in self.defn.params if q.integer and q.name != "periods_per_year"]
        return f"params.{max(ints, key=lambda q: self.params[q.name]).name}" if ints else "name"


def resolve(specs: Sequence[IndicatorSpec], field: str = "indicators") -> list[Resolved]:
    """Validate names and parameters; InvalidInput names the offending field."""
    out: list[Resolved] = []
    seen: set[str] = set()
    for i, s in enumerate(specs):
        defn = CATALOG.get(s.name)
        if defn is None:
            raise InvalidInput(f"unknown indicator {s.name!r}; see list_indicators", field=f"{field}.{i}.name")
        with parameter_errors(s.name, [q.name for q in defn.params], f"{field}.{i}"):
            params = resolve_params(defn, s.params)
        key = s.alias or column_key(defn, params)
        if key in seen:
            raise InvalidInput(f"column {key!r} appears twice; give an alias", field=f"{field}.{i}.alias")
        seen.add(key)
        out.append(Resolved(defn, params, key, i))
    return out


def series_arrays(s: BarSeries, field: str) -> dict[str, np.ndarray]:
    """Validated arrays of one series (equal lengths, positive prices, non-negative volume)."""
    n = len(s.close)
    arrays: dict[str, np.ndarray] = {}
    for k in INPUTS:
        v = getattr(s, k)
        if v is None:
            continue
        if len(v) != n:
            raise InvalidInput(f"has {len(v)} values, close has {n}", field=f"{field}.{k}")
        a = np.asarray(v, dtype=np.float64)
        if k in PRICES and (a <= 0).any():
            raise InvalidInput(f"prices must be > 0 (index {int(np.argmax(a <= 0))})", field=f"{field}.{k}")
        if k == "volume" and (a < 0).any():
            raise InvalidInput(f"volume must be >= 0 (index {int(np.argmax(a < 0))})", field=f"{field}.{k}")
        arrays[k] = a
    if "high" in arrays and "low" in arrays and (arrays["high"] < arrays["low"]).any():
        raise InvalidInput(
            f"high below low at index {int(np.argmax(arrays['high'] < arrays['low']))}", field=f"{field}.high"
        )
    return arrays


def check_fit(
    resolved: Sequence[Resolved],
    symbol: str,
    arrays: Mapping[str, np.ndarray],
    field: str,
    ind_field: str = "indicators",
) -> None:
    """Every indicator has its inputs and a series longer than its lookback."""
    n = len(arrays["close"])
    for r in resolved:
        for k in r.defn.inputs:
            if k not in arrays:
                raise InvalidInput(f"{r.defn.name} ({ind_field}.{r.index}) needs {k!r}", field=f"{field}.{k}")
        if r.lookback >= n:
            raise InvalidInput(
                f"{r.defn.name} needs more than {r.lookback} bars, {symbol!r} has {n}",
                field=f"{ind_field}.{r.index}.{r.driving_param()}",
            )


def check_output_size(n_columns: int, total_bars: int) -> None:
    if n_columns * total_bars > MAX_OUTPUT_VALUES:
        raise PayloadTooLarge(
            f"{n_columns} columns x {total_bars} bars exceeds {MAX_OUTPUT_VALUES} values", field="indicators"
        )


def batch_block(rows: Mapping[str, Sequence[np.ndarray]], resolved: Sequence[Resolved]) -> dict[str, Sequence]:
    """All indicators over one block of equal-length symbols, given as per-symbol input rows -> column name ->
    per-symbol output rows: a [symbols, bars] array (indicators vectorised across symbols, whose inputs are
    stacked here) or a list of 1-D arrays (indicators run symbol by symbol, on the rows as given)."""
    vectorised = {k for r in resolved if r.defn.rows is None for k in r.defn.inputs}
    block = {k: np.stack(v) for k, v in rows.items() if k in vectorised}
    out: dict[str, Sequence] = {}
    for r in resolved:
        res = r.defn.rows(rows, r.params) if r.defn.rows is not None else r.defn.fn(block, r.params)
        for col in r.columns():
            out[col.name] = res[col.output]
    return out


def batch(
    series: Sequence[dict[str, np.ndarray]],
    resolved: Sequence[Resolved],
    *,
    workers: int | None = None,
    block_bytes: int | None = BLOCK_BYTES,
) -> list[dict[str, np.ndarray]]:
    """Per-symbol column arrays, computing equal-length symbols together in cache-sized blocks.

    Each group of equal-length symbols is cut into blocks of at most ``block_bytes`` per [symbols, bars]
    array (None: one block per group); blocks run on a thread pool of ``workers`` threads (default: the
    CPU count; 1 runs them in the calling thread). TA-Lib runs its C
    code with the GIL released and pandas' rolling kernels do too, so blocks compute in parallel. Every
    value is computed by the same call on the same row as on one big block, so results do not depend on
    blocking or threads (the tests check it bit for bit).
    """
    needed = {k for r in resolved for k in r.defn.inputs}  # only the inputs some indicator reads
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, a in enumerate(series):
        groups.setdefault((len(a["close"]), tuple(sorted(a.keys() & needed))), []).append(i)
    blocks: list[tuple[tuple[str, ...], list[int]]] = []
    for (n, keys), idx in groups.items():
        per = len(idx) if block_bytes is None else max(1, block_bytes // (8 * max(n, 1)))
        blocks += [(keys, idx[lo : lo + per]) for lo in range(0, len(idx), per)]
    results: list[dict[str, np.ndarray]] = [{} for _ in series]

    def run(block_spec: tuple[tuple[str, ...], list[int]]) -> None:
        keys, idx = block_spec
        cols = batch_block({k: [series[i][k] for i in idx] for k in keys}, resolved)
        for j, i in enumerate(idx):
            results[i] = {name: arr[j] for name, arr in cols.items()}

    workers = min(len(blocks), workers or os.cpu_count() or 1)
    if workers <= 1:
        for b in blocks:
            run(b)
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="features-batch") as pool:
            for f in [pool.submit(run, b) for b in blocks]:
                f.result()
    return results


def _prepare(series: Sequence[BarSeries], specs: Sequence[IndicatorSpec]) -> tuple[list[Resolved], list[dict]]:
    resolved = resolve(specs)
    arrays = []
    for i, s in enumerate(series):
        a = series_arrays(s, f"series.{i}")
        check_fit(resolved, s.symbol, a, f"series.{i}")
        arrays.append(a)
    check_output_size(sum(len(r.defn.outputs) for r in resolved), sum(len(a["close"]) for a in arrays))
    return resolved, arrays


def compute_indicators(req: ComputeIndicatorsRequest, ctx: OpContext | None = None) -> IndicatorsResponse:
    resolved, arrays = _prepare(req.series, req.indicators)
    cols = batch(arrays, resolved)
    return IndicatorsResponse(
        columns=[c for r in resolved for c in r.columns()],
        results=[
            SymbolColumns(symbol=s.symbol, values={k: v for k, v in c.items()})
            for s, c in zip(req.series, cols, strict=False)
        ],
        backend="talib",
    )


def compute_indicators_gpu(req: GpuIndicatorsRequest, ctx: OpContext | None = None) -> IndicatorsResponse:
    import torch

    from engines.features.gpu import GPU_INDICATORS, compute_core

    for i, s in enumerate(req.indicators):
        if s.name in CATALOG and s.name not in GPU_INDICATORS:
            raise InvalidInput(
                f"{s.name!r} has no torch path; torch serves {', '.join(GPU_INDICATORS)}", field=f"indicators.{i}.name"
            )
    resolved, arrays = _prepare(req.series, req.indicators)
    n = len(arrays[0]["close"])
    for i, a in enumerate(arrays):
        if len(a["close"]) != n or sorted(a) != sorted(arrays[0]):
            raise InvalidInput(
                "the torch path needs every series with the same length and inputs", field=f"series.{i}.close"
            )
    device = torch.device(ctx.device if ctx is not None else "cpu")
    dtype = torch.float64 if req.dtype == "float64" else torch.float32
    block = {k: torch.as_tensor(np.stack([a[k] for a in arrays]), dtype=dtype, device=device) for k in arrays[0]}
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for r in resolved:
            res = compute_core(block, r.defn.name, r.params)
            for col in r.columns():
                out[col.name] = res[col.output].to("cpu", torch.float64).numpy()
    return IndicatorsResponse(
        columns=[c for r in resolved for c in r.columns()],
        results=[
            SymbolColumns(symbol=s.symbol, values={k: v[j] for k, v in out.items()})
            for j, s in enumerate(req.series)
        ],
        backend=f"torch:{device}",
    )


def list_indicators(req: ListIndicatorsRequest, ctx: OpContext | None = None) -> ListIndicatorsResponse:
    from engines.features.gpu import GPU_INDICATORS

    return ListIndicatorsResponse(
        indicators=[
            IndicatorInfo(
                name=d.name,
                title=d.title,
                source=d.source,
                inputs=list(d.inputs),
                outputs=list(d.outputs),
                params=[
                    ParamInfo(name=q.name, default=q.default, min=q.lo, max=q.hi, integer=q.integer) for q in d.params
                ],
                memory=d.memory,
                gpu=d.name in GPU_INDICATORS,
            )
            for d in CATALOG.values()
            if req.source in (None, d.source)
        ]
    )
