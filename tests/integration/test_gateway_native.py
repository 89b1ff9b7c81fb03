"""The gateway's native path with an I/O step: an account and look-back reference is resolved
in the gateway (prepare), then computed by the native risk process; the result equals the
HTTP risk engine's for the same request."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import httpx
import numpy as np
import pytest

from tests.support.access import ADMIN_HEADERS, INTERNAL_HEADERS
from tests.support.native import instance_env, start_module, stop, wait_socket
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(120)
SYMS = ["GWNA", "GWNB"]


@pytest.fixture(scope="module")
def stored(database_url):
    rng = np.random.default_rng(21)
    P = 50 * np.cumprod(1 + rng.normal(0, 0.01, size=(120, 2)), axis=0)

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM bars WHERE symbol = ANY($1::text[])", SYMS)
            day0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
            await conn.executemany("INSERT INTO bars VALUES ($1,'1d',$2,$3,$3,$3,$3,1000)",
                                   [(s, day0 + dt.timedelta(days=t), float(P[t, j]))
                                    for t in range(P.shape[0]) for j, s in enumerate(SYMS)])
            await conn.execute("DELETE FROM trading_positions WHERE account_id = 'gwn-acct'")
            await conn.execute("DELETE FROM trading_accounts WHERE id = 'gwn-acct'")
            await conn.execute("INSERT INTO trading_accounts (id, name, starting_cash, cash) "
                               "VALUES ('gwn-acct', 'gw native', 1e6, 1e6)")
            await conn.executemany(
                "INSERT INTO trading_positions VALUES ('gwn-acct', 'default', $1, $2, 50, 0, 0, 1)",
                [("GWNA", 1000.0), ("GWNB", -300.0)])
        finally:
            await conn.close()

    async def clean() -> None:
        # not written by the trading core: must not reach its later reconciliation tests
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM trading_positions WHERE account_id = 'gwn-acct'")
            await conn.execute("DELETE FROM trading_accounts WHERE id = 'gwn-acct'")
        finally:
            await conn.close()

    asyncio.run(seed())
    yield P
    asyncio.run(clean())


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url, stored):
    tmp = tmp_path_factory.mktemp("gwn")
    risk_port, gw_port = free_port(), free_port()
    env = instance_env(base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url,
                                NAUTILUS_PORT_RISK=str(risk_port), NAUTILUS_PORT_GATEWAY=str(gw_port)))
    native = start_module("native_engines.risk", env, tmp / "native.log")
    risk = Proc("risk", "engines.risk", env, risk_port, tmp / "risk.log").start()
    wait_socket(tmp / "risk.sock", proc=native)
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp / "gw.log").start()
    yield {"gw": f"http://127.0.0.1:{gw_port}", "risk": f"http://127.0.0.1:{risk_port}"}
    gw.stop()
    risk.stop()
    stop(native)


def test_gateway_when_reference_request_then_prepared_here_and_served_natively_equal_to_http(platform):
    body = {"account": {"account_id": "gwn-acct"}, "market": {"lookback_days": 100},
            "distribution": "student_t", "n_scenarios": 50_000, "seed": 3}
    routed = httpx.post(platform["gw"] + "/api/v1/risk/simulate_monte_carlo_var", headers=ADMIN_HEADERS,
                        json=body, timeout=60)
    assert routed.status_code == 200, routed.text
    assert routed.headers["x-backend"].startswith("native:")
    direct = httpx.post(platform["risk"] + "/api/v1/risk/simulate_monte_carlo_var", headers=INTERNAL_HEADERS,
                        json=body, timeout=60)
    assert direct.status_code == 200
    assert routed.json() == direct.json()  # same device, same seed: identical


def test_gateway_when_reference_unknown_then_404_from_prepare_without_native_call(platform):
    r = httpx.post(platform["gw"] + "/api/v1/risk/simulate_monte_carlo_var", headers=ADMIN_HEADERS,
                   json={"account": {"account_id": "ghost"}, "market": {"lookback_days": 100}}, timeout=30)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "account.account_id"


def test_binary_encoding_when_client_sends_arrays_then_native_serves_and_answers_in_msgpack(platform):
    """The public binary encoding end to end: arrays go in as typed binary arrays, through shared memory to
    the native engine, and come back in msgpack; the same request in JSON gives the same figures."""
    from engines.risk.ops import MC_EXAMPLE
    from nautilus_client import Client
    from tests.support.access import ADMIN_KEY

    body = {**MC_EXAMPLE, "market": {**MC_EXAMPLE["market"], "covariance": np.asarray(
        MC_EXAMPLE["market"]["covariance"])}}
    with Client(platform["gw"], ADMIN_KEY) as binary_client, Client(platform["gw"], ADMIN_KEY, binary=False) as js:
        got = binary_client.call("risk", "simulate_monte_carlo_var", body)
        assert binary_client.last_backend.startswith("native:")
        ref = js.call("risk", "simulate_monte_carlo_var", MC_EXAMPLE)
    assert got["levels"][0]["var"] == pytest.approx(ref["levels"][0]["var"], rel=1e-12)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b[:-7], "body"),                                                    # truncated
    (lambda b: b.replace(b"<f8", b"<c8"), "body"),                                 # a dtype that is not allowed
    (None, "market.covariance.1.1"),                                               # NaN inside the array
])
def test_binary_encoding_when_body_is_bad_then_4xx_problem_naming_the_field(platform, mutate, field):
    from backend.contract import binary
    from engines.risk.ops import MC_EXAMPLE
    from tests.support.access import ADMIN_HEADERS

    cov = np.asarray(MC_EXAMPLE["market"]["covariance"])
    if mutate is None:
        cov = cov.copy()
        cov[1, 1] = np.nan
    raw = binary.encode({**MC_EXAMPLE, "market": {**MC_EXAMPLE["market"], "covariance": cov}})
    if mutate is not None:
        raw = mutate(raw)
    r = httpx.post(platform["gw"] + "/api/v1/risk/simulate_monte_carlo_var", content=raw, timeout=30,
                   headers={**ADMIN_HEADERS, "content-type": binary.MEDIA_TYPE, "accept": binary.MEDIA_TYPE})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["errors"][0]["field"] == field
