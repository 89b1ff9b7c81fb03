"""Issue 9's bad inputs, each a regression test: a 4xx problem-JSON naming the field, with no
exception text, never a 500 or a JSON null where the schema promises a number."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def call(database_url, redis_url, tmp_path_factory):
    clients = {}
    imports = tmp_path_factory.mktemp("imports")
    for engine in ("analytics", "risk", "factor", "features", "marketdata"):
        app = make_engine_app(load_engine(engine), instance_settings(database_url=database_url, redis_url=redis_url,
                                                                      import_dir=imports))
        clients[engine] = TestClient(app, headers=INTERNAL_HEADERS, raise_server_exceptions=False).__enter__()

    def post(route: str, body: dict | bytes) -> tuple[int, dict]:
        engine = route.split("/")[0]
        kw = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else {
            "json": body}
        r = clients[engine].post(f"/api/v1/{route}", **kw)
        assert r.headers["content-type"].startswith("application/json" if r.status_code < 400
                                                    else "application/problem+json"), r.text
        return r.status_code, r.json()

    yield post
    for c in clients.values():
        c.__exit__(None, None, None)


def problem(status: int, body: dict, expect: int, field: str | None = None) -> None:
    assert status == expect, body
    assert "Traceback" not in str(body) and "Error:" not in body.get("detail", "")
    if field is not None:
        assert any(e["field"] == field for e in body.get("errors", [])), body


def test_performance_when_equity_overflows_then_422_non_finite_result(call):
    s, b = call("analytics/performance", {"equity": [5.96e-08, 4.95e113], "periods_per_year": 492198})
    problem(s, b, 422)
    assert b["code"] == "NON_FINITE_RESULT" and b["errors"][0]["field"].startswith("result.")


@pytest.mark.parametrize("route", ["factor/list_factors", "features/list_feature_sets",
                                   "marketdata/list_instruments"])
def test_list_when_offset_beyond_64_bits_then_422_naming_offset(call, route):
    problem(*call(route, {"offset": 2**70}), 422, "offset")


def test_get_load_when_id_beyond_64_bits_then_422(call):
    problem(*call("marketdata/get_load", {"load_id": 17024959476586002776064}), 422, "load_id")


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-05:00"])
def test_limit_breaches_when_since_outside_the_calendar_then_422(call, since):
    problem(*call("risk/list_limit_breaches", {"since": since}), 422, "since")


@pytest.mark.parametrize(("route", "body", "field"), [
    ("marketdata/upsert_instrument", b'{"symbol": "NULX", "sector": "a\\u0000b"}', "sector"),
    ("features/create_feature_set", b'{"name": "fs\\u0000", "indicators": [{"name": "rsi"}]}', "name"),
    ("factor/create_factor", b'{"name": "f\\u0000", "expression": "close"}', "name"),
    ("marketdata/ingest_file", b'{"path": "x\\u0000.csv"}', "path"),
])
def test_string_when_it_holds_nul_then_422_naming_field(call, route, body, field):
    problem(*call(route, body), 422, field)


@pytest.mark.parametrize("expression", ["delay(close, 1e999)", "abs(" * 300 + "close" + ")" * 300,
                                        "(" * 5000 + "close" + ")" * 5000])
def test_factor_expression_when_huge_number_or_deep_nesting_then_422(call, expression):
    problem(*call("factor/validate_factor_expression", {"expression": expression}), 422, "expression")


@pytest.mark.parametrize(("route", "body"), [
    ("risk/price_options", {"options": [{"kind": "put", "spot": 5e-324, "strike": 5e-324, "expiry_years": 5e-324,
                                         "volatility": 5e-324, "rate": 0, "dividend_yield": 0}]}),
    ("risk/compute_margin", {"method": "reg_t", "cash": 0.0, "stocks": [], "collateral": [], "rate": 0,
                             "options": [{"underlying": "X", "kind": "put", "strike": 5e-324, "expiry_years": 5e-324,
                                          "implied_vol": 5e-324, "underlying_price": 5e-324, "quantity": 1,
                                          "multiplier": 100}]}),
])
def test_degenerate_inputs_when_result_not_finite_then_422_not_null(call, route, body):
    s, b = call(route, body)
    if s == 200:  # a finite answer is fine too; a null in place of a number is not
        assert "null" not in str(b).lower() or all(v is not None for v in _numbers(b))
    else:
        problem(s, b, 422)


def _numbers(obj):  # noqa: ANN001, ANN202
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, float):
        yield obj


def test_ingest_when_symbol_column_holds_a_formula_then_rows_rejected_and_listing_still_works(call):
    good = "".join(f"2024-01-{d:02d},GOODSYM1,1,1,1,1,10\n" for d in range(2, 12))
    csv = "timestamp,symbol,open,high,low,close,volume\n2024-01-02,=cmd|'/C calc'!A0,1,1,1,1,10\n" + good
    s, report = call("marketdata/ingest_file", {"content": csv, "kind": "bars", "timeframe": "1d",
                                                "create_instruments": True})
    assert s == 200, report
    q = report["quality"]
    assert q["rejected_by_reason"] == {"bad_symbol": 1} and report["rows_inserted"] == 10, str(report)
    assert report["instruments_created"] == ["GOODSYM1"]
    s, listed = call("marketdata/list_instruments", {"limit": 1000})
    assert s == 200 and "=cmd|'/C calc'!A0" not in {i["symbol"] for i in listed["instruments"]}


async def test_instrument_stored_before_the_symbol_rule_when_listed_or_deleted_then_served(call, db_pool):
    await db_pool.execute("INSERT INTO instruments (symbol) VALUES ('LEGACY SYM!') ON CONFLICT DO NOTHING")
    s, listed = call("marketdata/list_instruments", {"limit": 1000})
    assert s == 200 and "LEGACY SYM!" in {i["symbol"] for i in listed["instruments"]}
    s, deleted = call("marketdata/delete_instrument", {"symbol": "LEGACY SYM!"})
    assert s == 200 and deleted["deleted"] is True
