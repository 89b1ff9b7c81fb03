"""The start and stop scripts, as a user runs them, on a machine with no PostgreSQL or
Redis to find: the embedded servers must serve, and stop must leave nothing behind."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from backend.core.settings import ENGINE_PORTS
from tests.support.access import TEST_INSTANCE
from tests.support.procs import REPO, base_env, free_port, free_port_offset

N_PROCESSES = len(ENGINE_PORTS) + 5  # engines, the gateway, three native engines and the dashboard

pytestmark = pytest.mark.timeout(240)


def _free_offset() -> int:
    return free_port_offset(12000)


def _ours(run_dir: Path, settle_s: float = 5.0) -> list[psutil.Process]:
    """Processes started for this run dir still alive (allowing a moment for exits in progress)."""
    import time

    deadline = time.monotonic() + settle_s
    while True:
        found = _scan(run_dir)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _scan(run_dir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["environ", "cmdline"]):
        try:
            env = p.info["environ"] or {}
        except (psutil.Error, OSError):
            continue
        try:
            if env.get("NAUTILUS_RUN_DIR") == str(run_dir) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def test_start_then_stop_when_no_local_servers_then_embedded_serve_and_nothing_left(tmp_path):
    run_dir = tmp_path / "run"
    offset = _free_offset()
    closed = str(free_port())  # nothing listens here: "no local server"
    env = base_env(run_dir, NAUTILUS_PORT_OFFSET=str(offset), NAUTILUS_LOCAL_POSTGRES_PORT=closed,
                   NAUTILUS_LOCAL_REDIS_PORT=closed, NAUTILUS_EMBEDDED_POSTGRES_PORT=str(free_port()),
                   NAUTILUS_EMBEDDED_REDIS_PORT=str(free_port()), NAUTILUS_LOG_LEVEL="INFO")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("NAUTILUS_ADMIN_API_KEY", None)  # the first start makes one and shows it once
    start = subprocess.run(["./start_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=180)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        assert "postgresql: embedded" in start.stdout and "redis: embedded" in start.stdout
        assert f"all {N_PROCESSES} processes healthy" in start.stdout
        key = start.stdout.split("Admin API key (shown once", 1)[1].splitlines()[1].strip()
        assert key.startswith("ntk_")
        req = urllib.request.Request(f"http://127.0.0.1:{8001 + offset}/health", headers={"X-API-Key": key})
        with urllib.request.urlopen(req, timeout=10) as r:
            health = json.loads(r.read())
        assert health["infrastructure"]["database"] == {**health["infrastructure"]["database"], "mode": "embedded",
                                                         "ok": True}
        assert health["infrastructure"]["redis"]["mode"] == "embedded"
        assert {s["name"] for s in health["services"]} >= set(ENGINE_PORTS)
        assert all(s["status"] == "ok" for s in health["services"]), health["services"]
        natives = [s for s in health["services"] if s["kind"] == "native"]
        assert natives and all(s["status"] == "ok" for s in natives)
        for s in natives:  # the native processes say what they run on and what they serve
            assert s["device"] == "cpu" and s["torch"] and s["inflight"] == 0 and isinstance(s["operations"], list)
        assert "features.compute_indicators_gpu" in {op for s in natives for op in s["operations"]}
        assert set(health["processes"]) == {*ENGINE_PORTS, "gateway", "native-ml", "native-risk", "native-strategy",
                                            "dashboard"}
        assert all(p["state"] == "running" and p["restarts"] == 0 for p in health["processes"].values())
        status = subprocess.run(["./start_hybrid_architecture.sh", "--status"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0 and "gateway" in status.stdout
        again = subprocess.run(["./start_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=60)
        assert again.returncode == 0 and "already running" in again.stdout and key not in again.stdout
        pids = sorted(p.stem for p in (run_dir / "pids").glob("*.pid"))
        assert pids == sorted([*ENGINE_PORTS, "gateway", "supervisor", "native-ml", "native-risk", "native-strategy",
                               "dashboard"])
        assert sorted(p.name for p in run_dir.glob("*.sock")) == ["ml.sock", "risk.sock", "strategy.sock"]
        assert (run_dir / "logs" / "gateway.log").stat().st_size > 0
        logs = list((run_dir / "logs").glob("*.log"))
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in logs}
        assert logs and all(m == "0o600" for m in modes.values()), modes
        assert not any(key in p.read_text(errors="replace") for p in logs)  # the admin key is in no log
        assert (run_dir / "internal.token").stat().st_mode & 0o077 == 0
    finally:
        stop = subprocess.run(["./stop_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert list((run_dir / "pids").glob("*.pid")) == []
    assert list(run_dir.glob("*.sock")) == []
    assert not (run_dir / "infra.json").exists()
    assert list(Path("/dev/shm").glob(f"nautilus-{TEST_INSTANCE}-*")) == []
    assert _ours(run_dir) == []
    assert not any("pgdata" in " ".join(p.cmdline()) and str(run_dir) in " ".join(p.cmdline())
                   for p in psutil.process_iter() if p.is_running() and _safe_cmd(p))
    twice = subprocess.run(["./stop_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=60)
    assert twice.returncode == 0 and "nothing was running" in twice.stdout


def _safe_cmd(p: psutil.Process) -> bool:
    try:
        p.cmdline()
        return True
    except psutil.Error:
        return False


def test_start_when_a_port_is_taken_then_fails_clearly_and_leaves_nothing(tmp_path):
    import socket

    run_dir = tmp_path / "run"
    offset = _free_offset()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", ENGINE_PORTS["risk"] + offset))
    blocker.listen()
    env = base_env(run_dir, NAUTILUS_PORT_OFFSET=str(offset))
    try:
        start = subprocess.run(["./start_hybrid_architecture.sh"], cwd=REPO, env=env, capture_output=True,
                               text=True, timeout=180)
    finally:
        blocker.close()
    assert start.returncode != 0
    assert f"risk:{ENGINE_PORTS['risk'] + offset}" in start.stdout
    assert list((run_dir / "pids").glob("*.pid")) == [] if (run_dir / "pids").exists() else True
    assert _ours(run_dir) == []


def test_stop_when_pid_file_names_a_foreign_process_then_it_is_left_alone(tmp_path):
    """A stale pid file whose number now belongs to another program: stop must not signal it."""
    import sys
    import time

    run_dir = tmp_path / "run"
    (run_dir / "pids").mkdir(parents=True)
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        for name in ("supervisor", "analytics"):  # right pid, wrong creation time: a reused number
            (run_dir / "pids" / f"{name}.pid").write_text(json.dumps(
                {"pid": foreign.pid, "create_time": 1.0, "module": "engines.analytics", "instance": TEST_INSTANCE}))
        env = base_env(run_dir)
        stop = subprocess.run([sys.executable, "-m", "backend.launcher", "stop"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert foreign.poll() is None, "the stop script signalled a process that is not ours"
        assert list((run_dir / "pids").glob("*.pid")) == []
    finally:
        foreign.kill()
        foreign.wait()
