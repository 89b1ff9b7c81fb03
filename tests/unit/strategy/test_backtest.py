"""The event-driven backtest: no look-ahead (changing bar t+1 changes no decision at t), typed
parameters refused out of range, strategies versioned by their file's content, and the trading
core's order types inside bars (limit at its price when traded through, stop at the path point)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.errors import InvalidInput, NotFound
from engines.strategy import registry
from engines.strategy.backtest import BacktestConfig, BarData, EventBacktest, run_event
from engines.strategy.handlers import canned_bars

pytestmark = pytest.mark.timeout(120)


def decisions(name: str, params: dict, bars: BarData, cfg: BacktestConfig) -> list[tuple]:
    """Every submit/amend/cancel the strategy made, with the bar time it made it at."""
    run = EventBacktest(registry.load(name).cls, params, {"X": bars}, cfg, name)
    seen: list[tuple] = []
    for verb in ("submit", "amend", "cancel"):
        real = getattr(run, verb)

        def spy(*a, _real=real, _verb=verb, **kw):  # noqa: ANN002, ANN003, ANN202
            seen.append((run.now, _verb, a, tuple(sorted(kw.items()))))
            return _real(*a, **kw)

        setattr(run, verb, spy)
    run.run()
    return seen


@pytest.mark.parametrize("fill_at", ["close", "next_open"])
@pytest.mark.parametrize("name,params", [("sma_cross", {"fast": 5, "slow": 20}), ("rsi_reversion", {"period": 7}),
                                         ("bollinger_reversion", {"period": 10}), ("donchian_breakout", {}),
                                         ("ts_momentum", {"lookback": 20})])
def test_decisions_when_bar_after_t_changes_then_decisions_up_to_t_unchanged(name, params, fill_at):
    bars = canned_bars(400)
    cfg = BacktestConfig(lot_size=1e-6, taker_fee_bps=5, slippage_ticks=1, fill_at=fill_at)
    base = decisions(name, params, bars, cfg)
    assert len(base) > 4
    rng = np.random.default_rng(3)
    for t in (150, 250, 320):
        later = slice(t + 1, None)
        moved = BarData(bars.ts.copy(), bars.open.copy(), bars.high.copy(), bars.low.copy(), bars.close.copy(),
                        bars.volume.copy())
        shock = rng.uniform(0.7, 1.3, moved.close[later].size)
        for f in ("open", "high", "low", "close"):
            getattr(moved, f)[later] *= shock
        changed = decisions(name, params, moved, cfg)
        cut = int(bars.ts[t])
        assert [d for d in changed if d[0] <= cut] == [d for d in base if d[0] <= cut]
        assert changed != base  # the shock did change what came after


def test_params_when_out_of_range_or_unknown_then_invalid_naming_the_field():
    cls = registry.load("sma_cross").cls
    assert cls.resolve({"fast": 5.0}) == {"fast": 5, "slow": 50, "fraction": 1.0}
    for bad, field in (({"fast": 1}, "params.fast"), ({"slow": 2001}, "params.slow"), ({"fast": 2.5}, "params.fast"),
                       ({"fast": "x"}, "params.fast"), ({"fast": 50, "slow": 40}, "params.fast"),
                       ({"speed": 3}, "params.speed"), ({"fraction": 0}, "params.fraction")):
        with pytest.raises(InvalidInput) as e:
            cls.resolve(bad)
        assert e.value.field == field, bad


def test_registry_when_file_edited_then_new_version_and_broken_file_listed_with_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NAUTILUS_STRATEGY_DIR", str(tmp_path))
    src = tmp_path
    body = (registry.REPO / "strategies" / "sma_cross.py").read_text()
    (src / "mine.py").write_text(body)
    v1 = registry.load("mine").version
    (src / "mine.py").write_text(body + "\n# tuned\n")
    v2 = registry.load("mine")
    assert v1 != v2.version and len(v2.version) == 16
    with pytest.raises(InvalidInput) as e:
        registry.load("mine", version=v1)
    assert e.value.field == "version"
    (src / "broken.py").write_text("import nothing_such_module\n")
    cat = {s["name"]: s for s in registry.catalog()}
    assert "nothing_such_module" in cat["broken"]["error"] and cat["mine"]["version"] == v2.version
    with pytest.raises(NotFound):
        registry.load("absent")
    with pytest.raises(InvalidInput):
        registry.load("../etc")


ORDERS = '''
from engines.strategy.api import Param, Strategy


class Orders(Strategy):
    """Bar 1: a buy limit at 95 and, once long, a sell stop at 90."""

    qty = Param(10, low=1, high=100)

    def on_bar(self, bar):
        if bar.index == 1:
            self.ctx.submit(bar.symbol, "buy", self.p.qty, "limit", limit_price=95.0, tif="gtc")

    def on_fill(self, fill):
        if fill.side == "buy":
            self.ctx.submit(fill.symbol, "sell", fill.qty, "stop", stop_price=90.0, tif="gtc")
        self.ctx.state.setdefault("fills", []).append((fill.side, fill.price))
'''


def test_limit_and_stop_when_bar_path_reaches_them_then_fill_inside_the_bar(tmp_path, monkeypatch):
    monkeypatch.setenv("NAUTILUS_STRATEGY_DIR", str(tmp_path))
    (tmp_path / "orders.py").write_text(ORDERS)
    # bar 2 trades down through 95 (limit fills at 95); bar 3 opens at 96, falls to 88 (stop at 90 fires)
    o = np.array([100.0, 100.0, 99.0, 96.0, 89.0])
    h = np.array([101.0, 101.0, 99.5, 97.0, 90.0])
    lo = np.array([99.0, 99.0, 94.0, 88.0, 87.0])
    c = np.array([100.0, 100.0, 96.0, 89.0, 88.0])
    ts = (np.arange(5) * 86_400 * 10**9).astype(np.int64)
    r = run_event(registry.load("orders").cls, {}, {"Z": BarData(ts, o, h, lo, c, np.zeros(5))},
                  BacktestConfig(taker_fee_bps=10, maker_fee_bps=2, slippage_ticks=1), "orders")
    buy, sell = r.fills
    assert (buy["price"], buy["liquidity"], buy["fee"]) == (95.0, "maker", pytest.approx(95.0 * 10 * 2e-4))
    # adaptive path of bar 3: open 96 is nearer the high (97) than the low (88): 96 -> 97 -> 88; the stop
    # triggers at 88 and sells at 88 - one tick of slippage
    assert sell["price"] == pytest.approx(87.99) and sell["liquidity"] == "taker"
    assert r.state["fills"] == [("buy", 95.0), ("sell", pytest.approx(87.99))]
    (trade,) = r.trades
    assert trade["pnl"] == pytest.approx(10 * (87.99 - 95.0) - buy["fee"] - sell["fee"])
    assert r.metrics["final_value"] == pytest.approx(100_000 + trade["pnl"])


def pair(n: int, cointegrated: bool, seed: int = 2) -> dict[str, BarData]:
    rng = np.random.default_rng(seed)
    x = 50 + np.cumsum(rng.normal(0, 0.5, n))
    y = 10 + 1.5 * x + rng.normal(0, 1.0, n) if cointegrated else 80 + np.cumsum(rng.normal(0, 0.7, n))
    ts = (np.arange(n) * 86_400 * 10**9).astype(np.int64)
    return {"YY": BarData.from_close(ts, y), "XX": BarData.from_close(ts, x)}


def test_pairs_when_cointegrated_then_both_legs_trade_and_when_independent_then_rarely():
    cls = registry.load("pairs_trading").cls
    cfg = BacktestConfig(lot_size=1e-4, taker_fee_bps=1)
    r = run_event(cls, {"window": 100}, pair(600, True), cfg, "pairs")
    assert r.state["last_fit"]["beta"] == pytest.approx(1.5, rel=0.1) and r.state["last_fit"]["pvalue"] < 0.05
    legs = {(f["symbol"], f["side"]) for f in r.fills}
    assert {("YY", "short"), ("XX", "buy")} <= legs or {("YY", "buy"), ("XX", "short")} <= legs
    assert r.metrics["closed_trades"] >= 4 and r.metrics["final_value"] > 100_000
    independent = run_event(cls, {"window": 100}, pair(600, False), cfg, "pairs")
    assert independent.metrics["trade_count"] < r.metrics["trade_count"]
    with pytest.raises(InvalidInput):
        run_event(cls, {}, {"YY": pair(300, True)["YY"]}, cfg, "pairs")


def test_market_maker_when_price_oscillates_then_both_sides_fill_as_maker_and_inventory_stays_bounded():
    cls = registry.load("market_maker").cls
    bars = canned_bars(600, seed=3)
    r = run_event(cls, {"size": 5, "max_inventory": 20, "half_spread_bps": 30}, {"MM": bars},
                  BacktestConfig(maker_fee_bps=-0.2, taker_fee_bps=3), "mm")
    sides = {f["side"] for f in r.fills}
    assert "buy" in sides and sides & {"sell", "short"}
    assert {f["liquidity"] for f in r.fills} == {"maker"} and all(f["fee"] <= 0 for f in r.fills)
    assert r.state["max_abs_inventory"] <= 20 + 1e-9
    assert not [o for o in r.orders if o["status"] == "denied"]
