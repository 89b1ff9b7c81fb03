"""Screenshot of Prometheus' graph page over a running platform, for the README's monitoring section.

    NAUTILUS_PORT_OFFSET=4000 ./start_hybrid_architecture.sh          # note the admin key it prints
    NAUTILUS_PORT_OFFSET=4000 NAUTILUS_ADMIN_API_KEY=<key> .venv/bin/python scripts/monitoring_screenshot.py

Starts Debian's Prometheus with this instance's generated scrape config and the committed alert rules,
drives traffic for ``--seconds`` (a quote on the market data stream, market and limit orders, denied
orders, Monte Carlo VaR calls served natively), then has headless Chromium take screenshots of the graph
page (docs/monitoring-orders.png) and stops Prometheus. Grafana has no server package here, so its
dashboards cannot be rendered on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import asyncpg
import httpx

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.bus.streams import MD_QUOTES
from backend.core.settings import REPO_ROOT, get_settings
from backend.launcher import prometheus
from backend.launcher.infra import Infra

GRAPHS = {
    "orders": ("sum by (status) (rate(nautilus_trading_orders_total[30s]))", "Orders per second by status entered"),
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def drive(gateway: str, key: str, seconds: float) -> int:
    settings = get_settings()
    infra = Infra.load(settings.run_dir)  # where the start script found or started the servers
    sym, acct = "DEMO", "demo-1"
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ($1, 0.01, 1) "
                           "ON CONFLICT (symbol) DO NOTHING", sym)
    finally:
        await conn.close()
    bus = Bus.from_url(infra.redis_url, prefix=instance_prefix(settings.instance_id))
    calls = 0
    async with httpx.AsyncClient(base_url=gateway, headers={"X-API-Key": key}, timeout=60) as c:
        await c.post("/api/v1/trading/accounts", json={"id": acct, "name": "demo", "starting_cash": 10_000_000})
        t_end = time.monotonic() + seconds
        rng = random.Random(1)
        mid = 100.0
        while time.monotonic() < t_end:
            mid *= 1 + rng.gauss(0, 0.0005)
            await bus.append(MD_QUOTES, f"data.quotes.SIM.{sym}", "quote", {
                "symbol": sym, "bid": round(mid - 0.01, 2), "ask": round(mid + 0.01, 2), "bid_size": 5000,
                "ask_size": 5000, "ts_ns": time.time_ns()})
            for _ in range(rng.randint(2, 8)):
                kind = rng.random()
                order = ({"type": "market", "qty": rng.randint(1, 20)} if kind < 0.4 else
                         {"type": "limit", "qty": rng.randint(1, 20), "limit_price": round(mid * 0.99, 2)}
                         if kind < 0.9 else {"type": "market", "qty": 10_000_000})
                await c.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym,
                                                             "side": rng.choice(["buy", "sell"]) if kind < 0.4
                                                             else "buy", **order})
                calls += 1
            await c.post("/api/v1/risk/simulate_monte_carlo_var", json={
                "positions": [{"symbol": "AAA", "value": 1e6}, {"symbol": "BBB", "value": -4e5}],
                "market": {"symbols": ["AAA", "BBB"], "covariance": [[0.0004, 0.0001], [0.0001, 0.00025]]},
                "n_scenarios": rng.choice([20_000, 100_000, 200_000]), "seed": calls})
            calls += 1
            await asyncio.sleep(0.2)
    await bus.close()
    return calls


def shoot(base: str, expr: str, out: Path, minutes: int) -> None:
    q = urllib.parse.urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": f"{minutes}m",
                                "g0.stacked": "0", "g0.show_exemplars": "0"})
    subprocess.run(["chromium", *CHROMIUM_FLAGS, "--window-size=1400,900", "--virtual-time-budget=8000",
                    f"--screenshot={out}", f"{base}/graph?{q}"], check=True, capture_output=True, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=150.0)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    args = ap.parse_args()
    key = os.environ["NAUTILUS_ADMIN_API_KEY"]
    settings = get_settings()
    work = Path(tempfile.mkdtemp(prefix="nautilus-prom-"))
    cfg = work / "prometheus.yml"
    prometheus.write(settings, cfg, "local", "2s")
    port = _free_port()
    with open(work / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={work / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        n = asyncio.run(drive(f"http://127.0.0.1:{settings.gateway_port}", key, args.seconds))
        print(f"{n} calls sent; Prometheus at http://127.0.0.1:{port}")
        time.sleep(5)
        for name, (expr, _) in GRAPHS.items():
            out = args.out / f"monitoring-{name}.png"
            shoot(f"http://127.0.0.1:{port}", expr, out, max(3, int(args.seconds / 60) + 1))
            print(f"wrote {out}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts") as r:
            print("alerts:", r.read().decode()[:500])
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
