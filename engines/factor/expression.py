"""A small, safe expression language for user-defined factors: parsed, validated, never eval'd.

Grammar (whitespace ignored; numbers are decimal literals):
    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := '-' unary | power
    power   := atom ('^' unary)?
    atom    := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
NAME is a series (open high low close volume returns typical), a library factor (momentum, reversal,
low_volatility, beta, idio_vol, skewness, amihud, trend_strength; default parameters) or a function
from FUNCTIONS. Window arguments must be integer literals in [1, MAX_WINDOW]. Evaluation maps every
node to a [dates, symbols] array; infinities become NaN.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import talib

from backend.core.errors import InvalidInput

MAX_LENGTH = 2_000
MAX_NODES = 256
MAX_DEPTH = 32
MAX_WINDOW = 5_000

SERIES = ("open", "high", "low", "close", "volume", "returns", "typical")


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple
    pos: int


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    arg: object


_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


def _rolling(x: np.ndarray, n: int) -> pd.core.window.Rolling:
    return pd.DataFrame(x).rolling(n, min_periods=n)


def _per_column(fn: Callable[..., np.ndarray], *arrays: np.ndarray, **kw: int) -> np.ndarray:
    out = np.full_like(arrays[0], np.nan)
    for j in range(arrays[0].shape[1]):
        cols = [a[:, j] for a in arrays]
        ok = np.isfinite(np.column_stack(cols)).all(axis=1)
        if ok.sum() == 0:
            continue
        first = int(np.argmax(ok))
        if not ok[first:].all():  # a gap inside the history: compute on the contiguous tail only
            first = len(ok) - int(np.argmax(~ok[::-1]))
        if first < len(ok):
            out[first:, j] = fn(*(np.ascontiguousarray(c[first:]) for c in cols), **kw)
    return out


def _shift(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    out[n:] = x[:-n] if n else x
    return out


def _cs_rank(x: np.ndarray) -> np.ndarray:
    r = pd.DataFrame(x).rank(axis=1, method="average").to_numpy()
    cnt = np.isfinite(x).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 1, (r - 1) / (cnt - 1), 0.5)


def _cs_zscore(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return (x - np.nanmean(x, axis=1, keepdims=True)) / np.nanstd(x, axis=1, keepdims=True)


def _talib1(name: str) -> Callable[[np.ndarray, int], np.ndarray]:
    f = getattr(talib, name)
    return lambda x, n: _per_column(f, x, timeperiod=n)


def _talib_hlc(name: str) -> Callable[[Mapping[str, np.ndarray], int], np.ndarray]:
    f = getattr(talib, name)
    return lambda p, n: _per_column(f, p["high"], p["low"], p["close"], timeperiod=n)


#: name -> (kind, arity, window position or None, implementation)
#:   kind "x": f(arrays..., window?)   kind "hlc": f(panel, window) with no series argument
FUNCTIONS: dict[str, tuple[str, int, int | None, Callable]] = {
    "delay": ("x", 2, 1, _shift),
    "delta": ("x", 2, 1, lambda x, n: x - _shift(x, n)),
    "pct_change": ("x", 2, 1, lambda x, n: x / _shift(x, n) - 1.0),
    "ts_mean": ("x", 2, 1, lambda x, n: _rolling(x, n).mean().to_numpy()),
    "ts_std": ("x", 2, 1, lambda x, n: _rolling(x, n).std(ddof=1).to_numpy()),
    "ts_sum": ("x", 2, 1, lambda x, n: _rolling(x, n).sum().to_numpy()),
    "ts_min": ("x", 2, 1, lambda x, n: _rolling(x, n).min().to_numpy()),
    "ts_max": ("x", 2, 1, lambda x, n: _rolling(x, n).max().to_numpy()),
    "ts_zscore": ("x", 2, 1, lambda x, n: (x - _rolling(x, n).mean().to_numpy()) / _rolling(x, n).std().to_numpy()),
    "sma": ("x", 2, 1, _talib1("SMA")),
    "ema": ("x", 2, 1, _talib1("EMA")),
    "wma": ("x", 2, 1, _talib1("WMA")),
    "dema": ("x", 2, 1, _talib1("DEMA")),
    "tema": ("x", 2, 1, _talib1("TEMA")),
    "kama": ("x", 2, 1, _talib1("KAMA")),
    "rsi": ("x", 2, 1, _talib1("RSI")),
    "roc": ("x", 2, 1, _talib1("ROC")),
    "mom": ("x", 2, 1, _talib1("MOM")),
    "trix": ("x", 2, 1, _talib1("TRIX")),
    "atr": ("hlc", 1, 0, _talib_hlc("ATR")),
    "natr": ("hlc", 1, 0, _talib_hlc("NATR")),
    "adx": ("hlc", 1, 0, _talib_hlc("ADX")),
    "cci": ("hlc", 1, 0, _talib_hlc("CCI")),
    "willr": ("hlc", 1, 0, _talib_hlc("WILLR")),
    "abs": ("x", 1, None, np.abs),
    "log": ("x", 1, None, np.log),
    "sqrt": ("x", 1, None, np.sqrt),
    "sign": ("x", 1, None, np.sign),
    "max": ("x", 2, None, np.fmax),
    "min": ("x", 2, None, np.fmin),
    "cs_rank": ("x", 1, None, _cs_rank),
    "cs_zscore": ("x", 1, None, _cs_zscore),
}


class Parser:
    def __init__(self, text: str, names: frozenset[str], field: str) -> None:
        self.text, self.names, self.field = text, names, field
        self.tokens = self._tokenize(text)
        self.i = 0
        self.nodes = 0

    def fail(self, msg: str, pos: int) -> InvalidInput:
        return InvalidInput(f"{msg} at position {pos}", field=self.field)

    def _tokenize(self, text: str) -> list[tuple[str, str, int]]:
        out, pos = [], 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                break
            start = m.start(m.lastindex) if m.lastindex else pos
            if m.group(1):
                out.append(("num", m.group(1), start))
            elif m.group(2):
                out.append(("name", m.group(2), start))
            elif m.group(3):
                if m.group(3) not in "+-*/^(),":
                    raise self.fail(f"unexpected character {m.group(3)!r}", start)
                out.append(("op", m.group(3), start))
            pos = m.end()
        out.append(("end", "", len(text)))
        return out

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, v, pos = self.take()
        if v != value or kind != "op":
            raise self.fail(f"expected {value!r}, found {v or 'end of expression'!r}", pos)

    def node(self, n: object, depth: int) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} terms", self.peek()[2])
        if depth > MAX_DEPTH:
            raise self.fail(f"nested deeper than {MAX_DEPTH}", self.peek()[2])
        return n

    def parse(self) -> object:
        if not self.text.strip():
            raise InvalidInput("expression is empty", field=self.field)
        tree = self.expr(0)
        kind, v, pos = self.peek()
        if kind != "end":
            raise self.fail(f"unexpected {v!r}", pos)
        return tree

    def expr(self, d: int) -> object:
        if d > MAX_DEPTH:  # checked on the way down: deep nesting must not exhaust the Python stack
            raise self.fail(f"nested deeper than {MAX_DEPTH}", self.peek()[2])
        left = self.term(d + 1)
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "op":
            op = self.take()[1]
            left = self.node(BinOp(op, left, self.term(d + 1)), d)
        return left

    def term(self, d: int) -> object:
        left = self.unary(d + 1)
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "op":
            op = self.take()[1]
            left = self.node(BinOp(op, left, self.unary(d + 1)), d)
        return left

    def unary(self, d: int) -> object:
        if self.peek()[1] == "-" and self.peek()[0] == "op":
            self.take()
            return self.node(Neg(self.unary(d + 1)), d)
        base = self.atom(d + 1)
        if self.peek()[1] == "^" and self.peek()[0] == "op":
            self.take()
            return self.node(BinOp("^", base, self.unary(d + 1)), d)
        return base

    def atom(self, d: int) -> object:
        kind, v, pos = self.take()
        if kind == "num":
            value = float(v)
            if not math.isfinite(value):
                raise self.fail(f"number {v!r} is out of range", pos)
            return self.node(Num(value), d)
        if kind == "op" and v == "(":
            inner = self.expr(d + 1)
            self.expect(")")
            return inner
        if kind == "name":
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                return self.call(v, pos, d)
            if v in FUNCTIONS:
                raise self.fail(f"{v!r} is a function; call it as {v}(...)", pos)
            if v not in SERIES and v not in self.names:
                raise self.fail(f"unknown name {v!r} (series: {', '.join(SERIES)})", pos)
            return self.node(Name(v, pos), d)
        raise self.fail(f"unexpected {v or 'end of expression'!r}", pos)

    def call(self, fn: str, pos: int, d: int) -> object:
        if fn not in FUNCTIONS:
            raise self.fail(f"unknown function {fn!r}", pos)
        self.expect("(")
        args = [self.expr(d + 1)]
        while self.peek()[1] == "," and self.peek()[0] == "op":
            self.take()
            args.append(self.expr(d + 1))
        self.expect(")")
        _, arity, wpos, _ = FUNCTIONS[fn]
        if len(args) != arity:
            raise self.fail(f"{fn} takes {arity} argument(s), got {len(args)}", pos)
        if wpos is not None:
            w = args[wpos]
            if not isinstance(w, Num) or w.value != int(w.value) or not 1 <= w.value <= MAX_WINDOW:
                raise self.fail(f"{fn}'s window must be a whole number in [1, {MAX_WINDOW}]", pos)
            if (
                fn in ("rsi", "sma", "ema", "wma", "dema", "tema", "kama", "trix", "adx", "cci", "willr")
                and w.value < 2
            ):
                raise self.fail(f"{fn}'s window must be at least 2", pos)
        return self.node(Call(fn, tuple(args), pos), d)


def parse(text: str, factor_names: frozenset[str] = frozenset(), field: str = "expression") -> object:
    """Parse and validate; InvalidInput (naming ``field``, with the position) on any error."""
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"longer than {MAX_LENGTH} characters", field=field)
    return Parser(text, factor_names, field).parse()


def max_window(tree: object) -> int:
    """Largest window literal in the tree (how much history the expression needs)."""
    if isinstance(tree, Call):
        wpos = FUNCTIONS[tree.fn][2]
        own = int(tree.args[wpos].value) if wpos is not None else 0
        return max([own, *(max_window(a) for a in tree.args)])
    if isinstance(tree, BinOp):
        return max(max_window(tree.left), max_window(tree.right))
    if isinstance(tree, Neg):
        return max_window(tree.arg)
    return 0


def evaluate(
    tree: object, panel: Mapping[str, np.ndarray], names: Mapping[str, Callable[[], np.ndarray]]
) -> np.ndarray:
    """Evaluate over a panel of [dates, symbols] arrays; ``names`` supplies library factors lazily."""
    with np.errstate(all="ignore"):
        out = _eval(tree, panel, names)
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 0:
        out = np.full(panel["close"].shape, float(out))
    out[~np.isfinite(out)] = np.nan
    return out


def _eval(t: object, panel: Mapping[str, np.ndarray], names: Mapping[str, Callable[[], np.ndarray]]) -> object:
    if isinstance(t, Num):
        return t.value
    if isinstance(t, Name):
        return panel[t.name] if t.name in panel else names[t.name]()
    if isinstance(t, Neg):
        return -_as_array(_eval(t.arg, panel, names), panel)
    if isinstance(t, BinOp):
        a, b = _eval(t.left, panel, names), _eval(t.right, panel, names)
        r = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power}[t.op](a, b)
        return _clean(r)
    if isinstance(t, Call):
        kind, _, wpos, impl = FUNCTIONS[t.fn]
        if kind == "hlc":
            return _clean(impl(panel, int(t.args[0].value)))
        vals = [_as_array(_eval(a, panel, names), panel) for i, a in enumerate(t.args) if i != wpos]
        if wpos is not None:
            return _clean(impl(*vals, int(t.args[wpos].value)))
        return _clean(impl(*vals))
    raise TypeError(type(t))


def _as_array(v: object, panel: Mapping[str, np.ndarray]) -> np.ndarray:
    if np.ndim(v) == 0:
        return np.full(panel["close"].shape, float(v))
    return np.asarray(v, dtype=np.float64)


def _clean(x: object) -> object:
    if np.ndim(x) == 0:
        return x
    x = np.array(x, dtype=np.float64)
    x[~np.isfinite(x)] = np.nan
    return x
