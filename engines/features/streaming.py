"""Incremental (one bar at a time) indicators that reproduce the batch result on the same bars.

Two kinds of state, chosen by the catalog's ``memory``:
- "window" indicators depend only on the last ``lookback + 1`` bars; their state is that ring buffer,
  and each new bar re-runs the batch function on it (O(lookback) per bar, same code, same numbers).
- "recursive" indicators depend on all history; their state is the recursion's variables, updated in
  O(1) per bar, following TA-Lib's own seeding (EMA seeded by the SMA of the first period values,
  Wilder smoothing for RSI/ATR/ADX, MACD's fast EMA seeded on the slow EMA's first bar, ...).
Equality with the batch path is asserted for every indicator in tests/unit/features/test_streaming.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import numpy as np
import talib

from engines.features.indicators import CATALOG, IndicatorDef

NAN = float("nan")


def _is_zero(v: float) -> bool:
    return -1e-8 < v < 1e-8  # TA-Lib's TA_IS_ZERO


def _true_range(h: float, lo: float, prev_close: float) -> float:
    tr = h - lo
    return max(tr, abs(h - prev_close), abs(lo - prev_close))


class EmaCore:
    """TA-Lib EMA: the first output is the mean of the first ``period`` inputs."""

    def __init__(self, period: int, k: float | None = None) -> None:
        self.period, self.k = period, (2.0 / (period + 1) if k is None else k)
        self.n, self.acc, self.value = 0, 0.0, NAN

    def update(self, x: float) -> float:
        self.n += 1
        if self.n < self.period:
            self.acc += x
            return NAN
        if self.n == self.period:
            self.acc += x
            self.value = self.acc / self.period
        else:
            self.value = ((x - self.value) * self.k) + self.value
        return self.value

    def seed(self, values: list[float]) -> float:
        """Start from the mean of ``values`` (MACD's fast EMA)."""
        acc = 0.0
        for v in values:
            acc += v
        self.n, self.value = self.period, acc / self.period
        return self.value


class Chain:
    """EMA of EMA of ...: each stage consumes the previous stage's valid outputs."""

    def __init__(self, period: int, depth: int) -> None:
        self.stages = [EmaCore(period) for _ in range(depth)]

    def update(self, x: float) -> list[float]:
        out, v = [], x
        for st in self.stages:
            v = st.update(v) if not np.isnan(v) else NAN
            out.append(v)
        return out


class Stream:
    outputs: tuple[str, ...]

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:  # pragma: no cover - interface
        raise NotImplementedError


class WindowStream(Stream):
    def __init__(self, defn: IndicatorDef, params: Mapping[str, float]) -> None:
        self.defn, self.params, self.outputs = defn, dict(params), defn.outputs
        self.size = defn.lookback(params) + 1
        self.buf = {k: deque(maxlen=self.size) for k in defn.inputs}

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        for k, q in self.buf.items():
            q.append(bar[k])
        if len(next(iter(self.buf.values()))) < self.size:
            return {k: NAN for k in self.outputs}
        arrays = {k: np.asarray(q, dtype=np.float64)[None, :] for k, q in self.buf.items()}
        res = self.defn.fn(arrays, self.params)
        return {k: float(res[k][0, -1]) for k in self.outputs}


class One(Stream):
    outputs = ("real",)


class EmaStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.ema = EmaCore(int(p["timeperiod"]))

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        return {"real": self.ema.update(bar["close"])}


class DemaStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.chain = Chain(int(p["timeperiod"]), 2)

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        e1, e2 = self.chain.update(bar["close"])
        return {"real": (2.0 * e1) - e2}


class TemaStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.chain = Chain(int(p["timeperiod"]), 3)

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        e1, e2, e3 = self.chain.update(bar["close"])
        return {"real": e3 + ((3.0 * e1) - (3.0 * e2))}


class TrixStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.chain, self.prev = Chain(int(p["timeperiod"]), 3), NAN

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        e3 = self.chain.update(bar["close"])[2]
        prev, self.prev = self.prev, e3
        if np.isnan(prev) or np.isnan(e3):
            return {"real": NAN}
        return {"real": ((e3 / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0}


class KamaStream(One):
    FAST, SLOW = 2.0 / 3.0, 2.0 / 31.0

    def __init__(self, p: Mapping[str, float]) -> None:
        self.p = int(p["timeperiod"])
        self.win: deque[float] = deque(maxlen=self.p + 1)
        self.sum_roc, self.kama, self.ready = 0.0, NAN, False

    def _step(self, x: float, period_roc: float) -> float:
        if self.sum_roc <= period_roc or _is_zero(self.sum_roc):
            er = 1.0
        else:
            er = abs(period_roc / self.sum_roc)
        sc = (er * (self.FAST - self.SLOW)) + self.SLOW
        sc *= sc
        self.kama = ((x - self.kama) * sc) + self.kama
        return self.kama

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        x, w = bar["close"], self.win
        if not self.ready:
            w.append(x)
            if len(w) < self.p + 1:
                return {"real": NAN}
            vals = list(w)
            for t in range(self.p):
                self.sum_roc += abs(vals[t] - vals[t + 1])
            self.kama, self.ready = vals[-2], True
            return {"real": self._step(x, x - vals[0])}
        trailing_value, trailing = w[0], w[1]
        self.sum_roc -= abs(trailing_value - trailing)
        self.sum_roc += abs(x - w[-1])
        w.append(x)
        return {"real": self._step(x, x - trailing)}


class RsiCore:
    def __init__(self, period: int) -> None:
        self.p, self.n, self.prev = period, 0, NAN
        self.gain = self.loss = 0.0

    def update(self, x: float) -> float:
        self.n += 1
        if self.n == 1:
            self.prev = x
            return NAN
        d, self.prev = x - self.prev, x
        p = self.p
        if self.n <= p + 1:
            if d < 0:
                self.loss -= d
            else:
                self.gain += d
            if self.n < p + 1:
                return NAN
            self.loss /= p
            self.gain /= p
        else:
            self.loss *= p - 1
            self.gain *= p - 1
            if d < 0:
                self.loss -= d
            else:
                self.gain += d
            self.loss /= p
            self.gain /= p
        s = self.gain + self.loss
        return 100.0 * (self.gain / s) if not _is_zero(s) else 0.0


class RsiStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.rsi = RsiCore(int(p["timeperiod"]))

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        return {"real": self.rsi.update(bar["close"])}


class StochRsiStream(Stream):
    outputs = ("fastk", "fastd")

    def __init__(self, p: Mapping[str, float]) -> None:
        self.rsi = RsiCore(int(p["timeperiod"]))
        self.fk, self.fd = int(p["fastk_period"]), int(p["fastd_period"])
        self.buf: deque[float] = deque(maxlen=self.fk + self.fd - 1)

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        r = self.rsi.update(bar["close"])
        if not np.isnan(r):
            self.buf.append(r)
        if len(self.buf) < self.buf.maxlen:
            return {"fastk": NAN, "fastd": NAN}
        a = np.asarray(self.buf)
        k, d = talib.STOCHF(a, a, a, fastk_period=self.fk, fastd_period=self.fd, fastd_matype=0)
        return {"fastk": float(k[-1]), "fastd": float(d[-1])}


class MacdStream(Stream):
    outputs = ("macd", "signal", "hist")

    def __init__(self, p: Mapping[str, float]) -> None:
        self.fast_p, self.slow_p = int(p["fastperiod"]), int(p["slowperiod"])
        self.slow, self.fast = EmaCore(self.slow_p), EmaCore(self.fast_p)
        self.signal = EmaCore(int(p["signalperiod"]))
        self.recent: deque[float] = deque(maxlen=self.fast_p)
        self.n = 0

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        x = bar["close"]
        self.n += 1
        s = self.slow.update(x)
        if self.n < self.slow_p:
            self.recent.append(x)
            return {"macd": NAN, "signal": NAN, "hist": NAN}
        if self.n == self.slow_p:
            self.recent.append(x)
            f = self.fast.seed(list(self.recent))
        else:
            f = self.fast.update(x)
        m = f - s
        sig = self.signal.update(m)
        if np.isnan(sig):
            return {"macd": NAN, "signal": NAN, "hist": NAN}
        return {"macd": m, "signal": sig, "hist": m - sig}


class AtrCore:
    def __init__(self, period: int) -> None:
        self.p, self.n, self.prev_close, self.acc, self.atr = period, 0, NAN, 0.0, NAN

    def update(self, h: float, lo: float, c: float) -> float:
        self.n += 1
        prev, self.prev_close = self.prev_close, c
        if self.n == 1:
            return NAN
        tr = _true_range(h, lo, prev)
        if self.p == 1:
            return tr
        if self.n <= self.p + 1:
            self.acc += tr
            if self.n < self.p + 1:
                return NAN
            self.atr = self.acc / self.p
        else:
            self.atr *= self.p - 1
            self.atr += tr
            self.atr /= self.p
        return self.atr


class AtrStream(One):
    def __init__(self, p: Mapping[str, float], normalised: bool = False) -> None:
        self.core, self.normalised = AtrCore(int(p["timeperiod"])), normalised

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        a = self.core.update(bar["high"], bar["low"], bar["close"])
        if self.normalised and not np.isnan(a):
            c = bar["close"]
            a = (a / c) * 100.0 if not _is_zero(c) else 0.0
        return {"real": a}


class KeltnerStream(Stream):
    outputs = ("upper", "middle", "lower")

    def __init__(self, p: Mapping[str, float]) -> None:
        self.ema, self.atr, self.k = EmaCore(int(p["timeperiod"])), AtrCore(int(p["atrperiod"])), p["multiplier"]

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        m = self.ema.update(bar["close"])
        a = self.atr.update(bar["high"], bar["low"], bar["close"])
        return {"upper": m + self.k * a, "middle": m, "lower": m - self.k * a}


class AdxStream(Stream):
    outputs = ("adx", "plus_di", "minus_di")

    def __init__(self, p: Mapping[str, float]) -> None:
        self.p, self.n = int(p["timeperiod"]), 0
        self.ph = self.pl = self.pc = NAN
        self.pdm = self.mdm = self.tr = self.sum_dx = 0.0
        self.adx = NAN

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        h, lo, c, p = bar["high"], bar["low"], bar["close"], self.p
        self.n += 1
        t = self.n - 1
        if t == 0:
            self.ph, self.pl, self.pc = h, lo, c
            return {"adx": NAN, "plus_di": NAN, "minus_di": NAN}
        diff_p, diff_m = h - self.ph, self.pl - lo
        self.ph, self.pl = h, lo
        tr = _true_range(h, lo, self.pc)
        self.pc = c
        if t < p:
            if diff_m > 0 and diff_p < diff_m:
                self.mdm += diff_m
            elif diff_p > 0 and diff_p > diff_m:
                self.pdm += diff_p
            self.tr += tr
            return {"adx": NAN, "plus_di": NAN, "minus_di": NAN}
        self.mdm -= self.mdm / p
        self.pdm -= self.pdm / p
        if diff_m > 0 and diff_p < diff_m:
            self.mdm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            self.pdm += diff_p
        self.tr = self.tr - (self.tr / p) + tr
        if _is_zero(self.tr):
            pdi = mdi = 0.0
            dx = NAN
        else:
            mdi, pdi = 100.0 * (self.mdm / self.tr), 100.0 * (self.pdm / self.tr)
            s = mdi + pdi
            dx = 100.0 * (abs(mdi - pdi) / s) if not _is_zero(s) else NAN
        if t < 2 * p - 1:
            if not np.isnan(dx):
                self.sum_dx += dx
        elif t == 2 * p - 1:
            if not np.isnan(dx):
                self.sum_dx += dx
            self.adx = self.sum_dx / p
        elif not np.isnan(dx):
            self.adx = ((self.adx * (p - 1)) + dx) / p
        return {"adx": self.adx, "plus_di": pdi, "minus_di": mdi}


class ObvStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.obv = self.prev = NAN

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        c, v = bar["close"], bar["volume"]
        if np.isnan(self.obv):
            self.obv = v
        elif c > self.prev:
            self.obv += v
        elif c < self.prev:
            self.obv -= v
        self.prev = c
        return {"real": self.obv}


def _ad_step(ad: float, bar: Mapping[str, float]) -> float:
    h, lo, c = bar["high"], bar["low"], bar["close"]
    rng = h - lo
    if rng > 0.0:
        ad += (((c - lo) - (h - c)) / rng) * bar["volume"]
    return ad


class AdlStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.ad = 0.0

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        self.ad = _ad_step(self.ad, bar)
        return {"real": self.ad}


class ChaikinStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        f, s = int(p["fastperiod"]), int(p["slowperiod"])
        self.kf, self.ks, self.lookback = 2.0 / (f + 1), 2.0 / (s + 1), max(f, s) - 1
        self.n, self.ad, self.fast, self.slow = 0, 0.0, NAN, NAN

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        self.ad = _ad_step(self.ad, bar)
        if self.n == 0:
            self.fast = self.slow = self.ad
        else:
            self.fast = (self.kf * self.ad) + ((1.0 - self.kf) * self.fast)
            self.slow = (self.ks * self.ad) + ((1.0 - self.ks) * self.slow)
        self.n += 1
        return {"real": self.fast - self.slow if self.n > self.lookback else NAN}


class SarStream(One):
    def __init__(self, p: Mapping[str, float]) -> None:
        self.acc, self.max = p["acceleration"], p["maximum"]
        if self.acc > self.max:
            self.acc = self.max
        self.n = 0
        self.first: tuple[float, float] | None = None

    def _init(self, h0: float, l0: float, h1: float, l1: float) -> None:
        diff_p, diff_m = h1 - h0, l0 - l1
        self.long = not (diff_m > 0 and diff_p < diff_m)
        self.af = self.acc
        if self.long:
            self.ep, self.sar = h1, l0
        else:
            self.ep, self.sar = l1, h0
        self.new_h, self.new_l = h1, l1

    def update(self, bar: Mapping[str, float]) -> dict[str, float]:
        h, lo = bar["high"], bar["low"]
        self.n += 1
        if self.n == 1:
            self.first = (h, lo)
            return {"real": NAN}
        if self.n == 2:
            self._init(*self.first, h, lo)
        prev_l, prev_h = self.new_l, self.new_h
        self.new_l, self.new_h = lo, h
        af, ep, sar = self.af, self.ep, self.sar
        if self.long:
            if lo <= sar:
                self.long, sar = False, ep
                sar = max(sar, prev_h, h)
                out = sar
                af, ep = self.acc, lo
                sar = sar + af * (ep - sar)
                sar = max(sar, prev_h, h)
            else:
                out = sar
                if h > ep:
                    ep, af = h, min(af + self.acc, self.max)
                sar = sar + af * (ep - sar)
                sar = min(sar, prev_l, lo)
        else:
            if h >= sar:
                self.long, sar = True, ep
                sar = min(sar, prev_l, lo)
                out = sar
                af, ep = self.acc, h
                sar = sar + af * (ep - sar)
                sar = min(sar, prev_l, lo)
            else:
                out = sar
                if lo < ep:
                    ep, af = lo, min(af + self.acc, self.max)
                sar = sar + af * (ep - sar)
                sar = max(sar, prev_h, h)
        self.af, self.ep, self.sar = af, ep, sar
        return {"real": out}


_RECURSIVE = {
    "ema": EmaStream,
    "dema": DemaStream,
    "tema": TemaStream,
    "trix": TrixStream,
    "kama": KamaStream,
    "rsi": RsiStream,
    "stochrsi": StochRsiStream,
    "macd": MacdStream,
    "atr": AtrStream,
    "natr": lambda p: AtrStream(p, normalised=True),
    "keltner": KeltnerStream,
    "adx": AdxStream,
    "obv": ObvStream,
    "adl": AdlStream,
    "chaikin": ChaikinStream,
    "sar": SarStream,
}


def make_stream(name: str, params: Mapping[str, float]) -> Stream:
    """The incremental state of one indicator instance (params already resolved)."""
    defn = CATALOG[name]
    if defn.memory == "window":
        return WindowStream(defn, params)
    s = _RECURSIVE[name](params)
    s.outputs = defn.outputs
    return s
