"""Market data ingestion, instruments and queries against real PostgreSQL, through the HTTP service."""

import base64
import uuid

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from backend.service.app import make_engine_app
from engines.marketdata.ops import ENGINE
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(120)
API = "/api/v1/marketdata"


@pytest.fixture(scope="module")
def import_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("imports")


@pytest.fixture(scope="module")
def client(database_url, redis_url, import_dir):
    app = make_engine_app(ENGINE, instance_settings(database_url=database_url, redis_url=redis_url,
                          import_dir=import_dir))
    with TestClient(app, headers=INTERNAL_HEADERS, raise_server_exceptions=False) as c:
        yield c


def sym() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


def post(client, op, body, status=200):
    r = client.post(f"{API}/{op}", json=body)
    assert r.status_code == status, r.text
    return r.json()


def minute_csv(symbol: str, n: int = 30) -> tuple[str, pd.DataFrame]:
    ts = pd.date_range("2024-01-02 14:30", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(0)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    df = pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"), "symbol": symbol, "o": close - 0.05,
                       "h": close + 0.2, "l": close - 0.2, "c": close, "v": rng.integers(1, 100, n)})
    return df.to_csv(index=False), df


def test_instruments_when_upserted_listed_updated_and_deleted_then_round_trip(client):
    s = sym()
    created = post(client, "upsert_instrument", {"symbol": s, "asset_class": "equity", "currency": "EUR",
                                                  "tick_size": 0.005, "lot_size": 10, "sector": "Energy",
                                                  "venues": ["XPAR"]})
    assert created["tick_size"] == 0.005 and created["venues"] == ["XPAR"]
    post(client, "upsert_instrument", {"symbol": s, "sector": "Utilities"})
    got = post(client, "get_instrument", {"symbol": s})
    assert got["sector"] == "Utilities" and got["currency"] == "USD"
    listed = post(client, "list_instruments", {"sector": "Utilities", "limit": 1000})
    assert s in [i["symbol"] for i in listed["instruments"]]
    assert post(client, "delete_instrument", {"symbol": s})["deleted"]
    assert post(client, "get_instrument", {"symbol": s}, 404)["errors"][0]["field"] == "symbol"


def test_instrument_when_tick_size_not_positive_then_422_naming_field(client):
    body = post(client, "upsert_instrument", {"symbol": sym(), "tick_size": 0}, 422)
    assert body["errors"][0]["field"] == "tick_size"


def test_ingest_csv_when_reimported_then_idempotent_and_query_returns_file_values(client):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    csv, df = minute_csv(s)
    req = {"kind": "bars", "content": csv, "timeframe": "1m",
           "columns": {"ts": "timestamp", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}}
    first = post(client, "ingest_file", req)
    assert first["status"] == "committed" and first["rows_inserted"] == 30 and first["quality"]["rows_rejected"] == 0
    again = post(client, "ingest_file", req)
    assert again["rows_inserted"] == 0 and again["rows_updated"] == 0 and again["rows_unchanged"] == 30
    bars = post(client, "query_bars", {"symbol": s, "timeframe": "1m"})
    np.testing.assert_allclose(bars["close"], df["c"].to_numpy())
    assert pd.Timestamp(bars["ts"][0]) == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    stored = post(client, "get_load", {"load_id": first["load_id"]})
    assert stored["quality"]["rows_in"] == 30


def test_query_bars_when_resampled_1m_to_5m_then_equals_hand_aggregation(client):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    csv, df = minute_csv(s, 12)
    post(client, "ingest_file", {"content": csv, "timeframe": "1m", "columns": {
        "ts": "timestamp", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}})
    out = post(client, "query_bars", {"symbol": s, "timeframe": "1m", "resample_to": "5m"})
    assert len(out["ts"]) == 3 and out["timeframe"] == "5m"
    for k in range(3):
        chunk = df.iloc[5 * k: 5 * k + 5]
        assert out["open"][k] == pytest.approx(chunk["o"].iloc[0])
        assert out["high"][k] == pytest.approx(chunk["h"].max())
        assert out["low"][k] == pytest.approx(chunk["l"].min())
        assert out["close"][k] == pytest.approx(chunk["c"].iloc[-1])
        assert out["volume"][k] == pytest.approx(chunk["v"].sum())
    assert post(client, "query_bars", {"symbol": s, "timeframe": "5m", "resample_to": "1m"}, 422)["errors"]


def test_ingest_when_bad_rows_then_rejected_with_reasons_and_only_good_rows_stored(client):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    csv = ("date,open,high,low,close,volume\n2024-01-02,10,11,9,10,100\n2024-01-03,10,9,9,10,100\n"
           "2024-01-06,10,11,9,10,100\n2024-01-04,10,11,9,10,-1\n2024-01-05,10,11,9,10,100\n2024-01-05,10,11,9,10,1\n")
    rep = post(client, "ingest_file", {"content": csv, "symbol": s, "timeframe": "1d", "max_reject_fraction": 0.9,
                                       "session": {"tz": "America/New_York"}})
    q = rep["quality"]
    assert q["rejected_by_reason"] == {"ohlc_inconsistent": 1, "out_of_session": 1, "negative_volume": 1,
                                       "duplicate": 1}
    assert q["rows_accepted"] == 2 and rep["rows_inserted"] == 2
    assert len(post(client, "query_bars", {"symbol": s, "timeframe": "1d"})["ts"]) == 2


def test_ingest_when_reject_share_above_limit_then_nothing_written_and_report_kept(client):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    csv = "date,open,high,low,close\n2024-01-02,10,11,9,10\n2024-01-03,-1,11,9,10\n"
    rep = post(client, "ingest_file", {"content": csv, "symbol": s, "timeframe": "1d", "max_reject_fraction": 0.1})
    assert rep["status"] == "rejected" and rep["load_id"] is not None
    assert post(client, "query_bars", {"symbol": s, "timeframe": "1d"})["ts"] == []
    assert post(client, "get_load", {"load_id": rep["load_id"]})["status"] == "rejected"


def test_ingest_when_dry_run_then_report_without_writes(client):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    rep = post(client, "ingest_file", {"content": "date,open,high,low,close\n2024-01-02,10,11,9,10\n", "symbol": s,
                                       "timeframe": "1d", "dry_run": True})
    assert rep["status"] == "dry_run" and rep["load_id"] is None and rep["quality"]["rows_accepted"] == 1
    assert post(client, "query_bars", {"symbol": s, "timeframe": "1d"})["ts"] == []


def test_ingest_when_symbol_unknown_then_404_and_file_symbols_unknown_then_rows_rejected(client):
    csv = "date,open,high,low,close\n2024-01-02,10,11,9,10\n"
    body = post(client, "ingest_file", {"content": csv, "symbol": sym(), "timeframe": "1d"}, 404)
    assert body["errors"][0]["field"] == "symbol"
    known = sym()
    post(client, "upsert_instrument", {"symbol": known})
    csv2 = f"date,symbol,open,high,low,close\n2024-01-02,{known},10,11,9,10\n2024-01-02,NOPE{known},10,11,9,10\n"
    rep = post(client, "ingest_file", {"content": csv2, "timeframe": "1d", "max_reject_fraction": 0.5})
    assert rep["quality"]["rejected_by_reason"] == {"unknown_symbol": 1} and rep["rows_inserted"] == 1
    rep2 = post(client, "ingest_file", {"content": csv2.replace("2024-01-02", "2024-01-03"), "timeframe": "1d",
                                        "create_instruments": True})
    assert rep2["instruments_created"] == [f"NOPE{known}"] and rep2["rows_inserted"] == 2


@pytest.mark.parametrize("body,field", [
    ({"content": "date,open,high,close\n2024-01-02,1,1,1\n", "timeframe": "1d"}, "columns.low"),
    ({"content": "", "timeframe": "1d"}, "content"),
    ({"content_base64": "%%%notbase64", "timeframe": "1d"}, "content_base64"),
    ({"content": "date,open,high,low,close\n2024-01-02,1,1,1,1\n", "timeframe": "0m"}, "timeframe"),
    ({"content": "date,open,high,low,close\n2024-01-02,1,1,1,1\n"}, "body"),
    ({"path": "../../etc/passwd", "timeframe": "1d"}, "path"),
    ({"content": "x", "path": "a.csv", "timeframe": "1d"}, "body"),
    ({"content": "date,open,high,low,close\n2024-01-02,1,1,1,1\n", "timeframe": "1d", "tz": "Mars/Base"}, "tz"),
])
def test_ingest_when_request_is_bad_then_4xx_naming_the_field(client, body, field):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    r = client.post(f"{API}/ingest_file", json={"symbol": s, **body})
    assert 400 <= r.status_code < 500, r.text
    fields = [e["field"] for e in r.json().get("errors", [])]
    assert any(f == field or f.startswith(field) for f in fields), r.json()


def test_ingest_when_parquet_file_in_import_dir_then_trades_stored_with_seq(client, import_dir):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    ts = pd.to_datetime(["2024-01-02 14:30:00.000001", "2024-01-02 14:30:00.000001", "2024-01-02 14:30:01"], utc=True,
                        format="ISO8601")
    pd.DataFrame({"ts": ts, "price": [10.0, 10.01, 10.02], "size": [5, 6, 7], "side": ["B", "S", "B"],
                  "exchange": ["XNAS"] * 3}).to_parquet(import_dir / "t.parquet")
    rep = post(client, "ingest_file", {"kind": "trades", "path": "t.parquet", "symbol": s})
    assert rep["rows_inserted"] == 3 and rep["source"] == "file:t.parquet"
    ticks = post(client, "query_ticks", {"symbol": s, "kind": "trades"})
    assert ticks["seq"] == [0, 1, 0] and ticks["venue"] == ["XNAS"] * 3
    assert ticks["columns"]["aggressor"] == ["buy", "sell", "buy"]
    again = post(client, "ingest_file", {"kind": "trades", "path": "t.parquet", "symbol": s})
    assert again["rows_unchanged"] == 3


def test_ingest_when_quotes_inline_base64_gzip_csv_then_stored(client):
    import gzip

    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    csv = "ts,bid,ask,bid_size,ask_size\n2024-01-02T14:30:00Z,10,10.01,1,2\n2024-01-02T14:30:01Z,10.02,10.01,1,2\n"
    b64 = base64.b64encode(gzip.compress(csv.encode())).decode()
    rep = post(client, "ingest_file", {"kind": "quotes", "content_base64": b64, "symbol": s,
                                       "max_reject_fraction": 0.5})
    assert rep["quality"]["rejected_by_reason"] == {"crossed_quote": 1} and rep["rows_inserted"] == 1


async def test_ingest_when_database_fails_mid_load_then_nothing_is_written(client, db_pool, database_url):
    """A trigger makes the upsert fail after the instruments insert: the whole load must roll back."""
    s = sym()
    await db_pool.execute(f"""
        CREATE OR REPLACE FUNCTION md_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.symbol = '{s}' AND NEW.close > 10.5 THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER md_test_fail BEFORE INSERT ON bars FOR EACH ROW EXECUTE FUNCTION md_test_fail();""")
    try:
        csv = f"date,symbol,open,high,low,close\n2024-01-02,{s},10,11,9,10\n2024-01-03,{s},10,11,9,11\n"
        loads_before = await db_pool.fetchval("SELECT count(*) FROM marketdata_loads")
        r = client.post(f"{API}/ingest_file", json={"content": csv, "timeframe": "1d", "create_instruments": True})
        assert r.status_code == 500
        assert await db_pool.fetchval("SELECT count(*) FROM bars WHERE symbol = $1", s) == 0
        assert await db_pool.fetchval("SELECT count(*) FROM instruments WHERE symbol = $1", s) == 0
        assert await db_pool.fetchval("SELECT count(*) FROM marketdata_loads") == loads_before
    finally:
        await db_pool.execute("DROP TRIGGER md_test_fail ON bars; DROP FUNCTION md_test_fail();")


def test_delete_instrument_when_data_stored_then_409_unless_purge(client):
    s = sym()
    post(client, "upsert_instrument", {"symbol": s})
    post(client, "ingest_file", {"content": "date,open,high,low,close\n2024-01-02,10,11,9,10\n", "symbol": s,
                                 "timeframe": "1d"})
    assert post(client, "delete_instrument", {"symbol": s}, 409)["errors"][0]["field"] == "purge_data"
    assert post(client, "delete_instrument", {"symbol": s, "purge_data": True})["bars_deleted"] == 1


def test_load_samples_when_loaded_twice_then_rows_match_package_data_and_second_load_is_unchanged(client):
    from arch.data import nasdaq, sp500
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    first = post(client, "load_samples", {})["loads"]
    by = {r["source"].split(":")[1]: r for r in first}
    stocks = load_sp500_dataset()
    assert by["skfolio.datasets.load_sp500_dataset"]["quality"]["rows_in"] == stocks.size == 166_260
    assert by["skfolio.datasets.load_sp500_index"]["quality"]["rows_accepted"] == len(load_sp500_index()) == 8313
    assert by["arch.data.sp500"]["quality"]["rows_accepted"] == len(sp500.load()) == 5031
    assert by["arch.data.nasdaq"]["quality"]["rows_accepted"] == len(nasdaq.load()) == 5031
    for r in first:
        q = r["quality"]
        assert r["status"] == "committed" and q["rows_accepted"] + q["rows_rejected"] == q["rows_in"]
    second = post(client, "load_samples", {})["loads"]
    assert all(r["rows_inserted"] == 0 and r["rows_updated"] == 0 for r in second)
    ixic = post(client, "query_bars", {"symbol": "^IXIC", "timeframe": "1d", "limit": 200_000})
    ref = nasdaq.load()
    np.testing.assert_allclose(ixic["close"], ref["Close"].to_numpy())
    np.testing.assert_allclose(ixic["volume"], ref["Volume"].to_numpy())
    aapl = post(client, "query_bars", {"symbol": "AAPL", "timeframe": "1d", "start": "2022-01-01T00:00:00Z"})
    np.testing.assert_allclose(aapl["close"], stocks.loc["2022-01-01":, "AAPL"].to_numpy())
    assert post(client, "get_instrument", {"symbol": "JPM"})["sector"] == "Financials"
