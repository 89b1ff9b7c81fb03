"""The event-driven backtest peers run the strategy of benchmarks/peers/sma_cross.py: the numpy reference
follows its definition on a hand-built series, backtrader gives the reference's fills (on the S&P 500 bars
played forwards then backwards), NautilusTrader too (in its own venv, when set up), and a peer that is not
installed is reported missing with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import backtest_peers
from benchmarks.peers import sma_cross
from tests.support.procs import REPO


def _tent(n_up: int = 120, n_down: int = 120) -> np.ndarray:
    """60 bars flat at 100, then +1 a bar, then -1 a bar."""
    up = 100.0 + np.arange(1, n_up + 1)
    return np.concatenate([np.full(60, 100.0), up, up[-1] - np.arange(1, n_down + 1)])


def test_reference_when_flat_then_rising_then_falling_then_one_round_trip_at_the_crossings():
    c = _tent()
    ref = sma_cross.reference(c)
    (t_in, side_in, q_in, p_in), (t_out, side_out, q_out, p_out) = ref["fills"]
    # flat until bar 59 (fast == slow), bar 60 lifts the 20-bar mean more than the 50-bar one: the first cross
    assert (t_in, side_in, p_in) == (60, "buy", 101.0)
    assert q_in == 100_000 * 100 // 10_100 == 990
    f, s = sma_cross.sma(c, 20), sma_cross.sma(c, 50)
    first_below = int(np.nonzero((np.arange(c.size) > 180) & (f < s))[0][0])
    assert (t_out, side_out, q_out, p_out) == (first_below, "sell", 990, c[first_below])
    assert ref["final_equity"] == pytest.approx(100_000 + 990 * (c[t_out] - c[t_in]), abs=1e-9)
    eq = sma_cross.equity_curve(c, ref["fills"])
    assert ref["max_drawdown"] == pytest.approx(np.min(eq / np.maximum.accumulate(eq) - 1))


def test_all_in_shares_when_cash_is_an_exact_multiple_then_no_share_lost_to_rounding():
    assert sma_cross.all_in_shares(100_000.0, 0.1) == 1_000_000
    assert sma_cross.all_in_shares(1234.56, 1234.56) == 1
    assert sma_cross.all_in_shares(1234.55, 1234.56) == 0


def test_backtrader_when_bars_forwards_and_backwards_then_same_fills_and_equity_as_reference():
    pytest.importorskip("backtrader")
    from benchmarks.peers import backtrader_sma

    bars = sma_cross.long_bars(6_000)
    ref = sma_cross.reference(bars.close)
    got = backtrader_sma.run(bars)
    assert len(ref["fills"]) > 10
    assert sma_cross.same_fills(ref["fills"], got["fills"]) == (True, f"the same {len(ref['fills'])} fills")
    assert got["final_equity"] == pytest.approx(ref["final_equity"], abs=0.005)


@pytest.mark.skipif(not backtest_peers.NAUTILUS_PY.exists(),
                    reason="NautilusTrader's venv is not set up here (bash benchmarks/peers/setup.sh makes it)")
@pytest.mark.timeout(300)
def test_nautilus_when_bars_forwards_and_backwards_then_same_fills_and_equity_as_reference():
    bars = sma_cross.long_bars(6_000)
    got, seconds = backtest_peers.run_nautilus(bars, reps=1, may_setup=False)
    ref = sma_cross.reference(bars.close)
    assert sma_cross.same_fills(ref["fills"], got["fills"])[0], (ref["fills"][:4], got["fills"][:4])
    assert got["final_equity"] == pytest.approx(ref["final_equity"], abs=0.005)
    assert seconds > 0


@pytest.mark.timeout(300)
def test_backtest_peers_when_nautilus_venv_absent_then_reported_missing_with_reason(tmp_path):
    env = {**os.environ, "NAUTILUS_BENCH_OUT": str(tmp_path), "NAUTILUS_PEER_VENVS": str(tmp_path / "venvs"),
           "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "benchmarks/backtest_peers.py", "--quick"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rep = json.loads((tmp_path / "backtest_peers.json").read_text())["report"]
    missing = {m["peer"]: m["reason"] for m in rep["peers_missing"]}
    assert "benchmarks/peers/setup.sh" in missing["NautilusTrader"]
    assert not (tmp_path / "venvs").exists()  # --quick never creates a venv
    assert any(f["measure"].startswith("backtrader") and f["value"] > 0 for f in rep["figures"])
