"""Chart patterns: each found, at the bar of its confirmation, on a synthetic series built to contain it,
and not found on a near-miss built to break one of its stated rules; many series at once give each
series' own answer; no look-ahead (bars after the confirmation change nothing before it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.strategy.patterns import PATTERNS, PatternParams, detect


def path(points: list[tuple[int, float]]) -> np.ndarray:
    """Closes along straight lines through (bar, price) points."""
    ts, vs = zip(*points, strict=True)
    return np.interp(np.arange(ts[-1] + 1), ts, vs)


#: pattern -> (series containing it, the bar it is confirmed at, a near-miss and the rule it breaks)
CASES = {
    "double_top": ([(0, 90), (10, 100), (20, 92), (30, 100.5), (40, 88)], 37,
                   [(0, 90), (10, 100), (20, 92), (30, 106), (40, 88)]),  # second top 6% higher
    "double_bottom": ([(0, 110), (10, 100), (20, 108), (30, 99.5), (40, 112)], 37,
                      [(0, 110), (10, 100), (20, 101.5), (30, 99.5), (40, 112)]),  # rally under depth
    "triple_top": ([(0, 90), (10, 100), (20, 93), (30, 101), (40, 93.5), (50, 100), (60, 88)], 56,
                   [(0, 90), (10, 100), (20, 93), (30, 108), (40, 93.5), (50, 100), (60, 88)]),  # middle too high
    "triple_bottom": ([(0, 110), (10, 100), (20, 107), (30, 99), (40, 106.5), (50, 100), (60, 112)], 56,
                      [(0, 110), (10, 100), (20, 107), (30, 92), (40, 106.5), (50, 100), (60, 112)]),
    "head_shoulders": ([(0, 90), (10, 100), (20, 93), (30, 108), (40, 93.5), (50, 100.5), (60, 88)], 57,
                       [(0, 90), (10, 100), (20, 93), (30, 108), (40, 93.5), (50, 95), (60, 88)]),  # shoulders
    "inverse_head_shoulders": ([(0, 110), (10, 100), (20, 107), (30, 92), (40, 107.5), (50, 99.5), (60, 112)], 57,
                               [(0, 110), (10, 100), (20, 107), (30, 99), (40, 107.5), (50, 99.5), (60, 112)]),
    "ascending_triangle": ([(0, 90), (10, 100), (20, 92), (30, 100.3), (40, 96), (50, 104)], 46,
                           [(0, 90), (10, 100), (20, 92), (30, 100.3), (40, 92.5), (50, 104)]),  # lows flat
    "descending_triangle": ([(0, 110), (10, 100), (20, 108), (30, 100.2), (40, 104), (50, 96)], 46,
                            [(0, 110), (10, 100), (20, 108), (30, 100.2), (40, 107.5), (50, 96)]),
    "symmetric_triangle": ([(0, 90), (10, 110), (20, 92), (30, 106), (40, 96), (50, 112)], 47,
                           [(0, 90), (10, 110), (20, 92), (30, 110.5), (40, 96), (50, 112)]),  # highs flat
    "rising_wedge": ([(0, 90), (10, 100), (20, 94), (30, 106), (40, 102), (50, 109), (65, 95)], 58,
                     [(0, 90), (10, 100), (20, 94), (30, 106), (40, 96), (50, 109), (65, 95)]),  # lows too slow
    "falling_wedge": ([(0, 110), (10, 100), (20, 106), (30, 94), (40, 98), (50, 91), (65, 104)], 59,
                      [(0, 110), (10, 100), (20, 106), (30, 94), (40, 104), (50, 91), (65, 104)]),
    "cup_handle": ([(0, 90), (10, 100), (40, 85), (70, 100.5), (78, 96), (85, 104)], 82,
                   [(0, 90), (10, 100), (40, 85), (70, 100.5), (78, 88), (85, 104)]),  # handle too deep
    "bull_flag": ([(0, 100), (10, 112), (16, 110), (17, 113)], 17,
                  [(0, 100), (10, 104), (16, 103), (17, 105)]),  # pole too short
    "bear_flag": ([(0, 100), (10, 89), (16, 91), (17, 87)], 17,
                  [(0, 100), (10, 89), (16, 96), (17, 87)]),  # flag retraces too much
}


def test_every_pattern_has_a_case():
    assert set(CASES) == set(PATTERNS)


@pytest.mark.parametrize("name", PATTERNS)
def test_pattern_when_built_in_then_found_at_confirmation_and_near_miss_not(name):
    points, at, miss = CASES[name]
    hits = detect(path(points))[name][0]
    assert np.flatnonzero(hits.numpy()).tolist() == [at]
    assert not detect(path(miss))[name].any()


def test_many_series_when_batched_then_each_as_alone_and_no_look_ahead():
    series = [path(CASES[n][0]) for n in PATTERNS]
    T = max(len(s) for s in series) + 20
    block = np.stack([np.concatenate([s, np.full(T - len(s), s[-1])]) for s in series])
    got = detect(block, PatternParams())
    for i, name in enumerate(PATTERNS):
        alone = detect(block[i])
        for p in PATTERNS:
            assert torch.equal(got[p][i], alone[p][0])
        assert got[name][i, CASES[name][1]]
    rng = np.random.default_rng(0)
    cut = 45
    later = block.copy()
    later[:, cut + 1:] *= rng.uniform(0.8, 1.2, size=later[:, cut + 1:].shape)
    moved = detect(later)
    for p in PATTERNS:
        assert torch.equal(moved[p][:, :cut + 1], got[p][:, :cut + 1])


PATTERN_USER = '''
from engines.strategy.api import Strategy


class PatternUser(Strategy):
    def on_bar(self, bar):
        for name in self.ctx.chart_patterns(bar.symbol, lookback=120):
            self.ctx.state.setdefault("seen", []).append([name, bar.index])
'''


def test_strategy_when_it_asks_for_patterns_then_gets_those_confirmed_at_its_bar(tmp_path, monkeypatch):
    from engines.strategy import registry
    from engines.strategy.backtest import BarData, run_event

    monkeypatch.setenv("NAUTILUS_STRATEGY_DIR", str(tmp_path))
    (tmp_path / "pattern_user.py").write_text(PATTERN_USER)
    x = path(CASES["head_shoulders"][0])
    r = run_event(registry.load("pattern_user").cls, {}, {"P": BarData.from_close(np.arange(x.size) * 10**9, x)})
    assert ["head_shoulders", 57] in r.state["seen"]
    assert all(i == 57 or n != "head_shoulders" for n, i in r.state["seen"])
