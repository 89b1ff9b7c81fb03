"""Batch helpers for ``Strategy.signals``: the features engine's batch indicators on one symbol's
arrays (the same numbers as the incremental ones a strategy's ``on_bar`` reads) and crossings."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engines.features.indicators import CATALOG, resolve_params


def indicator(name: str, bars: Mapping[str, np.ndarray], output: str | None = None, **params: float) -> np.ndarray:
    """One output (the first by default) of indicator ``name`` over whole arrays; NaN in its warm-up."""
    defn = CATALOG[name]
    p = resolve_params(defn, params)
    res = defn.fn({k: np.asarray(bars[k], dtype=np.float64)[None, :] for k in defn.inputs}, p)
    return np.asarray(res[output or defn.outputs[0]][0], dtype=np.float64)


def crossed_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True at t when a[t] > b[t] and a[t-1] <= b[t-1] (both bars defined)."""
    out = np.zeros(a.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def crossed_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return crossed_above(b, a)


def cross_up(now_a: float, now_b: float, prev_a: float, prev_b: float) -> bool:
    """The incremental form of ``crossed_above`` (NaN compares false, as in the batch form)."""
    return now_a > now_b and prev_a <= prev_b
