"""The strategy engine through a real gateway with scoped keys, on real sample data (arch's S&P 500
loaded by the market data engine's own ``load_samples``) in PostgreSQL: the strategies directory,
synchronous and queued backtests stored and read back, and every bad input a 4xx naming the field."""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from backend.auth import keys
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(300)
ENGINE_PID = [0]
READ_KEY = "ntk_test-strategy-read-only-0123456789abcdef"
COMPUTE_KEY = "ntk_test-strategy-compute-only-0123456789abcd"
SYM = "^GSPC"
SMA = {"strategy": "sma_cross", "params": {"fast": 20, "slow": 50}, "symbols": [SYM], "timeframe": "1d",
       "options": {"taker_fee_bps": 1.0, "slippage_ticks": 1, "lot_size": 0.0001}}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url, admin_key):  # noqa: ANN001, ANN201
    settings = instance_settings(database_url=database_url, redis_url=redis_url)
    with TestClient(make_engine_app(load_engine("marketdata"), settings), headers=INTERNAL_HEADERS) as md:
        r = md.post("/api/v1/marketdata/load_samples", json={"datasets": ["arch_sp500"]})
        assert r.status_code == 200, r.text

    async def make_keys() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for name, scope, key in (("strategy-read", "read", READ_KEY), ("strategy-compute", "compute", COMPUTE_KEY)):
                if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys WHERE name = $1)", name):
                    await keys.create_key(conn, name, [scope], key=key)
        finally:
            await conn.close()

    asyncio.run(make_keys())
    tmp = tmp_path_factory.mktemp("strategy")
    st_port, gw_port = free_port(), free_port()
    env = base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_STRATEGY=str(st_port),
                   NAUTILUS_PORT_GATEWAY=str(gw_port), NAUTILUS_NATIVE_ENABLED="false", NAUTILUS_JOB_WORKERS="1")
    st = Proc("strategy", "engines.strategy", env, st_port, tmp / "strategy.log").start()
    ENGINE_PID[0] = st.popen.pid
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp / "gw.log").start()
    yield f"http://127.0.0.1:{gw_port}/api/v1/strategy"
    gw.stop()
    st.stop()


def call(url: str, op: str, body: dict, key: str = COMPUTE_KEY) -> httpx.Response:
    return httpx.post(f"{url}/{op}", json=body, headers={"X-API-Key": key}, timeout=120)


def test_strategies_when_listed_with_read_key_then_versions_and_typed_params(platform):
    r = call(platform, "list_strategies", {}, READ_KEY)
    assert r.status_code == 200, r.text
    items = {s["name"]: s for s in r.json()["items"]}
    assert {"sma_cross", "rsi_reversion", "bollinger_reversion"} <= set(items)
    sma = items["sma_cross"]
    assert len(sma["version"]) == 16 and sma["vectorised"] and sma["kind"] == "signal"
    assert sma["params"]["fast"] == {"type": "int", "default": 20, "low": 2.0, "high": 500.0, "step": 1.0,
                                     "choices": None, "doc": "fast SMA period (bars)"}
    assert call(platform, "list_strategies", {}, COMPUTE_KEY).status_code == 403
    d = call(platform, "describe_strategy", {"strategy": "bollinger_reversion"}, READ_KEY).json()
    assert d["kind"] == "event" and not d["vectorised"] and "stop" in d["doc"]


def test_backtest_when_run_then_stored_and_read_back_equal(platform):
    r = call(platform, "run_backtest", SMA)
    assert r.status_code == 200, r.text
    b = r.json()
    m = b["metrics"]
    assert m["bars"] == 5031 and m["trade_count"] == len(b["trades"]) > 10
    assert len(b["equity"]["equity"]) == 5031 and b["equity"]["equity"][-1] == pytest.approx(m["final_value"])
    assert all(o["status"] == "filled" for o in b["orders"]) and m["fees"] > 0
    assert call(platform, "get_backtest", {"backtest_id": b["backtest_id"]}, COMPUTE_KEY).status_code == 403
    got = call(platform, "get_backtest", {"backtest_id": b["backtest_id"]}, READ_KEY).json()
    assert got["trades"] == b["trades"] and got["metrics"] == m and got["equity"] == b["equity"]
    listed = call(platform, "list_backtests", {"strategy": "sma_cross"}, READ_KEY).json()["items"]
    assert listed[0]["backtest_id"] == b["backtest_id"] and listed[0]["version"] == b["version"]
    vec = call(platform, "run_backtest", {**SMA, "engine": "vector", "options": {**SMA["options"], "lot_size": None}})
    assert vec.status_code == 200, vec.text
    assert [t["entry_ts_ns"] for t in vec.json()["trades"]] == [t["entry_ts_ns"] for t in b["trades"]]


def test_backtest_when_submitted_as_job_then_progress_and_stored_result(platform):
    r = call(platform, "submit_backtest", {**SMA, "strategy": "rsi_reversion", "params": {}})
    assert r.status_code == 200, r.text
    job = r.json()
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = call(platform, "get_job", {"job_id": job["id"]}, READ_KEY).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["metrics"]["bars_total"] == 5031 and job["progress"] == 1.0
    got = call(platform, "get_backtest", {"backtest_id": job["result"]["backtest_id"]}, READ_KEY).json()
    assert got["strategy"] == "rsi_reversion" and got["metrics"] == job["result"]["metrics"]
    again = call(platform, "cancel_job", {"job_id": job["id"]})
    assert again.status_code == 409


@pytest.mark.parametrize("op,body,status,field", [
    ("run_backtest", {**SMA, "strategy": "no_such_strategy"}, 404, "strategy"),
    ("run_backtest", {**SMA, "params": {"fast": 1}}, 422, "params.fast"),
    ("run_backtest", {**SMA, "params": {"fast": 60, "slow": 50}}, 422, "params.fast"),
    ("run_backtest", {**SMA, "params": {"nope": 3}}, 422, "params.nope"),
    ("run_backtest", {**SMA, "symbols": ["NOBARS"]}, 422, "symbols.0"),
    ("run_backtest", {**SMA, "start": "2030-01-01T00:00:00Z"}, 422, "start"),
    ("run_backtest", {**SMA, "start": "2010-01-01T00:00:00Z", "end": "2010-02-01T00:00:00Z"}, 422, "start"),
    ("run_backtest", {**SMA, "strategy": "bollinger_reversion", "params": {}, "engine": "vector"}, 422, "strategy"),
    ("submit_backtest", {**SMA, "params": {"slow": 5000}}, 422, "params.slow"),
    ("get_backtest", {"backtest_id": 999999}, 404, "backtest_id"),
    ("get_job", {"job_id": "abcdef"}, 404, "job_id"),
])
def test_bad_input_when_sent_then_4xx_problem_naming_the_field(platform, op, body, status, field):
    key = READ_KEY if op.startswith("get") else COMPUTE_KEY
    r = call(platform, op, body, key)
    assert r.status_code == status, r.text
    p = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in p.get("errors", [])] or p.get("field") == field, p


def test_sweep_when_run_then_trials_overfitting_and_walk_forward(platform):
    body = {"strategy": "sma_cross", "symbols": [SYM], "engine": "vector", "options": {"taker_fee_bps": 1.0},
            "space": {"fast": {"low": 10, "high": 40, "step": 10}, "slow": [50, 100, 200]},
            "walk_forward": {"train_bars": 2000, "test_bars": 750}}
    r = call(platform, "run_sweep", body)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["trials"] == 12 and s["skipped"] == 0 and len(s["results"]) == 12
    assert s["best"] == s["results"][s["best_index"]]
    assert s["best"]["metrics"]["sharpe"] == max(t["metrics"]["sharpe"] for t in s["results"])
    assert 0 <= s["pbo"]["pbo"] <= 1 and s["deflated_sharpe"]["trials"] == 12
    assert len(s["walk_forward"]["folds"]) == 4 and s["walk_forward"]["out_of_sample"]["bars"] == 3000
    job = call(platform, "submit_sweep", {**body, "engine": "event", "workers": 2, "walk_forward": None,
                                          "space": {"fast": [10, 20], "slow": [50, 100]}}).json()
    deadline = time.monotonic() + 240
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = call(platform, "get_job", {"job_id": job["id"]}, READ_KEY).json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["trials"] == 4 and job["metrics"]["trials_total"] == 4
    by = {(t["params"]["fast"], t["params"]["slow"]): t["metrics"] for t in s["results"]}
    for t in job["result"]["results"]:  # event-driven trials in the pool = the vectorised ones
        assert t["metrics"]["trade_count"] == by[(t["params"]["fast"], t["params"]["slow"])]["trade_count"]
    bad = call(platform, "run_sweep", {**body, "space": {"fast": {"low": 2, "high": 500, "step": 1},
                                                         "slow": {"low": 3, "high": 2000, "step": 1}}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "space"


def _tree_rss_mb(pid: int) -> float:
    p = psutil.Process(pid)
    return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20


@pytest.mark.slow
def test_jobs_when_many_backtests_queued_then_all_complete_with_bounded_memory_and_queued_one_cancels(platform):
    n = 100 if os.environ.get("NAUTILUS_SLOW") == "1" else 12
    body = {**SMA, "strategy": "rsi_reversion", "params": {}, "start": "2010-01-01T00:00:00Z"}
    ids = [call(platform, "submit_backtest", body).json()["id"] for _ in range(n)]
    last = call(platform, "submit_backtest", {**SMA, "strategy": "bollinger_reversion", "params": {}}).json()
    cancelled = call(platform, "cancel_job", {"job_id": last["id"]})
    assert cancelled.status_code == 200 and cancelled.json()["status"] in ("cancelled", "running")
    peak = 0.0
    deadline = time.monotonic() + 240
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        peak = max(peak, _tree_rss_mb(ENGINE_PID[0]))
        for j in list(pending):
            if call(platform, "get_job", {"job_id": j}, READ_KEY).json()["status"] not in ("queued", "running"):
                pending.discard(j)
        time.sleep(0.5)
    assert not pending
    jobs = call(platform, "list_jobs", {"kind": "backtest", "limit": 500}, READ_KEY).json()["items"]
    by_id = {j["id"]: j for j in jobs}
    assert all(by_id[j]["status"] == "succeeded" for j in ids)
    final = call(platform, "get_job", {"job_id": last["id"]}, READ_KEY).json()
    assert final["status"] == "cancelled" and final["result"] is None
    print(f"{n} queued backtests: engine and job workers peaked at {peak:.0f} MB")
    assert peak < 2048, f"engine and its job workers peaked at {peak:.0f} MB"
