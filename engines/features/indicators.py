"""The indicator catalog: one table of every indicator, its inputs, parameters, outputs and source.

Batch maths comes from TA-Lib wherever it has the indicator (``source="talib"``); the rest is
ours (engines/features/ours.py, or a composition of TA-Lib building blocks, ``source="ours"``).
Arrays are [symbols, bars], time on the last axis; outputs are NaN until the lookback is filled.
Moving-average types are fixed to simple (TA-Lib matype 0) where TA-Lib offers a choice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import talib

from engines.features import ours

Arrays = Mapping[str, np.ndarray]
Params = Mapping[str, float]
Rows = dict[str, list[np.ndarray]]
#: Inputs as per-symbol rows: a [symbols, bars] array or a list of 1-D arrays (no stacking needed).
RowArrays = Mapping[str, Sequence[np.ndarray]]


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    lo: float
    hi: float
    integer: bool = True


@dataclass(frozen=True)
class IndicatorDef:
    name: str
    title: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]
    outputs: tuple[str, ...]
    source: str  # "talib" or "ours"
    fn: Callable[[Arrays, Params], dict[str, np.ndarray]]
    lookback: Callable[[Params], int]
    #: "window": the value at t depends only on the last lookback + 1 bars; "recursive": on all history.
    memory: str = "window"
    #: The same outputs as ``fn``, from inputs given as per-symbol rows, each output a list of per-symbol
    #: 1-D arrays, for indicators computed symbol by symbol (TA-Lib): the batch path neither stacks their
    #: inputs nor copies TA-Lib's output arrays into a stacked block. None: the batch path uses ``fn``.
    rows: Callable[[RowArrays, Params], Rows] | None = None


def _row_lists(fn: Callable[..., object], arrays: Sequence[np.ndarray], outputs: tuple[str, ...], **kw: float) -> Rows:
    """Apply a 1-D TA-Lib function to each row (symbol); per output, the list of row arrays TA-Lib returned."""
    out: Rows = {k: [] for k in outputs}
    for i in range(len(arrays[0])):
        res = fn(*(a[i] for a in arrays), **kw)
        if len(outputs) == 1:
            res = (res,)
        for k, v in zip(outputs, res, strict=False):
            out[k].append(v)
    return out


def _stacked(rows: Rows, like: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.stack(v) if v else np.empty(like.shape) for k, v in rows.items()}


def _by_rows(
    name: str,
    title: str,
    inputs: tuple[str, ...],
    params: tuple[Param, ...],
    outputs: tuple[str, ...],
    source: str,
    rows: Callable[[RowArrays, Params], Rows],
    lookback: Callable[[Params], int],
    memory: str = "window",
) -> IndicatorDef:
    """An indicator computed symbol by symbol: ``fn`` stacks what ``rows`` gives."""
    return IndicatorDef(
        name,
        title,
        inputs,
        params,
        outputs,
        source,
        lambda a, p: _stacked(rows(a, p), a[inputs[0]]),
        lookback,
        memory,
        rows,
    )


@functools.lru_cache(maxsize=4096)
def _talib_lookback(fname: str, params: tuple[tuple[str, float], ...]) -> int:
    """TA-Lib's lookback for a function and parameters (building an abstract Function costs ~40 us)."""
    from talib import abstract

    f = abstract.Function(fname)
    f.set_parameters(dict(params))
    return int(f.lookback)


def _p(period: str = "timeperiod", default: int = 14, lo: int = 2) -> Param:
    return Param(period, default, lo, 100_000)


def _talib(
    name: str,
    title: str,
    inputs: tuple[str, ...],
    params: tuple[Param, ...],
    outputs: tuple[str, ...],
    memory: str = "window",
    rename: Mapping[str, str] | None = None,
    fixed: Mapping[str, float] | None = None,
) -> IndicatorDef:
    """An indicator served by TA-Lib function ``name.upper()`` (or ``rename``)."""
    fname = (rename or {}).get(name, name.upper())
    # the compiled function itself: talib wraps it to accept pandas/polars series (~5 us a call; numpy here)
    fn = getattr(talib, fname)
    fn = getattr(fn, "__wrapped__", fn)
    extra = dict(fixed or {})

    def run(a: RowArrays, p: Params) -> Rows:
        kw = {q.name: (int(p[q.name]) if q.integer else float(p[q.name])) for q in params}
        return _row_lists(fn, [a[k] for k in inputs], outputs, **kw, **extra)

    def lookback(p: Params) -> int:
        kw = {q.name: (int(p[q.name]) if q.integer else float(p[q.name])) for q in params} | extra
        return _talib_lookback(fname, tuple(sorted(kw.items())))

    return _by_rows(name, title, inputs, params, outputs, "talib", run, lookback, memory)


HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")
C = ("close",)


def _keltner(a: RowArrays, p: Params) -> Rows:
    n = int(p["timeperiod"])
    mids = _row_lists(talib.EMA, [a["close"]], ("m",), timeperiod=n)["m"]
    atrs = _row_lists(talib.ATR, [a["high"], a["low"], a["close"]], ("a",), timeperiod=int(p["atrperiod"]))["a"]
    k = float(p["multiplier"])
    bands = [(mid + k * atr, mid - k * atr) for mid, atr in zip(mids, atrs, strict=True)]
    return {"upper": [b[0] for b in bands], "middle": mids, "lower": [b[1] for b in bands]}


def _donchian(a: RowArrays, p: Params) -> Rows:
    n = int(p["timeperiod"])
    ups = _row_lists(talib.MAX, [a["high"]], ("u",), timeperiod=n)["u"]
    los = _row_lists(talib.MIN, [a["low"]], ("l",), timeperiod=n)["l"]
    return {"upper": ups, "middle": [(up + lo) / 2.0 for up, lo in zip(ups, los, strict=True)], "lower": los}


def _adx(a: RowArrays, p: Params) -> Rows:
    hlc, n = [a[k] for k in HLC], int(p["timeperiod"])
    return {
        "adx": _row_lists(talib.ADX, hlc, ("r",), timeperiod=n)["r"],
        "plus_di": _row_lists(talib.PLUS_DI, hlc, ("r",), timeperiod=n)["r"],
        "minus_di": _row_lists(talib.MINUS_DI, hlc, ("r",), timeperiod=n)["r"],
    }


_PPY = Param("periods_per_year", 252, 1, 525_600)

CATALOG: dict[str, IndicatorDef] = {
    d.name: d
    for d in (
        _talib("sma", "Simple moving average", C, (_p(default=20),), ("real",)),
        _talib("ema", "Exponential moving average (SMA seed)", C, (_p(default=20),), ("real",), "recursive"),
        _talib("wma", "Weighted moving average", C, (_p(default=20),), ("real",)),
        _talib("dema", "Double exponential moving average", C, (_p(default=20),), ("real",), "recursive"),
        _talib("tema", "Triple exponential moving average", C, (_p(default=20),), ("real",), "recursive"),
        _talib("kama", "Kaufman adaptive moving average", C, (_p(default=30),), ("real",), "recursive"),
        _talib("rsi", "Relative strength index (Wilder)", C, (_p(),), ("real",), "recursive"),
        _talib(
            "macd",
            "MACD",
            C,
            (_p("fastperiod", 12), _p("slowperiod", 26), _p("signalperiod", 9, 1)),
            ("macd", "signal", "hist"),
            "recursive",
        ),
        _talib(
            "stoch",
            "Slow stochastic (SMA smoothing)",
            HLC,
            (_p("fastk_period", 5, 1), _p("slowk_period", 3, 1), _p("slowd_period", 3, 1)),
            ("slowk", "slowd"),
            fixed={"slowk_matype": 0, "slowd_matype": 0},
        ),
        _talib(
            "stochrsi",
            "Stochastic RSI",
            C,
            (_p(), _p("fastk_period", 5, 1), _p("fastd_period", 3, 1)),
            ("fastk", "fastd"),
            "recursive",
            fixed={"fastd_matype": 0},
        ),
        _talib("willr", "Williams %R", HLC, (_p(),), ("real",)),
        _talib("cci", "Commodity channel index", HLC, (_p(),), ("real",)),
        _by_rows(
            "adx",
            "Average directional index with +DI / -DI",
            HLC,
            (_p(),),
            ("adx", "plus_di", "minus_di"),
            "talib",
            _adx,
            lambda p: 2 * int(p["timeperiod"]) - 1,
            "recursive",
        ),
        _talib("aroon", "Aroon down / up", ("high", "low"), (_p(),), ("down", "up")),
        _talib("mfi", "Money flow index", HLCV, (_p(),), ("real",)),
        _talib("obv", "On-balance volume", ("close", "volume"), (), ("real",), "recursive"),
        _talib("adl", "Accumulation/distribution line", HLCV, (), ("real",), "recursive", rename={"adl": "AD"}),
        _talib(
            "chaikin",
            "Chaikin A/D oscillator",
            HLCV,
            (_p("fastperiod", 3), _p("slowperiod", 10)),
            ("real",),
            "recursive",
            rename={"chaikin": "ADOSC"},
        ),
        _talib("atr", "Average true range (Wilder)", HLC, (_p(default=14, lo=1),), ("real",), "recursive"),
        _talib("natr", "Normalised ATR (% of close)", HLC, (_p(default=14, lo=1),), ("real",), "recursive"),
        _talib(
            "bbands",
            "Bollinger bands (SMA, population std)",
            C,
            (_p(default=20), Param("nbdevup", 2.0, 0.0, 100.0, False), Param("nbdevdn", 2.0, 0.0, 100.0, False)),
            ("upper", "middle", "lower"),
            fixed={"matype": 0},
        ),
        _by_rows(
            "keltner",
            "Keltner channel: EMA(close) +- multiplier * ATR",
            HLC,
            (_p(default=20), _p("atrperiod", 10, 1), Param("multiplier", 2.0, 0.0, 100.0, False)),
            ("upper", "middle", "lower"),
            "ours",
            _keltner,
            lambda p: max(int(p["timeperiod"]) - 1, int(p["atrperiod"])),
            "recursive",
        ),
        _by_rows(
            "donchian",
            "Donchian channel: highest high / lowest low",
            ("high", "low"),
            (_p(default=20),),
            ("upper", "middle", "lower"),
            "ours",
            _donchian,
            lambda p: int(p["timeperiod"]) - 1,
        ),
        _talib("roc", "Rate of change (%)", C, (_p(default=10, lo=1),), ("real",)),
        _talib("mom", "Momentum (price difference)", C, (_p(default=10, lo=1),), ("real",)),
        _talib("trix", "TRIX: 1-bar % change of triple EMA", C, (_p(default=30, lo=1),), ("real",), "recursive"),
        _talib(
            "ultosc",
            "Ultimate oscillator",
            HLC,
            (_p("timeperiod1", 7, 1), _p("timeperiod2", 14, 1), _p("timeperiod3", 28, 1)),
            ("real",),
        ),
        _talib(
            "sar",
            "Parabolic SAR",
            ("high", "low"),
            (Param("acceleration", 0.02, 0.0, 1.0, False), Param("maximum", 0.2, 0.0, 1.0, False)),
            ("real",),
            "recursive",
        ),
        IndicatorDef(
            "vwap",
            "Rolling volume-weighted average of typical price",
            HLCV,
            (_p(default=20, lo=1),),
            ("real",),
            "ours",
            lambda a, p: {"real": ours.vwap(a["high"], a["low"], a["close"], a["volume"], int(p["timeperiod"]))},
            lambda p: int(p["timeperiod"]) - 1,
        ),
        IndicatorDef(
            "vol_cc",
            "Close-to-close volatility (log returns, annualised)",
            C,
            (_p(default=20), _PPY),
            ("real",),
            "ours",
            lambda a, p: {"real": ours.vol_cc(a["close"], int(p["timeperiod"]), p["periods_per_year"])},
            lambda p: int(p["timeperiod"]),
        ),
        IndicatorDef(
            "vol_parkinson",
            "Parkinson high-low volatility (annualised)",
            ("high", "low"),
            (_p(default=20, lo=1), _PPY),
            ("real",),
            "ours",
            lambda a, p: {"real": ours.vol_parkinson(a["high"], a["low"], int(p["timeperiod"]), p["periods_per_year"])},
            lambda p: int(p["timeperiod"]) - 1,
        ),
        IndicatorDef(
            "vol_gk",
            "Garman-Klass OHLC volatility (annualised)",
            ("open", "high", "low", "close"),
            (_p(default=20, lo=1), _PPY),
            ("real",),
            "ours",
            lambda a, p: {
                "real": ours.vol_gk(
                    a["open"], a["high"], a["low"], a["close"], int(p["timeperiod"]), p["periods_per_year"]
                )
            },
            lambda p: int(p["timeperiod"]) - 1,
        ),
        IndicatorDef(
            "zscore",
            "Rolling z-score of close (sample std)",
            C,
            (_p(default=20),),
            ("real",),
            "ours",
            lambda a, p: {"real": ours.zscore(a["close"], int(p["timeperiod"]))},
            lambda p: int(p["timeperiod"]) - 1,
        ),
        _by_rows(
            "beta",
            "Rolling beta of 1-bar returns against a benchmark",
            ("close", "benchmark"),
            (_p(default=20, lo=1),),
            ("real",),
            "talib",
            lambda a, p: {
                "real": _row_lists(talib.BETA, [a["benchmark"], a["close"]], ("r",), timeperiod=int(p["timeperiod"]))[
                    "r"
                ]
            },
            lambda p: int(p["timeperiod"]),
        ),
    )
}


def resolve_params(defn: IndicatorDef, given: Mapping[str, float]) -> dict[str, float]:
    """Defaults merged with ``given``; raises KeyError(name) / ValueError(name, reason) on a bad one."""
    known = {q.name: q for q in defn.params}
    for k in given:
        if k not in known:
            raise KeyError(k)
    out: dict[str, float] = {}
    for q in defn.params:
        v = given.get(q.name, q.default)
        if q.integer and float(v) != int(v):
            raise ValueError(q.name, "must be a whole number")
        if not q.lo <= v <= q.hi:
            raise ValueError(q.name, f"must be in [{q.lo:g}, {q.hi:g}]")
        out[q.name] = int(v) if q.integer else float(v)
    if defn.name == "macd" and out["fastperiod"] >= out["slowperiod"]:
        raise ValueError("fastperiod", "must be shorter than slowperiod")
    if defn.name == "chaikin" and out["fastperiod"] >= out["slowperiod"]:
        raise ValueError("fastperiod", "must be shorter than slowperiod")
    if defn.name == "sar" and out["acceleration"] > out["maximum"]:
        raise ValueError("acceleration", "must not exceed maximum")
    return out


def column_key(defn: IndicatorDef, params: Mapping[str, float]) -> str:
    """Default name of an indicator instance, e.g. ``macd_12_26_9``."""
    return "_".join([defn.name, *(f"{params[q.name]:g}" for q in defn.params if q.name != "periods_per_year")])
