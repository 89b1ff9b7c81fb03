"""Vectorised quality checks for bars, trades and quotes. Pure numpy/pandas; no I/O.

Every input row ends with exactly one outcome: accepted, or rejected with the
first failing reason in ``REASONS`` order. Nothing is dropped silently: the
report counts rejections per reason and lists the first examples of each.

Checks (per symbol, in file order; a file entirely in descending time order is
reversed first, with a warning):
  bad_timestamp        unparsable, or nonexistent/ambiguous in the given time zone
  bad_symbol           a symbol the API would refuse (1-64 of A-Z a-z 0-9 . _ : / ^ = -)
  missing_value        a required value is missing or not a number
  non_positive_price   a price <= 0
  negative_volume      volume / size / quote size < 0 (a trade's size must be > 0)
  ohlc_inconsistent    not (low <= min(open, close) and max(open, close) <= high)
  crossed_quote        bid > ask
  unknown_symbol       the symbol is not in the instruments master
  out_of_session       outside the session hours or on a weekend (when a session is given)
  out_of_order         earlier than an accepted row before it (timestamps must be monotonic)
  duplicate            bars: a second bar with the same timestamp (the first is kept);
                       ticks: an exact repeat of the previous tick
  spike                an isolated jump-and-revert: the robust z-score
                       (r - median(r)) / (1.4826 * MAD) of the log return into the row
                       and of the return out of it both exceed the threshold, with
                       opposite signs; MAD is taken per block of 63 returns so that a
                       volatile month is judged against itself (``robust_z``)
Gaps against the expected calendar (business days for daily bars, one timeframe
step inside a session day for intraday bars) are reported, not rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backend.contract.arrays import SYMBOL_PATTERN
from engines.marketdata.timeframes import NS_PER_S, Timeframe

REASONS: tuple[str, ...] = (
    "bad_timestamp", "bad_symbol", "missing_value", "non_positive_price", "negative_volume", "ohlc_inconsistent",
    "crossed_quote", "unknown_symbol", "out_of_session", "out_of_order", "duplicate", "spike",
)
CODE = {name: i + 1 for i, name in enumerate(REASONS)}
NAT = np.iinfo(np.int64).min
DAY_NS = 86400 * NS_PER_S
MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4)
MEANAD_TO_SIGMA = 1.253314137315500  # sqrt(pi / 2)

#: Value columns per kind: (required prices, required non-negative sizes, optional sizes).
PRICE_COLUMNS = {"bars": ("open", "high", "low", "close"), "trades": ("price",), "quotes": ("bid", "ask")}
SIZE_COLUMNS = {"bars": ("volume",), "trades": ("size",), "quotes": ("bid_size", "ask_size")}
SPIKE_SERIES = {"bars": "close", "trades": "price", "quotes": None}  # quotes use the mid


@dataclass(frozen=True)
class SessionRule:
    """Trading hours in a local time zone; ``start_s``/``end_s`` are seconds after local midnight."""

    tz: str = "UTC"
    start_s: int | None = None
    end_s: int | None = None
    weekdays_only: bool = True


@dataclass
class Checked:
    """Outcome of validating one batch: a reason code per input row (0 = accepted)."""

    codes: np.ndarray
    seq: np.ndarray  # ticks: ordinal among accepted ticks sharing a timestamp
    warnings: list[str] = field(default_factory=list)
    gaps: list[tuple[str, int, int, int]] = field(default_factory=list)  # (symbol, after_ns, before_ns, missing)

    @property
    def accepted(self) -> np.ndarray:
        return self.codes == 0


def robust_z(x: np.ndarray, window: int = 0) -> np.ndarray:
    """(x - median(x)) / robust sigma, the sigma taken per block of ``window`` points (0 = one block).

    Robust sigma = 1.4826 * MAD; where a block's MAD is 0 (prices stuck on a tick) the whole
    series' sigma is used, whose own MAD = 0 falls back to 1.2533 * mean absolute deviation.
    Zeros when every spread is zero.
    Per-block scales follow volatility regimes (a crash month is judged against itself).
    """
    med = np.median(x)
    dev = np.abs(x - med)
    overall = _sigma(dev)
    n = x.shape[0]
    if window <= 0 or n < 2 * window:
        scale = np.full(n, overall)
    else:
        nb = n // window  # the tail joins the last full block
        body = dev[: nb * window].reshape(nb, window)
        block = MAD_TO_SIGMA * np.median(body, axis=1)
        block[-1] = MAD_TO_SIGMA * float(np.median(dev[(nb - 1) * window:]))
        block = np.where(block > 0, block, overall)
        scale = np.repeat(block, window)
        scale = np.concatenate((scale, np.full(n - scale.shape[0], block[-1])))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - med) / scale
    return np.where(scale > 0, z, 0.0)


def _sigma(dev: np.ndarray) -> float:
    s = MAD_TO_SIGMA * float(np.median(dev))
    return s if s > 0 else MEANAD_TO_SIGMA * float(dev.mean())


#: Points per block of the spike detector's local volatility scale.
SPIKE_WINDOW = 63


def spike_mask(prices: np.ndarray, threshold: float, window: int = SPIKE_WINDOW) -> np.ndarray:
    """True where a price jumps away from both neighbours by more than ``threshold`` robust sigmas."""
    out = np.zeros(prices.shape[0], dtype=bool)
    if prices.shape[0] < 3:
        return out
    z = robust_z(np.diff(np.log(prices)), window)
    into, out_of = z[:-1], z[1:]
    hit = (np.abs(into) > threshold) & (np.abs(out_of) > threshold) & (np.sign(into) != np.sign(out_of))
    out[1:-1] = hit
    return out


def session_mask(ts_ns: np.ndarray, rule: SessionRule, span_ns: int) -> np.ndarray:
    """True where [ts, ts + span] lies inside the session (and on a weekday when required)."""
    if rule.tz in ("UTC", "Etc/UTC"):
        local = ts_ns
    else:
        idx = pd.DatetimeIndex(ts_ns.view("datetime64[ns]"), tz="UTC").tz_convert(rule.tz)
        local = idx.tz_localize(None).asi8
    ok = np.ones(ts_ns.shape[0], dtype=bool)
    if rule.weekdays_only:
        ok &= ((local // DAY_NS + 3) % 7) < 5  # 1970-01-01 was a Thursday (3)
    if rule.start_s is not None and rule.end_s is not None:
        sod = local % DAY_NS
        ok &= (sod >= rule.start_s * NS_PER_S) & (sod + span_ns <= rule.end_s * NS_PER_S)
    return ok


def _reject(codes: np.ndarray, mask: np.ndarray, reason: str) -> None:
    codes[(codes == 0) & mask] = CODE[reason]


def check(
    kind: str,
    ts_ns: np.ndarray,
    values: dict[str, np.ndarray],
    symbols: np.ndarray | None = None,
    *,
    known_symbols: set[str] | None = None,
    timeframe: Timeframe | None = None,
    session: SessionRule | None = None,
    spike_threshold: float | None = 10.0,
    group_by: np.ndarray | None = None,
) -> Checked:
    """Validate one batch of ``kind`` rows. ``ts_ns`` uses NAT for unparsable timestamps.

    Sequence checks run per ``group_by`` key (default: per symbol; e.g. symbol and venue for ticks).
    """
    n = ts_ns.shape[0]
    codes = np.zeros(n, dtype=np.int8)
    seq = np.zeros(n, dtype=np.int32)
    checked = Checked(codes, seq)
    _reject(codes, ts_ns == NAT, "bad_timestamp")
    if symbols is not None:  # a file's symbol column is input like any other: the API's symbol rule applies
        _reject(codes, ~pd.Series(symbols, dtype="string").str.fullmatch(SYMBOL_PATTERN[1:-1]).fillna(False)
                .to_numpy(dtype=bool), "bad_symbol")
    prices = [values[c] for c in PRICE_COLUMNS[kind]]
    sizes = [values[c] for c in SIZE_COLUMNS[kind]]
    missing = np.zeros(n, dtype=bool)
    for col in (*prices, *sizes):
        missing |= ~np.isfinite(col)
    _reject(codes, missing, "missing_value")
    nonpos = np.zeros(n, dtype=bool)
    for col in prices:
        nonpos |= col <= 0
    _reject(codes, nonpos, "non_positive_price")
    negative = np.zeros(n, dtype=bool)
    for col in sizes:
        negative |= col < 0
    if kind == "trades":
        negative |= values["size"] == 0
    _reject(codes, negative, "negative_volume")
    if kind == "bars":
        o, h, lo, c = prices
        _reject(codes, (lo > np.minimum(o, c)) | (h < np.maximum(o, c)), "ohlc_inconsistent")
    elif kind == "quotes":
        _reject(codes, values["bid"] > values["ask"], "crossed_quote")
    if symbols is not None and known_symbols is not None:
        _reject(codes, ~pd.Index(symbols).isin(list(known_symbols)), "unknown_symbol")
    if session is not None:
        span = timeframe.ns if (kind == "bars" and timeframe is not None and not timeframe.is_daily) else 0
        rule = session if not (timeframe is not None and timeframe.is_daily and kind == "bars") else SessionRule(
            tz="UTC", weekdays_only=session.weekdays_only)  # daily bars are stamped at UTC midnight of their date
        _reject(codes, ~session_mask(np.where(ts_ns == NAT, 0, ts_ns), rule, span), "out_of_session")

    groups = _groups(group_by if group_by is not None else symbols, n)
    for name, rows in groups:
        rows = _maybe_reverse(ts_ns, rows, name, checked)
        _sequence_checks(kind, ts_ns, values, rows, codes, seq)
        if spike_threshold is not None:
            ok = rows[codes[rows] == 0]
            series = values[SPIKE_SERIES[kind]][ok] if SPIKE_SERIES[kind] else 0.5 * (
                values["bid"][ok] + values["ask"][ok])
            _reject(codes, _scatter(n, ok, spike_mask(series, spike_threshold)), "spike")
        if kind == "bars" and timeframe is not None:
            ok = rows[codes[rows] == 0]
            checked.gaps.extend(_gaps(name, ts_ns[ok], timeframe, session))
    return checked


def _groups(symbols: np.ndarray | None, n: int) -> list[tuple[str, np.ndarray]]:
    if symbols is None:
        return [("", np.arange(n))]
    codes, uniques = pd.factorize(symbols, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [(str(uniques[i]), order[bounds[i]:bounds[i + 1]]) for i in range(len(uniques))]


def _scatter(n: int, rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[rows[mask]] = True
    return out


def _maybe_reverse(ts_ns: np.ndarray, rows: np.ndarray, name: str, checked: Checked) -> np.ndarray:
    """Rows in processing order: a group entirely in descending time order is reversed."""
    t = ts_ns[rows]
    t = t[t != NAT]
    if t.shape[0] > 1 and bool(np.all(np.diff(t) < 0)):
        checked.warnings.append(f"rows{' of ' + name if name else ''} were in descending time order; reversed")
        return rows[::-1]
    return rows


def _sequence_checks(
    kind: str, ts_ns: np.ndarray, values: dict[str, np.ndarray], rows: np.ndarray, codes: np.ndarray,
    seq: np.ndarray,
) -> None:
    """out_of_order and duplicate over ``rows`` (processing order); sets tick ``seq``."""
    t = ts_ns[rows]
    ok = codes[rows] == 0
    prev_max = np.maximum.accumulate(np.where(ok, t, NAT))
    prev_max = np.concatenate(([NAT], prev_max[:-1]))
    ooo = ok & (t < prev_max)
    codes[rows[ooo]] = CODE["out_of_order"]
    ok &= ~ooo
    # previous accepted row (in processing order) for each position
    pos = np.arange(rows.shape[0])
    prev_ok = np.maximum.accumulate(np.where(ok, pos, -1))
    prev_ok = np.concatenate(([-1], prev_ok[:-1]))
    has_prev = prev_ok >= 0
    same_ts = ok & has_prev & (t == t[np.maximum(prev_ok, 0)])
    if kind == "bars":
        dup = same_ts
    else:
        dup = same_ts.copy()
        prev_rows = rows[np.maximum(prev_ok, 0)]
        for col in (*PRICE_COLUMNS[kind], *SIZE_COLUMNS[kind]):
            v = values[col]
            dup &= v[rows] == v[prev_rows]
        if "aggressor" in values:
            a = values["aggressor"]
            dup &= a[rows] == a[prev_rows]
    codes[rows[dup]] = CODE["duplicate"]
    if kind != "bars":
        ok &= ~dup
        acc = rows[ok]
        ta = ts_ns[acc]
        if ta.shape[0]:
            new_run = np.concatenate(([True], ta[1:] != ta[:-1]))
            run_start = np.maximum.accumulate(np.where(new_run, np.arange(ta.shape[0]), 0))
            seq[acc] = np.arange(ta.shape[0]) - run_start


def _gaps(
    name: str, t: np.ndarray, timeframe: Timeframe, session: SessionRule | None
) -> list[tuple[str, int, int, int]]:
    """(symbol, after_ns, before_ns, missing bars) for each gap between accepted bars."""
    if t.shape[0] < 2:
        return []
    if timeframe.is_daily:
        days = (t // DAY_NS).astype("datetime64[D]")
        if session is None or session.weekdays_only:
            missing = np.busday_count(days[:-1] + 1, days[1:])
        else:
            missing = (days[1:] - days[:-1]).astype(np.int64) - 1
    else:
        step = np.diff(t)
        missing = step // timeframe.ns - 1
        if session is not None:
            local_day = _local_days(t, session.tz)
            missing = np.where(local_day[1:] == local_day[:-1], missing, 0)
    at = np.nonzero(missing > 0)[0]
    return [(name, int(t[i]), int(t[i + 1]), int(missing[i])) for i in at]


def _local_days(t: np.ndarray, tz: str) -> np.ndarray:
    if tz in ("UTC", "Etc/UTC"):
        return t // DAY_NS
    idx = pd.DatetimeIndex(t.view("datetime64[ns]"), tz="UTC").tz_convert(tz)
    return idx.tz_localize(None).asi8 // DAY_NS
