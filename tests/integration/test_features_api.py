"""The features engine over HTTP, against real PostgreSQL: stored bars, feature sets, live updates, bad input."""

from __future__ import annotations

import datetime as dt

import asyncpg
import numpy as np
import pytest
import talib
from fastapi.testclient import TestClient

from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings
from tests.unit.features.data import sp500_ohlcv

pytestmark = pytest.mark.timeout(120)

BARS = 800
SYMBOLS = ("FT_SPX_A", "FT_SPX_B")


def _bars(offset: int) -> list[tuple]:
    d = sp500_ohlcv()
    t0 = dt.datetime(2000, 1, 3, 21, tzinfo=dt.UTC)
    return [
        (t0 + dt.timedelta(days=i), *(float(d[k][offset + i]) for k in ("open", "high", "low", "close", "volume")))
        for i in range(BARS)
    ]


@pytest.fixture(scope="module")
def client(database_url: str, redis_url: str):
    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM bars WHERE symbol = ANY($1::text[])", list(SYMBOLS))
            await conn.execute("DELETE FROM feature_sets WHERE name LIKE 'ft-%'")
            for j, s in enumerate(SYMBOLS):
                await conn.executemany(
                    "INSERT INTO bars(symbol, timeframe, ts, open, high, low, close, volume) "
                    "VALUES ($1, '1d', $2, $3, $4, $5, $6, $7)",
                    [(s, *b) for b in _bars(1000 + 700 * j)],
                )
        finally:
            await conn.close()

    import asyncio

    asyncio.run(seed())
    app = make_engine_app(load_engine("features"), instance_settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app, headers=INTERNAL_HEADERS) as c:
        yield c


def post(c: TestClient, op: str, body: dict):
    return c.post(f"/api/v1/features/{op}", json=body)


def _arr(vals: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in vals], dtype=float)


def test_list_indicators_when_called_then_reports_source_of_each(client):
    r = post(client, "list_indicators", {})
    assert r.status_code == 200
    by = {i["name"]: i for i in r.json()["indicators"]}
    assert len(by) >= 30 and by["rsi"]["source"] == "talib" and by["vwap"]["source"] == "ours"
    assert by["rsi"]["gpu"] and not by["sar"]["gpu"]


def test_compute_indicators_when_inline_then_equals_talib(client):
    d = sp500_ohlcv()
    body = {
        "series": [{"symbol": "X", "close": d["close"][:300].tolist()}],
        "indicators": [{"name": "rsi", "params": {"timeperiod": 9}}, {"name": "ema", "alias": "fast"}],
    }
    r = post(client, "compute_indicators", body)
    assert r.status_code == 200, r.text
    vals = r.json()["results"][0]["values"]
    np.testing.assert_allclose(_arr(vals["rsi_9"]), talib.RSI(d["close"][:300], 9))
    np.testing.assert_allclose(_arr(vals["fast"]), talib.EMA(d["close"][:300], 20))


@pytest.mark.parametrize(
    ("indicator", "field"),
    [
        ({"name": "sma", "params": {"timeperiod": 0}}, "indicators.0.params.timeperiod"),
        ({"name": "sma", "params": {"timeperiod": 500}}, "indicators.0.params.timeperiod"),
        ({"name": "macd", "params": {"slowperiod": 400}}, "indicators.0.params.slowperiod"),
        ({"name": "wobble"}, "indicators.0.name"),
        ({"name": "atr"}, "series.0.high"),
    ],
)
def test_compute_indicators_when_impossible_request_then_422_naming_field(client, indicator, field):
    body = {"series": [{"symbol": "X", "close": [100.0 + i for i in range(300)]}], "indicators": [indicator]}
    r = post(client, "compute_indicators", body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]


def test_compute_indicators_when_nan_or_negative_price_then_422(client):
    r = post(
        client,
        "compute_indicators",
        {
            "series": [{"symbol": "X", "close": [1.0, -2.0, 3.0]}],
            "indicators": [{"name": "mom", "params": {"timeperiod": 1}}],
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "series.0.close"


def test_feature_set_when_created_read_updated_deleted_then_each_step_persists(client):
    fs = {"name": "ft-core", "description": "core", "indicators": [{"name": "rsi"}, {"name": "bbands"}]}
    assert post(client, "create_feature_set", fs).status_code == 200
    assert post(client, "create_feature_set", fs).status_code == 409
    got = post(client, "get_feature_set", {"name": "ft-core"}).json()
    assert got["version"] == 1 and [i["name"] for i in got["indicators"]] == ["rsi", "bbands"]
    upd = post(client, "update_feature_set", {**fs, "indicators": [{"name": "atr", "params": {"timeperiod": 5}}]})
    assert upd.json()["version"] == 2
    names = [s["name"] for s in post(client, "list_feature_sets", {}).json()["feature_sets"]]
    assert "ft-core" in names
    assert post(client, "delete_feature_set", {"name": "ft-core"}).json()["deleted"] is True
    assert post(client, "get_feature_set", {"name": "ft-core"}).status_code == 404
    assert post(client, "delete_feature_set", {"name": "ft-core"}).status_code == 404


def test_feature_set_when_indicator_invalid_then_422_and_nothing_stored(client):
    r = post(client, "create_feature_set", {"name": "ft-bad", "indicators": [{"name": "rsi", "params": {"x": 1}}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "indicators.0.params.x"
    assert post(client, "get_feature_set", {"name": "ft-bad"}).status_code == 404


def test_compute_stored_when_feature_set_named_then_equals_talib_on_stored_bars(client):
    post(
        client,
        "create_feature_set",
        {
            "name": "ft-stored",
            "indicators": [
                {"name": "adx", "params": {"timeperiod": 10}},
                {"name": "beta", "params": {"timeperiod": 20}},
            ],
        },
    )
    r = post(
        client,
        "compute_stored_indicators",
        {"symbols": list(SYMBOLS), "feature_set": "ft-stored", "benchmark_symbol": SYMBOLS[1]},
    )
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    a = np.array([b[1:] for b in _bars(1000)])
    bench = np.array([b[4] for b in _bars(1700)])
    assert len(res[0]["ts"]) == BARS
    np.testing.assert_allclose(_arr(res[0]["values"]["adx_10.adx"]), talib.ADX(a[:, 1], a[:, 2], a[:, 3], 10))
    np.testing.assert_allclose(_arr(res[0]["values"]["beta_20"]), talib.BETA(bench, a[:, 3], 20))
    assert np.allclose(_arr(res[1]["values"]["beta_20"])[20:], 1.0)  # the benchmark against itself


def test_compute_stored_when_symbol_unknown_then_404_naming_it(client):
    r = post(
        client, "compute_stored_indicators", {"symbols": [SYMBOLS[0], "NOPE_XYZ"], "indicators": [{"name": "sma"}]}
    )
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "symbols.1"


def test_compute_stored_when_feature_set_unknown_then_404(client):
    r = post(client, "compute_stored_indicators", {"symbols": [SYMBOLS[0]], "feature_set": "ft-none"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "feature_set"


def test_update_indicators_when_live_bars_in_chunks_then_equal_stored_batch(client):
    specs = [{"name": n} for n in ("ema", "macd", "kama", "sar", "stoch", "vwap", "obv", "adx")]
    bars = _bars(1000)
    batch = post(client, "compute_stored_indicators", {"symbols": [SYMBOLS[0]], "indicators": specs}).json()
    post(client, "reset_indicator_stream", {"symbol": SYMBOLS[0], "indicators": specs})
    streamed: dict[str, list] = {}
    for start in range(0, BARS, 300):
        chunk = [
            {"ts": b[0].isoformat(), "open": b[1], "high": b[2], "low": b[3], "close": b[4], "volume": b[5]}
            for b in bars[start : start + 300]
        ]
        r = post(client, "update_indicators", {"symbol": SYMBOLS[0], "indicators": specs, "bars": chunk})
        assert r.status_code == 200, r.text
        for k, v in r.json()["values"].items():
            streamed.setdefault(k, []).extend(v)
    assert r.json()["bars_seen"] == BARS
    for k, v in batch["results"][0]["values"].items():
        np.testing.assert_allclose(_arr(streamed[k]), _arr(v), rtol=1e-9, err_msg=k)


def test_update_indicators_when_bar_not_after_last_then_409_and_state_unchanged(client):
    spec = [{"name": "sma", "params": {"timeperiod": 2}}]
    mk = lambda day, c: {"ts": f"2030-01-{day:02d}T00:00:00Z", "open": c, "high": c, "low": c, "close": c}  # noqa: E731
    post(client, "reset_indicator_stream", {"symbol": "LIVE1", "indicators": spec})
    assert post(
        client, "update_indicators", {"symbol": "LIVE1", "indicators": spec, "bars": [mk(1, 10.0), mk(2, 12.0)]}
    ).json()["values"]["sma_2"] == [None, 11.0]
    r = post(client, "update_indicators", {"symbol": "LIVE1", "indicators": spec, "bars": [mk(3, 14.0), mk(2, 1.0)]})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "bars.1.ts"
    r = post(client, "update_indicators", {"symbol": "LIVE1", "indicators": spec, "bars": [mk(3, 14.0)]})
    assert r.json()["values"]["sma_2"] == [13.0] and r.json()["bars_seen"] == 3


def test_update_indicators_when_bar_inconsistent_then_422(client):
    bar = {"ts": "2030-01-01T00:00:00Z", "open": 10.0, "high": 9.0, "low": 8.0, "close": 8.5}
    r = post(client, "update_indicators", {"symbol": "LIVE2", "indicators": [{"name": "sma"}], "bars": [bar]})
    assert r.status_code == 422
