import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from engines.marketdata.report import build_report
from engines.marketdata.timeframes import parse_timeframe
from engines.marketdata.validation import CODE, NAT, REASONS, SessionRule, check, robust_z, spike_mask

pytestmark = pytest.mark.timeout(60)
D1 = parse_timeframe("1d")
M1 = parse_timeframe("1m")


def ns(text: str) -> int:
    return pd.Timestamp(text, tz="UTC").value


def bars(rows):
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    cols = ("open", "high", "low", "close", "volume")
    return ts, {c: np.array([r[i + 1] for r in rows], dtype=float) for i, c in enumerate(cols)}


def reasons(checked):
    return [REASONS[c - 1] if c else "ok" for c in checked.codes]


def test_check_bars_when_each_rule_is_broken_then_that_row_is_rejected_with_its_reason():
    ts, v = bars([
        (ns("2024-01-02"), 10, 11, 9, 10.5, 100),         # ok
        (NAT, 10, 11, 9, 10.5, 100),                        # bad_timestamp
        (ns("2024-01-03"), np.nan, 11, 9, 10.5, 100),       # missing_value
        (ns("2024-01-04"), -1, 11, 9, 10.5, 100),           # non_positive_price
        (ns("2024-01-05"), 10, 11, 9, 10.5, -5),            # negative_volume
        (ns("2024-01-08"), 10, 10.2, 9, 10.5, 100),         # ohlc_inconsistent (close > high)
        (ns("2024-01-06"), 10, 11, 9, 10.5, 100),           # Saturday: out_of_session
        (ns("2024-01-09"), 10, 11, 9, 10.5, 100),           # ok
        (ns("2024-01-03"), 10, 11, 9, 10.5, 100),           # out_of_order (before 01-09)
        (ns("2024-01-09"), 10, 12, 9, 11.0, 100),           # duplicate timestamp
        (ns("2024-01-10"), 10, 11, 9, 10.5, 100),           # ok
    ])
    c = check("bars", ts, v, timeframe=D1, session=SessionRule(), spike_threshold=None)
    assert reasons(c) == ["ok", "bad_timestamp", "missing_value", "non_positive_price", "negative_volume",
                          "ohlc_inconsistent", "out_of_session", "ok", "out_of_order", "duplicate", "ok"]


def test_report_when_rows_rejected_then_counts_per_reason_sum_to_rejected_and_examples_name_rows():
    ts, v = bars([(ns("2024-01-02"), 10, 11, 9, 10, 1), (ns("2024-01-02"), 10, 11, 9, 10, 1),
                  (ns("2024-01-03"), 10, 11, 9, 10, -1)])
    c = check("bars", ts, v, timeframe=D1, spike_threshold=None)
    r = build_report(c, ts, v, None, "X")
    assert r.rows_in == 3 and r.rows_accepted == 1 and r.rows_rejected == 2
    assert r.rejected_by_reason == {"duplicate": 1, "negative_volume": 1}
    assert sorted((e.row, e.reason) for e in r.examples) == [(1, "duplicate"), (2, "negative_volume")]
    assert r.examples[0].values["volume"] in (1.0, -1.0)


def test_check_when_file_is_in_descending_order_then_reversed_with_warning_and_all_accepted():
    days = pd.bdate_range("2024-01-01", periods=5, tz="UTC")[::-1]
    ts = days.as_unit("ns").asi8
    v = {c: np.full(5, 10.0) for c in ("open", "high", "low", "close", "volume")}
    c = check("bars", ts, v, timeframe=D1, session=SessionRule())
    assert c.accepted.all() and any("descending" in w for w in c.warnings)


def test_gaps_when_daily_bars_skip_business_days_then_missing_count_equals_pandas_bdate_range():
    kept = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-09", "2024-01-10", "2024-01-16"], tz="UTC")
    ts = kept.as_unit("ns").asi8
    v = {c: np.full(5, 10.0) for c in ("open", "high", "low", "close", "volume")}
    c = check("bars", ts, v, timeframe=D1, session=SessionRule())
    expected_missing = len(pd.bdate_range(kept[0], kept[-1])) - len(kept)
    assert sum(g[3] for g in c.gaps) == expected_missing == 6  # 4, 5, 8 and 11, 12, 15 Jan
    assert len(c.gaps) == 2 and c.accepted.all()


def test_session_when_intraday_bars_in_new_york_then_only_bars_inside_0930_1600_accepted():
    local = pd.DatetimeIndex(["2024-07-01 09:29", "2024-07-01 09:30", "2024-07-01 15:59", "2024-07-01 16:00"],
                             tz="America/New_York")
    ts = local.tz_convert("UTC").as_unit("ns").asi8
    v = {c: np.full(4, 10.0) for c in ("open", "high", "low", "close", "volume")}
    rule = SessionRule(tz="America/New_York", start_s=9 * 3600 + 1800, end_s=16 * 3600)
    c = check("bars", ts, v, timeframe=M1, session=rule, spike_threshold=None)
    assert reasons(c) == ["out_of_session", "ok", "ok", "out_of_session"]


def test_robust_z_when_single_block_then_equals_scipy_normal_scaled_mad():
    x = np.random.default_rng(3).standard_t(3, 500)
    mad = stats.median_abs_deviation(x, scale="normal")
    np.testing.assert_allclose(robust_z(x), (x - np.median(x)) / mad, rtol=1e-12)


def test_spike_when_one_print_jumps_and_reverts_then_only_that_row_is_flagged():
    rng = np.random.default_rng(1)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 400)))
    p[200] *= 1.05  # 50 sigma away, back next tick
    p[300] *= 1.05  # a level shift is not a spike
    p[301:] *= 1.05
    assert np.nonzero(spike_mask(p, 10.0))[0].tolist() == [200]


def test_ticks_when_exact_repeat_then_duplicate_and_same_timestamp_ticks_get_increasing_seq():
    ts = np.array([1000, 1000, 1000, 2000], dtype=np.int64)
    v = {"price": np.array([10.0, 10.0, 10.1, 10.0]), "size": np.array([1.0, 1.0, 2.0, 1.0]),
         "aggressor": np.array([1, 1, -1, 1], dtype=np.int8)}
    c = check("trades", ts, v, spike_threshold=None)
    assert reasons(c) == ["ok", "duplicate", "ok", "ok"]
    assert c.seq.tolist() == [0, 0, 1, 0]


def test_quotes_when_bid_above_ask_then_crossed_quote():
    ts = np.array([1, 2], dtype=np.int64)
    v = {"bid": np.array([10.0, 10.2]), "ask": np.array([10.1, 10.1]), "bid_size": np.ones(2),
         "ask_size": np.ones(2)}
    assert reasons(check("quotes", ts, v)) == ["ok", "crossed_quote"]


def test_unknown_symbol_when_not_in_master_then_rejected():
    ts = np.array([1, 2], dtype=np.int64)
    v = {"price": np.array([10.0, 10.0]), "size": np.ones(2), "aggressor": np.zeros(2, dtype=np.int8)}
    c = check("trades", ts, v, np.array(["A", "B"], dtype=object), known_symbols={"A"})
    assert reasons(c) == ["ok", "unknown_symbol"]


row = st.tuples(
    st.integers(0, 40), st.floats(-5, 50), st.floats(-5, 50), st.floats(-5, 50), st.floats(-5, 50),
    st.floats(-10, 100), st.sampled_from(["A", "B"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(row, min_size=1, max_size=60))
def test_check_invariants_when_random_bars_then_accepted_rows_are_clean_and_every_row_accounted(rows):
    base = ns("2024-01-01")
    ts = np.array([base + r[0] * 86_400_000_000_000 for r in rows], dtype=np.int64)
    v = {c: np.array([r[i + 1] for r in rows]) for i, c in enumerate(("open", "high", "low", "close", "volume"))}
    sym = np.array([r[6] for r in rows], dtype=object)
    c = check("bars", ts, v, sym, timeframe=D1, session=SessionRule(), spike_threshold=5.0)
    rep = build_report(c, ts, v, sym, None)
    assert sum(rep.rejected_by_reason.values()) == rep.rows_rejected == len(rows) - rep.rows_accepted
    assert set(np.unique(c.codes)) <= {0, *CODE.values()}
    ok = c.accepted
    o, h, lo, cl, vol = (v[k][ok] for k in ("open", "high", "low", "close", "volume"))
    assert (lo <= np.minimum(o, cl)).all() and (h >= np.maximum(o, cl)).all()
    assert (np.minimum.reduce([o, h, lo, cl]) > 0).all() and (vol >= 0).all()
    for s in ("A", "B"):
        t = ts[ok & (sym == s)]
        # accepted timestamps strictly increase in file order, or strictly decrease if the group was reversed
        d = np.diff(t)
        assert (d > 0).all() or (d < 0).all() or t.size < 2
