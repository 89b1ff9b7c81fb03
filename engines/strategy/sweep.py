"""Parameter sweeps and walk-forward analysis on a local process pool.

A sweep evaluates a strategy on one symbol's bars for every parameter set of a grid (the product of
each parameter's listed values or ``{low, high, step}`` range) or of a seeded random sample within the
parameters' ranges; sets that break a strategy's own rule (e.g. fast >= slow) are skipped and counted.
Trials are split into chunks run by ``workers`` spawned processes (``concurrent.futures``; one worker
runs in-process), each loading the strategy by name and content hash, so every worker runs the same
code. Vectorised trials run as one torch batch per chunk; event-driven ones run the trading core per set.

Every sweep reports, besides each trial's metrics, the deflated Sharpe ratio of its best trial and the
probability of backtest overfitting (engines/strategy/overfit.py): a sweep's best in-sample Sharpe is
what fools users most. Walk-forward: rolling (or anchored) train/test windows; on each, the sweep's best
set by the objective on the train window is run on the test window (started ``warmup`` bars earlier so
its indicators are ready, returns counted from the test window's first bar); the test windows' returns
stitched together are the out-of-sample record, measured by the analytics engine's ``performance``.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest
from engines.strategy import registry
from engines.strategy.api import Strategy
from engines.strategy.backtest import BacktestConfig, BarData, run_event
from engines.strategy.overfit import deflated_sharpe, pbo
from engines.strategy.results import metrics
from engines.strategy.vector import signal_matrix, simulate, trades_of

#: Most parameter sets one sweep evaluates.
MAX_TRIALS = 5_000
OBJECTIVES = ("sharpe", "total_return", "calmar", "final_value")
KEPT = ("sharpe", "total_return", "cagr", "max_drawdown", "calmar", "trade_count", "final_value", "win_rate")


def _values(name: str, p: Any, spec: Any) -> list[Any]:
    if isinstance(spec, list):
        if not spec:
            raise InvalidInput(f"no values for {name}", field=f"space.{name}")
        return [p.coerce(name, v) for v in spec]
    lo, hi, step = spec.get("low", p.low), spec.get("high", p.high), spec.get("step", p.step)
    if lo is None or hi is None or not step:
        raise InvalidInput(f"{name} needs low, high and step (its declaration lacks one)", field=f"space.{name}")
    n = int(np.floor((hi - lo) / step + 1e-9)) + 1
    if n < 1 or n > MAX_TRIALS:
        raise InvalidInput(f"{name}: {n} values; at most {MAX_TRIALS}", field=f"space.{name}")
    return [p.coerce(name, lo + i * step if isinstance(p.default, float) else int(round(lo + i * step)))
            for i in range(n)]


def _check_names(cls: type[Strategy], space: Mapping[str, Any]) -> None:
    for name in space:
        if name not in cls.params_spec:
            raise InvalidInput(f"{cls.__name__} has no parameter {name!r}", field=f"space.{name}")


def param_grid(cls: type[Strategy], space: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """(valid parameter sets of the grid, how many were skipped by the strategy's own rules)."""
    _check_names(cls, space)
    axes = {k: _values(k, cls.params_spec[k], v) for k, v in space.items()}
    total = int(np.prod([len(v) for v in axes.values()])) if axes else 1
    if total > MAX_TRIALS:
        raise InvalidInput(f"the grid has {total} parameter sets; at most {MAX_TRIALS}", field="space")
    out, skipped = [], 0
    for combo in itertools.product(*axes.values()):
        try:
            out.append(cls.resolve(dict(zip(axes, combo, strict=True))))
        except InvalidInput:
            skipped += 1
    return out, skipped


def param_random(cls: type[Strategy], space: Mapping[str, Any], n: int, seed: int) -> tuple[list[dict[str, Any]], int]:
    """``n`` valid sets drawn uniformly within each parameter's range (or from its list), seeded."""
    _check_names(cls, space)
    rng = np.random.default_rng(seed)
    out, skipped = [], 0
    for _ in range(20 * n):
        combo = {}
        for k, spec in space.items():
            p = cls.params_spec[k]
            if isinstance(spec, list):
                combo[k] = spec[int(rng.integers(len(spec)))]
                continue
            lo, hi = spec.get("low", p.low), spec.get("high", p.high)
            if lo is None or hi is None:
                raise InvalidInput(f"{k} needs low and high", field=f"space.{k}")
            combo[k] = int(rng.integers(int(lo), int(hi) + 1)) if isinstance(p.default, int) else float(
                rng.uniform(lo, hi))
        try:
            out.append(cls.resolve(combo))
        except InvalidInput:
            skipped += 1
        if len(out) == n:
            break
    return out, skipped


def evaluate(name: str, version: str, param_sets: Sequence[Mapping[str, Any]], bars: BarData, cfg: BacktestConfig,
             engine: str) -> tuple[list[dict[str, Any]], np.ndarray]:
    """(metrics per set, equity matrix sets x bars) of one chunk; runs in a pool worker or in-process."""
    cls = registry.load(name, version).cls
    if engine == "vector":
        ent, ex = signal_matrix(cls, bars, param_sets)
        out = simulate(bars.close, bars.open if cfg.fill_at == "next_open" else bars.close, ent, ex, cfg)
        rows = []
        for i in range(len(param_sets)):
            eq = out["equity"][i]
            trades = trades_of(bars, cfg, out["entry"][i], out["exit"][i], eq)
            rows.append(metrics(bars.ts, eq, out["position"][i].astype(float), trades, cfg.initial_cash,
                                cfg.periods_per_year, sum(t["fees"] for t in trades)))
        return rows, out["equity"]
    rows, curves = [], []
    for ps in param_sets:
        r = run_event(cls, ps, {"X": bars}, cfg, name)
        rows.append(r.metrics)
        curves.append(r.equity)
    return rows, np.asarray(curves)


_POOLS: dict[int, ProcessPoolExecutor] = {}


def pool(workers: int) -> ProcessPoolExecutor:
    """A process pool of ``workers`` spawned processes, kept for the next sweep of this process (starting
    one costs seconds: each worker imports numpy, torch and TA-Lib). One pool per process."""
    p = _POOLS.get(workers)
    if p is None:
        shutdown_pools()  # one pool per process: a new size replaces the old one
        p = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_worker_init)
    return p


def _worker_init() -> None:
    """One torch thread per worker: the pool is the parallelism (threads on top of it contend for cores)."""
    import torch

    torch.set_num_threads(1)


def shutdown_pools() -> None:
    for p in _POOLS.values():
        p.shutdown(cancel_futures=True)
    _POOLS.clear()


def _score(m: Mapping[str, Any], objective: str) -> float:
    v = m.get(objective)
    return float(v) if v is not None and np.isfinite(v) else -np.inf


def sweep(s: registry.LoadedStrategy, param_sets: list[dict[str, Any]], bars: BarData, cfg: BacktestConfig,
          engine: str = "vector", workers: int = 1, objective: str = "sharpe",
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Every trial's metrics, the best by ``objective``, its deflated Sharpe ratio and the sweep's PBO."""
    if not param_sets:
        raise InvalidInput("no valid parameter set in the space", field="space")
    size = max(1, min(64, -(-len(param_sets) // (4 * workers))))
    chunks = [param_sets[i:i + size] for i in range(0, len(param_sets), size)]
    rows: list[dict[str, Any]] = []
    curves: list[np.ndarray] = []
    if workers <= 1:
        results = (evaluate(s.name, s.version, c, bars, cfg, engine) for c in chunks)
        for r in results:
            rows += r[0]
            curves.append(r[1])
            if progress:
                progress(len(rows), len(param_sets))
    else:
        futures = [pool(workers).submit(evaluate, s.name, s.version, c, bars, cfg, engine) for c in chunks]
        try:
            for f in futures:
                r = f.result()
                rows += r[0]
                curves.append(r[1])
                if progress:
                    progress(len(rows), len(param_sets))
        except BaseException as e:
            for f in futures:
                f.cancel()
            if isinstance(e, BrokenProcessPool):  # a worker died: the next sweep starts a new pool
                _POOLS.pop(workers, None)
            raise
    equity = np.concatenate(curves, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = (equity[:, 1:] / equity[:, :-1] - 1.0).T
    rets = np.nan_to_num(rets)
    scores = [_score(m, objective) for m in rows]
    best = int(np.argmax(scores))
    trials = [{"params": p, "metrics": {k: m.get(k) for k in KEPT}} for p, m in zip(param_sets, rows, strict=True)]
    dsr = deflated_sharpe(rets)
    return {"trials": len(trials), "objective": objective, "best_index": best, "best": trials[best],
            "deflated_sharpe": dsr | {"of_best_by_sharpe": dsr["best_index"] == best}, "pbo": pbo(rets),
            "results": trials}


def folds(n: int, train_bars: int, test_bars: int, anchored: bool) -> list[tuple[int, int, int, int]]:
    """(train_lo, train_hi, test_lo, test_hi) windows over n bars."""
    out, start = [], 0
    while start + train_bars + test_bars <= n:
        lo = 0 if anchored else start
        out.append((lo, start + train_bars, start + train_bars, start + train_bars + test_bars))
        start += test_bars
    return out


def walk_forward(s: registry.LoadedStrategy, param_sets: list[dict[str, Any]], bars: BarData, cfg: BacktestConfig,
                 engine: str, train_bars: int, test_bars: int, anchored: bool, workers: int = 1,
                 objective: str = "sharpe") -> dict[str, Any]:
    """Out-of-sample record of re-optimising on each train window (see the module docstring)."""
    windows = folds(len(bars), train_bars, test_bars, anchored)
    if not windows:
        raise InvalidInput(f"{len(bars)} bars hold no train ({train_bars}) + test ({test_bars}) window",
                           field="walk_forward.train_bars")
    out_folds, oos = [], []
    for tr_lo, tr_hi, te_lo, te_hi in windows:
        res = sweep(s, param_sets, bars.slice(tr_lo, tr_hi), cfg, engine, workers, objective)
        best = res["best"]["params"]
        warm = s.cls.warmup_bars(best) + 1
        lo = max(0, te_lo - warm)
        r = run_event(s.cls, best, {"X": bars.slice(lo, te_hi)}, cfg, s.name)
        eq = r.equity[te_lo - lo - 1 if te_lo > lo else 0:]
        fold_rets = eq[1:] / eq[:-1] - 1.0
        oos.append(fold_rets)
        out_folds.append({"train": [int(bars.ts[tr_lo]), int(bars.ts[tr_hi - 1])],
                          "test": [int(bars.ts[te_lo]), int(bars.ts[te_hi - 1])], "best_params": best,
                          "in_sample": res["best"]["metrics"], "test_return": float(np.prod(1 + fold_rets) - 1),
                          "pbo": res["pbo"]["pbo"], "deflated_sharpe": res["deflated_sharpe"]["deflated_sharpe"]})
    r_all = np.concatenate(oos)
    p = performance(PerformanceRequest(returns=r_all, periods_per_year=cfg.periods_per_year))
    return {"folds": out_folds, "anchored": anchored, "train_bars": train_bars, "test_bars": test_bars,
            "out_of_sample": {"bars": int(r_all.size), "total_return": p.total_return, "cagr": p.cagr,
                              "sharpe": p.sharpe, "max_drawdown": p.drawdown.max_drawdown},
            "in_sample_mean_sharpe": float(np.mean([f["in_sample"]["sharpe"] or 0.0 for f in out_folds]))}
