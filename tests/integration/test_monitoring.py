"""Monitoring end to end: the whole platform under its supervisor, a real Prometheus scraping it with
this instance's generated config and the committed alert rules. After a few orders (fed by a quote on
the market data stream) and a Monte Carlo VaR call served natively, the trading and native series
have moved in Prometheus; every process is scraped (the HTTP ones directly, the native ones through
the gateway); every alert rule evaluates without error; one request id is found in the JSON log lines
of the gateway, the HTTP engine and the native process it reached."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import asyncpg
import httpx
import pytest

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.bus.streams import MD_QUOTES
from backend.core.settings import ENGINE_PORTS
from native_engines.serve import NATIVE_ENGINES
from tests.integration.test_start_stop import _free_offset
from tests.support.access import ADMIN_HEADERS, TEST_INSTANCE
from tests.support.procs import REPO, base_env, free_port

pytestmark = [pytest.mark.timeout(420),
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed (apt)")]
SYM = f"MON{uuid.uuid4().hex[:5].upper()}"
ACCT = f"mon-{uuid.uuid4().hex[:6]}"
MC = {"positions": [{"symbol": "AAA", "value": 1_000_000}, {"symbol": "BBB", "value": -400_000}],
      "market": {"symbols": ["AAA", "BBB"], "covariance": [[0.0004, 0.0001], [0.0001, 0.00025]]},
      "distribution": "student_t", "dof": 5, "n_scenarios": 20_000, "seed": 1}


def _get(url: str, timeout_s: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout_s) as r:
        return json.loads(r.read())


class Prom:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list[dict]:
        body = _get(f"{self.base}/api/v1/query?query={urllib.parse.quote(expr)}")
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def wait_scrape(self) -> None:
        """Until every target has been scraped again after now."""
        t0 = time.time()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            targets = _get(f"{self.base}/api/v1/targets")["data"]["activeTargets"]
            if targets and all(_ts(t["lastScrape"]) > t0 for t in targets):
                return
            time.sleep(0.2)
        raise TimeoutError("targets not scraped again within 20 s")


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")[:26] + "+00:00").timestamp()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url, admin_key):
    run_dir = tmp_path_factory.mktemp("mon") / "run"
    offset = _free_offset()
    env = base_env(run_dir, NAUTILUS_PORT_OFFSET=str(offset), DATABASE_URL=database_url, REDIS_URL=redis_url,
                   NAUTILUS_LOG_FORMAT="json", NAUTILUS_LOG_LEVEL="DEBUG")
    start = subprocess.run(["./start_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=240)
    try:
        assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]
        yield {"run_dir": run_dir, "gateway": f"http://127.0.0.1:{8001 + offset}", "env": env}
    finally:
        subprocess.run(["./stop_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def prometheus(platform, tmp_path_factory):
    d = tmp_path_factory.mktemp("prom")
    cfg = d / "prometheus.yml"
    gen = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "backend.launcher", "prometheus-config",
                          "--interval", "1s", "--out", str(cfg)], cwd=REPO, env=platform["env"], capture_output=True,
                         text=True, timeout=60)
    assert gen.returncode == 0, gen.stderr
    port = free_port()
    with open(d / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={d / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    prom = Prom(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = _get(f"{prom.base}/api/v1/targets")["data"]["activeTargets"]
                if len(targets) == len(ENGINE_PORTS) + 1 and all(t["health"] == "up" for t in targets):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (d / "prometheus.log").read_text()[-3000:]
            time.sleep(0.25)
        yield prom
    finally:
        proc.terminate()
        proc.wait(10)


async def _drive(gateway: str, database_url: str, redis_url: str) -> dict[str, str]:
    """A quote on the stream, an account, orders (filled and denied), a native and an HTTP risk call."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ($1, 0.01, 1) "
                           "ON CONFLICT (symbol) DO NOTHING", SYM)
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=gateway, headers=ADMIN_HEADERS, timeout=60) as client:
        r = await client.post("/api/v1/trading/accounts", json={"id": ACCT, "name": "monitoring",
                                                                "starting_cash": 1_000_000})
        assert r.status_code == 201, r.text
        bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
        try:
            await bus.append(MD_QUOTES, f"data.quotes.SIM.{SYM}", "quote",
                             {"symbol": SYM, "bid": 100.0, "ask": 100.02, "bid_size": 10_000, "ask_size": 10_000,
                              "ts_ns": time.time_ns()})
        finally:
            await bus.close()
        for _ in range(100):  # the trading core consumes the quote: it has a mark for the symbol
            r = await client.post("/api/v1/trading/orders", json={"account_id": ACCT, "symbol": SYM, "side": "buy",
                                                                  "type": "market", "qty": 10})
            if r.status_code == 201:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 201 and r.json()["status"] == "filled", r.text
        for i in range(3):
            r = await client.post("/api/v1/trading/orders", json={"account_id": ACCT, "symbol": SYM, "side": "buy",
                                                                  "type": "limit", "qty": 5, "limit_price": 99.0 - i})
            assert r.status_code == 201, r.text
        r = await client.post("/api/v1/trading/orders", json={"account_id": ACCT, "symbol": SYM, "side": "buy",
                                                              "type": "market", "qty": 10_000_000})
        assert r.status_code == 422 and r.json()["denial_code"] == "QUANTITY_EXCEEDS_MAXIMUM", r.text
        ids = {"native": f"mon-native-{uuid.uuid4().hex[:8]}", "http": f"mon-http-{uuid.uuid4().hex[:8]}"}
        r = await client.post("/api/v1/risk/simulate_monte_carlo_var", json=MC,
                              headers={"X-Request-Id": ids["native"]})
        assert r.status_code == 200 and r.headers["x-backend"].startswith("native:risk"), r.text
        assert r.headers["x-request-id"] == ids["native"]
        r = await client.post("/api/v1/risk/compute_parametric_var", json={
            "positions": MC["positions"], "market": MC["market"]}, headers={"X-Request-Id": ids["http"]})
        assert r.status_code == 200 and r.headers["x-backend"].startswith("http:risk"), r.text
    return ids


def test_platform_when_scraped_by_prometheus_then_every_process_up_and_trading_and_native_series_move(
        platform, prometheus, database_url, redis_url):
    prom = prometheus
    ups = prom.query("up")
    assert {r["metric"]["service"] for r in ups} == {"gateway", *ENGINE_PORTS}
    assert all(r["value"][1] == "1" for r in ups)
    natives = prom.query("nautilus_native_up")
    assert {r["metric"]["engine"]: r["value"][1] for r in natives} == dict.fromkeys(NATIVE_ENGINES, "1")
    before = {e: prom.value(e) for e in (
        "sum(nautilus_trading_orders_total)", "sum(nautilus_trading_fills_total)",
        'sum(nautilus_trading_denials_total{code="QUANTITY_EXCEEDS_MAXIMUM"})',
        'sum(nautilus_native_calls_total{engine="risk", operation="simulate_monte_carlo_var", outcome="ok"})',
        'sum(nautilus_native_compute_seconds_count{engine="risk"})',
        'sum(nautilus_trading_feed_messages_total{outcome="applied"})', "sum(nautilus_trading_commit_batches_count)",
        'sum(nautilus_engine_requests_total{engine="risk", operation="compute_parametric_var"})')}

    ids = asyncio.run(_drive(platform["gateway"], database_url, redis_url))
    prom.wait_scrape()

    after = {e: prom.value(e) for e in before}
    moved = {e: after[e] - before[e] for e in before}
    assert moved["sum(nautilus_trading_orders_total)"] >= 4 * 2  # each order: submitted, then accepted/filled
    assert moved["sum(nautilus_trading_fills_total)"] >= 1
    assert moved['sum(nautilus_trading_denials_total{code="QUANTITY_EXCEEDS_MAXIMUM"})'] == 1
    assert moved['sum(nautilus_native_calls_total{engine="risk", operation="simulate_monte_carlo_var", '
                 'outcome="ok"})'] == 1
    assert moved['sum(nautilus_native_compute_seconds_count{engine="risk"})'] >= 1
    assert moved['sum(nautilus_trading_feed_messages_total{outcome="applied"})'] >= 1
    assert moved["sum(nautilus_trading_commit_batches_count)"] >= 1
    assert moved['sum(nautilus_engine_requests_total{engine="risk", operation="compute_parametric_var"})'] == 1
    assert prom.value(f'nautilus_trading_open_orders{{account="{ACCT}"}}') == 3
    assert prom.value(f'nautilus_trading_account_equity{{account="{ACCT}", currency="USD"}}') > 0
    assert prom.value('nautilus_process_restarts_total{process="native-risk"}') == 0
    assert prom.value('nautilus_host_memory_bytes{kind="total"}') > 0
    # p99 of the Monte Carlo call through the gateway, as the latency alert computes it
    assert prom.query('histogram_quantile(0.99, sum by (le) (nautilus_gateway_request_seconds_bucket'
                      '{operation="simulate_monte_carlo_var", backend="native"}))')

    rules = _get(f"{prom.base}/api/v1/rules")["data"]["groups"]
    evaluated = [r for g in rules for r in g["rules"]]
    assert len(evaluated) >= 20
    bad = [(r["name"], r.get("lastError")) for r in evaluated if r["health"] != "ok"]
    assert not bad, bad

    logs = platform["run_dir"] / "logs"
    for name, rid in (("gateway", ids["native"]), ("native-risk", ids["native"]), ("gateway", ids["http"]),
                      ("risk", ids["http"])):
        lines = [json.loads(line) for line in (logs / f"{name}.log").read_text().splitlines()
                 if line.startswith("{") and rid in line]
        assert any(line.get("request_id") == rid for line in lines), f"{rid} not in {name}.log"
