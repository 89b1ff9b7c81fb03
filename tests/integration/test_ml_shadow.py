"""Champion/challenger in shadow on the live feed, against real PostgreSQL and Redis: bars arriving on
md.bars after the stored history are forecast by both versions with their stored parameters, outcomes are
filled as the next bars arrive, the comparison scores the pairs, and cancelling the job stops the run."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import asyncpg
import numpy as np
import pytest
from arch import arch_model
from fastapi.testclient import TestClient

from backend.bus.streams import MD_BARS
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from engines.marketdata.publisher import bar_topic
from tests.integration.test_ml_registry import call, train, wait_job
from tests.integration.test_ml_volatility import samples  # noqa: F401
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(300)
N_BARS = 40


@pytest.fixture(scope="module")
def client(samples, database_url, redis_url, tmp_path_factory):  # noqa: ANN001, ANN201, F811
    run_dir = tmp_path_factory.mktemp("ml-shadow-run")
    settings = instance_settings(database_url=database_url, redis_url=redis_url, run_dir=run_dir, job_workers=2)
    with TestClient(make_engine_app(load_engine("ml"), settings), headers=INTERNAL_HEADERS) as c:
        yield c


def new_bars() -> list[dict]:
    """Daily bars of ^IXIC after the last stored one (2018-12-31): a random walk from its close."""
    from arch.data import nasdaq

    last = float(nasdaq.load()["Close"].iloc[-1])
    r = np.random.default_rng(8).standard_t(5, N_BARS) * 0.012
    close = last * np.exp(np.cumsum(r))
    day0 = dt.datetime(2019, 1, 2, 21, tzinfo=dt.UTC)
    return [{"symbol": "^IXIC", "timeframe": "1d", "ts_ns": int((day0 + dt.timedelta(days=i)).timestamp() * 1e9),
             "open": c, "high": c, "low": c, "close": c, "volume": 0.0} for i, c in enumerate(close.tolist())]


async def publish(redis_url: str, bars: list[dict]) -> None:
    from backend.bus import Bus
    from backend.bus.redis_bus import instance_prefix
    from tests.support.access import TEST_INSTANCE

    b = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    try:
        await b.append(MD_BARS, bar_topic("1d", "OTHER"), "bar", {**bars[0], "symbol": "OTHER"})  # not followed
        for bar in bars:
            await b.append(MD_BARS, bar_topic("1d", "^IXIC"), "bar", bar)
    finally:
        await b.close()


async def stored(database_url: str, shadow_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT role, version, origin_ts, variance, outcome FROM ml_shadow_predictions "
                                "WHERE shadow_id = $1 ORDER BY origin_ts, role", shadow_id)
    finally:
        await conn.close()


def test_shadow_when_bars_arrive_then_both_forecast_outcomes_filled_and_compared(client, database_url, redis_url):
    train(client, "ixic-shadow", {"model_type": "gjr_garch"})
    train(client, "ixic-shadow", {"model_type": "ewma"})
    call(client, "promote_model_version", {"name": "ixic-shadow", "version": 1})
    r = call(client, "start_shadow", {"name": "ixic-shadow", "challenger": 2, "symbol": "^IXIC"})
    assert r.status_code == 200, r.text
    shadow_id = r.json()["id"]
    wait_job(client, shadow_id, ("running",))
    assert call(client, "compare_shadow", {"shadow_id": shadow_id}).status_code == 409  # no bar seen yet
    bars = new_bars()
    asyncio.run(publish(redis_url, bars))
    deadline = time.monotonic() + 120
    while len(rows := asyncio.run(stored(database_url, shadow_id))) < 2 * N_BARS:
        assert time.monotonic() < deadline, len(rows)
        time.sleep(0.3)
    assert {r["role"] for r in rows} == {"champion", "challenger"}
    assert sum(r["outcome"] is None for r in rows) == 2  # the last bar's forecasts wait for the next bar
    # the champion's forecast at the first new bar = arch with its stored parameters over history + that bar
    from arch.data import nasdaq

    hist = nasdaq.load()["Close"].to_numpy()[-1001:]
    closes = np.append(hist, bars[0]["close"])
    train_close = nasdaq.load()["Close"]
    train_r = np.diff(np.log(train_close[train_close.index <= "2012-12-31"].to_numpy()))
    params = arch_model(100 * train_r, vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off").params
    want = arch_model(100 * np.diff(np.log(closes)), vol="GARCH", p=1, o=1, q=1, dist="t").fix(params).forecast(
        horizon=1, reindex=False).variance.to_numpy()[-1, 0] / 1e4
    assert rows[0]["role"] == "challenger" and rows[1]["role"] == "champion"
    assert rows[1]["variance"] == pytest.approx(want, rel=1e-6)
    assert rows[0]["outcome"] == pytest.approx(np.log(bars[1]["close"] / bars[0]["close"]) ** 2, rel=1e-12)
    c = call(client, "compare_shadow", {"shadow_id": shadow_id})
    assert c.status_code == 200, c.text
    b = c.json()
    assert b["n_forecasts"] == N_BARS - 1 and b["pending"] == 1 and b["champion_version"] == 1
    assert b["challenger_version"] == 2 and len(b["diebold_mariano"]) == 2 and b["verdict"].startswith("in shadow")
    assert call(client, "cancel_job", {"job_id": shadow_id}).status_code == 200
    assert wait_job(client, shadow_id)["status"] == "cancelled"


def test_compare_shadow_when_unknown_then_404(client):
    r = call(client, "compare_shadow", {"shadow_id": "abc123"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "shadow_id"
