"""Paper trading through the real trading core: a strategy instance in the strategy engine process reads
the live feed, its orders appear in /api/v1/trading under its own strategy id, a drawdown beyond its
rule rolls it back (orders cancelled, position flattened, recorded, event published), a strategy that
raises or hangs stops alone, a restart of the engine resumes a running instance from stored state, and
staged promotion runs validate -> backtest gate -> paper with each stage recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import threading
import time
import uuid

import asyncpg
import httpx
import pytest

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.bus.streams import EVENTS_STRATEGY
from tests.support.access import ADMIN_HEADERS, TEST_INSTANCE
from tests.support.procs import REPO, Proc, base_env, free_port

pytestmark = pytest.mark.timeout(300)
SYM = "PPX"

BUYER = '''
from engines.strategy.api import Param, Strategy


class Buyer(Strategy):
    """Buys ``qty`` at the market on its first bar and holds; counts bars in its state."""

    qty = Param(50, low=1, high=1000)

    def on_bar(self, bar):
        self.ctx.state["bars_seen"] = self.ctx.state.get("bars_seen", 0) + 1
        if self.ctx.position(bar.symbol) == 0 and not self.ctx.open_orders(bar.symbol) \\
                and not self.ctx.state.get("bought"):
            self.ctx.state["bought"] = True
            self.ctx.submit(bar.symbol, "buy", self.p.qty)
            self.ctx.log.info("bought %s", self.p.qty)

    def on_fill(self, fill):
        if fill.side == "buy":
            self.ctx.submit(fill.symbol, "sell", fill.qty, "limit", limit_price=round(fill.price * 1.05, 2), tif="gtc")
'''
CRASHER = '''
from engines.strategy.api import Strategy


class Crasher(Strategy):
    def on_bar(self, bar):
        if bar.index >= 1:
            raise RuntimeError("boom at bar %d" % bar.index)
'''
SLEEPER = '''
import time

from engines.strategy.api import Strategy


class Sleeper(Strategy):
    def on_bar(self, bar):
        time.sleep(30)
'''


class Quotes:
    """Publishes a quote of SYM every 50 ms at the current price, in a thread, until stopped."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url, self.price, self.stop = redis_url, 100.0, threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        bus = Bus.from_url(self.redis_url, prefix=instance_prefix(TEST_INSTANCE))
        try:
            while not self.stop.is_set():
                p = self.price
                await bus.append("md.quotes", f"data.quotes.SIM.{SYM}", "quote",
                                 {"symbol": SYM, "bid": round(p - 0.01, 2), "ask": round(p + 0.01, 2),
                                  "bid_size": 10_000, "ask_size": 10_000, "ts_ns": time.time_ns()})
                await asyncio.sleep(0.05)
        finally:
            await bus.close()


async def _seed(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ($1, 0.01, 1) "
                           "ON CONFLICT (symbol) DO NOTHING", SYM)
        day = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        closes = [100 + 10 * ((i // 20) % 2) + (i % 20) * (0.5 if (i // 20) % 2 == 0 else -0.5) for i in range(400)]
        await conn.executemany("INSERT INTO bars VALUES ($1,'1d',$2,$3,$3,$3,$3,1e5) ON CONFLICT DO NOTHING",
                               [(SYM, day + dt.timedelta(days=i), c) for i, c in enumerate(closes)])
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url, admin_key):  # noqa: ANN001, ANN201
    tmp = tmp_path_factory.mktemp("paper")
    sdir = tmp / "strategies"
    sdir.mkdir()
    for f in (REPO / "strategies").glob("*.py"):
        shutil.copy(f, sdir / f.name)
    shutil.copytree(REPO / "strategies" / "tests", sdir / "tests")
    (sdir / "doomed.py").write_text(BUYER)
    (sdir / "tests" / "test_doomed.py").write_text("def test_doomed():\n    assert 1 == 2\n")
    (sdir / "buyer.py").write_text(BUYER)
    (sdir / "crasher.py").write_text(CRASHER)
    (sdir / "sleeper.py").write_text(SLEEPER)
    asyncio.run(_seed(database_url))
    st_port, gw_port = free_port(), free_port()
    env = base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_STRATEGY=str(st_port),
                   NAUTILUS_PORT_GATEWAY=str(gw_port), NAUTILUS_NATIVE_ENABLED="false",
                   NAUTILUS_STRATEGY_DIR=str(sdir), NAUTILUS_STRATEGY_CALLBACK_TIMEOUT_S="1")
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp / "gw.log").start()
    quotes = Quotes(redis_url)
    quotes.thread.start()
    url = f"http://127.0.0.1:{gw_port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the trading core has the instrument's book once it read a quote
        venues = httpx.get(f"{url}/api/v1/trading/venues", headers=ADMIN_HEADERS).json()["items"]
        if any(SYM in v["instruments"] for v in venues):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the trading core never saw the quotes")
    st = Proc("strategy", "engines.strategy", env, st_port, tmp / "strategy.log").start()
    out = {"url": url, "quotes": quotes, "env": env, "port": st_port, "tmp": tmp, "proc": [st]}
    yield out
    quotes.stop.set()
    out["proc"][0].stop()
    gw.stop()


def op(platform: dict, name: str, body: dict, ok: int = 200) -> dict:
    r = httpx.post(f"{platform['url']}/api/v1/strategy/{name}", json=body, headers=ADMIN_HEADERS, timeout=120)
    assert r.status_code == ok, r.text
    return r.json()


def account(platform: dict, cash: float = 1_000_000) -> str:
    acct = f"PP{uuid.uuid4().hex[:8]}".upper()
    r = httpx.post(f"{platform['url']}/api/v1/trading/accounts", headers=ADMIN_HEADERS,
                   json={"id": acct, "name": "paper", "starting_cash": cash})
    assert r.status_code == 201, r.text
    return acct


def wait(fn, timeout_s: float = 30.0, every_s: float = 0.2):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(every_s)
    pytest.fail(f"condition not met within {timeout_s}s")


def test_paper_when_started_then_orders_in_trading_core_and_drawdown_rolls_back(platform, redis_url):
    acct = account(platform)
    inst = op(platform, "start_paper", {"strategy": "buyer", "account_id": acct, "symbols": [SYM],
                                        "bar_seconds": 0.5, "capital": 10_000,
                                        "rule": {"max_drawdown_pct": 5, "flatten_on_rollback": True}})
    iid, sid = inst["instance_id"], inst["strategy_id"]
    assert inst["status"] == "running" and sid == f"buyer.{iid}"
    orders = wait(lambda: [o for o in httpx.get(f"{platform['url']}/api/v1/trading/orders", headers=ADMIN_HEADERS,
                                                params={"account_id": acct, "strategy": sid}).json()["items"]
                           if o["status"] == "filled"])
    assert orders[0]["side"] == "buy" and orders[0]["qty"] == 50
    st = wait(lambda: (s := op(platform, "paper_status", {"instance_id": iid}))["open_orders"] and s)
    assert st["positions"][0]["qty"] == 50 and st["open_orders"][0]["type"] == "limit"
    assert any("bought 50" in line["message"] for line in st["logs"])
    platform["quotes"].price = 85.0  # 50 x -15 = -750 on 10,000 of capital: a 7.5% drawdown
    done = wait(lambda: (s := op(platform, "paper_status", {"instance_id": iid}))["status"] != "running" and s)
    platform["quotes"].price = 100.0
    assert done["status"] == "rolled_back" and "drawdown" in done["error"]
    pos = httpx.get(f"{platform['url']}/api/v1/trading/positions", headers=ADMIN_HEADERS,
                    params={"account_id": acct, "strategy": sid}).json()["items"]
    assert abs(pos[0]["qty"]) < 1e-9  # flattened
    all_orders = httpx.get(f"{platform['url']}/api/v1/trading/orders", headers=ADMIN_HEADERS,
                           params={"account_id": acct, "strategy": sid}).json()["items"]
    assert {o["status"] for o in all_orders if o["type"] == "limit"} == {"cancelled"}
    rec = op(platform, "list_promotions", {"strategy": "buyer"})["items"]
    assert rec[0]["outcome"] == "rolled_back" and rec[0]["instance_id"] == iid and "drawdown" in rec[0]["evidence"][
        "reason"]

    async def events() -> list:
        bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
        try:
            resp = await bus.redis.xrange(bus.key(EVENTS_STRATEGY))
            return [e for e in bus.entries([(bus.key(EVENTS_STRATEGY).encode(), resp)])
                    if e.envelope.payload["instance_id"] == iid]
        finally:
            await bus.close()

    assert [e.envelope.type for e in asyncio.run(events())] == ["started", "rolled_back"]


@pytest.mark.parametrize("name,error", [("crasher", "on_bar raised RuntimeError: boom"),
                                        ("sleeper", "watchdog: on_bar ran longer than 1.0s")])
def test_paper_when_strategy_raises_or_hangs_then_it_stops_alone(platform, name, error):
    acct = account(platform)
    healthy = op(platform, "start_paper", {"strategy": "buyer", "account_id": acct, "symbols": [SYM],
                                           "bar_seconds": 0.5, "capital": 100_000})
    bad = op(platform, "start_paper", {"strategy": name, "account_id": acct, "symbols": [SYM], "bar_seconds": 0.5})
    done = wait(lambda: (s := op(platform, "paper_status", {"instance_id": bad["instance_id"]}))["status"] != "running"
                and s)
    assert done["status"] == "failed" and done["error"].startswith(error)
    before = op(platform, "paper_status", {"instance_id": healthy["instance_id"]})["bars"]
    wait(lambda: op(platform, "paper_status", {"instance_id": healthy["instance_id"]})["bars"] > before + 1)
    stopped = op(platform, "stop_paper", {"instance_id": healthy["instance_id"], "flatten": True})
    assert stopped["status"] == "stopped"
    op(platform, "stop_paper", {"instance_id": healthy["instance_id"]}, ok=409)


def test_engine_when_restarted_then_running_instance_resumes_with_its_state(platform):
    acct = account(platform)
    inst = op(platform, "start_paper", {"strategy": "buyer", "account_id": acct, "symbols": [SYM],
                                        "bar_seconds": 0.5, "capital": 100_000, "rule": {"max_drawdown_pct": 50}})
    iid = inst["instance_id"]
    seen = wait(lambda: op(platform, "paper_status", {"instance_id": iid})["state"].get("bars_seen", 0) >= 3)
    assert seen
    platform["proc"][0].stop()
    st = Proc("strategy", "engines.strategy", platform["env"], platform["port"], platform["tmp"] / "strategy2.log")
    platform["proc"][0] = st.start()
    after = op(platform, "paper_status", {"instance_id": iid})
    assert after["status"] == "running" and after["state"]["bars_seen"] >= 3 and after["state"]["bought"]
    n = after["state"]["bars_seen"]
    wait(lambda: op(platform, "paper_status", {"instance_id": iid})["state"]["bars_seen"] > n)
    orders = httpx.get(f"{platform['url']}/api/v1/trading/orders", headers=ADMIN_HEADERS,
                       params={"account_id": acct, "strategy": inst["strategy_id"]}).json()["items"]
    assert sum(o["side"] == "buy" for o in orders) == 1  # resumed, not restarted: no second entry
    op(platform, "stop_paper", {"instance_id": iid})


def test_promotion_when_gate_passes_then_paper_and_when_it_fails_then_no_instance(platform):
    acct = account(platform)
    base = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20},
            "backtest": {"strategy": "sma_cross", "symbols": [SYM], "options": {"lot_size": 0.01}},
            "paper": {"strategy": "sma_cross", "account_id": acct, "symbols": [SYM], "bar_seconds": 0.5}}
    ok = op(platform, "promote_strategy", {**base, "gate": {"min_sharpe": None, "max_drawdown": 0.9, "min_trades": 1}})
    assert ok["outcome"] == "passed"
    assert [s["stage"] for s in ok["stages"]] == ["validate", "unit", "backtest", "paper"]  # sma_cross has tests
    assert ok["stages"][1]["evidence"]["exit_code"] == 0 and "1 passed" in ok["stages"][1]["evidence"]["output"][-1]
    assert ok["instance"]["status"] == "running" and ok["stages"][2]["evidence"]["backtest_id"] == ok["backtest_id"]
    op(platform, "stop_paper", {"instance_id": ok["instance"]["instance_id"]})
    no = op(platform, "promote_strategy", {**base, "gate": {"min_sharpe": 50.0}})
    assert no["outcome"] == "failed" and no["instance"] is None and no["stages"][-1]["outcome"] == "failed"
    assert "sharpe" in no["stages"][-1]["evidence"]["failed"][0]
    rec = op(platform, "list_promotions", {"strategy": "sma_cross"})["items"]
    assert [r["stage"] for r in rec[:3]] == ["backtest", "unit", "validate"] and rec[0]["outcome"] == "failed"
    doomed = op(platform, "promote_strategy", {**base, "strategy": "doomed", "params": {}})
    assert doomed["outcome"] == "failed" and [s["stage"] for s in doomed["stages"]] == ["validate", "unit"]
    assert doomed["stages"][1]["outcome"] == "failed" and doomed["backtest_id"] is None


def test_rollback_when_an_earlier_version_passed_paper_then_it_runs_again_from_its_stored_source(platform):
    acct = account(platform)
    sdir = platform["tmp"] / "strategies"
    base = {"strategy": "buyer", "params": {"qty": 40},
            "backtest": {"strategy": "buyer", "symbols": [SYM], "options": {"lot_size": 1}},
            "gate": {"min_sharpe": None, "max_drawdown": 0.99, "min_trades": 0},
            "paper": {"strategy": "buyer", "account_id": acct, "symbols": [SYM], "bar_seconds": 0.5,
                      "capital": 10_000, "rule": {"max_drawdown_pct": 5}}}
    v1 = op(platform, "promote_strategy", base)
    assert v1["outcome"] == "passed", v1["stages"]
    op(platform, "stop_paper", {"instance_id": v1["instance"]["instance_id"], "flatten": True})
    (sdir / "buyer.py").write_text(BUYER + "\n# v2: same rules, a new version\n")
    try:
        v2 = op(platform, "promote_strategy", {**base, "params": {"qty": 50}})
        assert v2["outcome"] == "passed" and v2["version"] != v1["version"]
        iid = v2["instance"]["instance_id"]
        wait(lambda: op(platform, "paper_status", {"instance_id": iid})["positions"])
        platform["quotes"].price = 85.0
        wait(lambda: op(platform, "paper_status", {"instance_id": iid})["status"] == "rolled_back")
        platform["quotes"].price = 100.0
        rec = op(platform, "list_promotions", {"strategy": "buyer"})["items"]
        reverted = next(r for r in rec if r["evidence"].get("reverted_from") == v2["version"])
        assert reverted["version"] == v1["version"] and reverted["outcome"] == "passed"
        back = op(platform, "paper_status", {"instance_id": reverted["instance_id"]})
        assert back["status"] == "running" and back["version"] == v1["version"] and back["params"]["qty"] == 40
        op(platform, "stop_paper", {"instance_id": back["instance_id"], "flatten": True})
    finally:
        (sdir / "buyer.py").write_text(BUYER)
        platform["quotes"].price = 100.0


def test_paper_when_paused_then_no_bars_until_resumed(platform):
    acct = account(platform)
    inst = op(platform, "start_paper", {"strategy": "buyer", "account_id": acct, "symbols": [SYM],
                                        "bar_seconds": 0.5, "capital": 100_000})
    iid = inst["instance_id"]
    wait(lambda: op(platform, "paper_status", {"instance_id": iid})["bars"] >= 2)
    paused = op(platform, "pause_paper", {"instance_id": iid})
    assert paused["status"] == "paused" and paused["open_orders"]  # its take-profit order stays
    time.sleep(1.6)
    assert op(platform, "paper_status", {"instance_id": iid})["bars"] == paused["bars"]
    op(platform, "pause_paper", {"instance_id": iid}, ok=409)
    resumed = op(platform, "resume_paper", {"instance_id": iid})
    assert resumed["status"] == "running"
    wait(lambda: op(platform, "paper_status", {"instance_id": iid})["bars"] > paused["bars"])
    op(platform, "resume_paper", {"instance_id": iid}, ok=409)
    assert op(platform, "stop_paper", {"instance_id": iid, "flatten": True})["status"] == "stopped"


def test_promotion_when_swept_then_best_set_promoted_and_gate_holds_dsr_and_out_of_sample(platform):
    acct = account(platform)
    base = {"strategy": "sma_cross",
            "backtest": {"strategy": "sma_cross", "symbols": [SYM], "options": {"lot_size": 0.01}},
            "sweep": {"space": {"fast": [3, 5, 8], "slow": [12, 20]}, "walk_forward": {"train_bars": 200,
                                                                                     "test_bars": 100}},
            "paper": {"strategy": "sma_cross", "account_id": acct, "symbols": [SYM], "bar_seconds": 0.5}}
    ok = op(platform, "promote_strategy", {**base, "gate": {"min_sharpe": None, "max_drawdown": 0.99, "min_trades": 0,
                                                            "min_deflated_sharpe": 0.0, "min_oos_sharpe": -100.0}})
    assert [s["stage"] for s in ok["stages"]] == ["validate", "unit", "sweep", "backtest", "paper"], ok["stages"]
    sweep = ok["stages"][2]["evidence"]
    assert sweep["trials"] == 6 and sweep["out_of_sample"]["bars"] == 200 and 0 <= sweep["deflated_sharpe"] <= 1
    best = sweep["best"]["params"]
    assert ok["instance"]["params"]["fast"] == best["fast"] and ok["instance"]["params"]["slow"] == best["slow"]
    op(platform, "stop_paper", {"instance_id": ok["instance"]["instance_id"]})
    no = op(platform, "promote_strategy", {**base, "gate": {"min_sharpe": None, "max_drawdown": 0.99,
                                                            "min_oos_sharpe": 100.0}})
    assert no["outcome"] == "failed" and "out-of-sample Sharpe" in no["stages"][-1]["evidence"]["failed"][0]
    bare = op(platform, "promote_strategy", {**base, "sweep": None, "gate": {"min_deflated_sharpe": 0.5}})
    assert bare["outcome"] == "failed" and "(no sweep)" in bare["stages"][-1]["evidence"]["failed"][-1]


FLIPPER = """
from engines.strategy.api import Strategy


class Flipper(Strategy):
    '''Buys 10 when flat and sells them on the next bar: each round trip pays the spread and the fees.'''

    def on_bar(self, bar):
        if self.ctx.open_orders(bar.symbol):
            return
        pos = self.ctx.position(bar.symbol)
        self.ctx.submit(bar.symbol, "sell" if pos > 0 else "buy", pos if pos > 0 else 10)
"""


def test_paper_when_losing_round_trips_in_a_row_then_rolled_back(platform):
    (platform["tmp"] / "strategies" / "flipper.py").write_text(FLIPPER)
    acct = account(platform)
    inst = op(platform, "start_paper", {"strategy": "flipper", "account_id": acct, "symbols": [SYM],
                                        "bar_seconds": 0.5, "rule": {"max_drawdown_pct": None,
                                                                     "max_consecutive_losses": 3}})
    done = wait(lambda: (s := op(platform, "paper_status", {"instance_id": inst["instance_id"]}))["status"]
                != "running" and s, timeout_s=60)
    assert done["status"] == "rolled_back" and "3 losing round trips in a row" in done["error"]
    assert done["state"]["consecutive_losses"] == 3 and done["rule"]["max_consecutive_losses"] == 3
