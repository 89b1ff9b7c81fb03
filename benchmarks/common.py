"""What every benchmark shares: where results go, the machine they ran on, warm medians, and the
``report`` section that ``benchmarks/run_all.py`` reads to build one report from one run.

A benchmark writes ``<name>.json`` (its own figures, any shape, plus ``"report": Report(...).as_dict()``)
and ``<name>.md`` into ``results_dir()``: ``$NAUTILUS_BENCH_OUT`` when set (run_all points every
benchmark of a run at one directory), else ``benchmarks/results``.

The report section holds, each naming the command that produced it:
  comparisons  our time beside a peer's on the same data and the same work, with whether the answers
               agreed (checked before timing; a pair that disagrees is reported as such, never hidden)
  scaling      cost as the work grows (x = bars, symbols, assets, scenarios, clients...), one series each
  latency      raw per-call samples in ms (for distributions)
  throughput   per-second rates against the number of concurrent clients
  figures      single measured values (a rate, a latency) worth a line in the summary
  peers_missing  peers that could not be installed or run here, with the reason
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "benchmarks" / "results"


def results_dir() -> Path:
    d = Path(os.environ.get("NAUTILUS_BENCH_OUT") or DEFAULT_RESULTS)
    d.mkdir(parents=True, exist_ok=True)
    return d


def command() -> str:
    """The command line that ran this benchmark, as a reader would type it."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join([".venv/bin/python", str(script), *sys.argv[1:]])


def timed(fn: Callable[[], Any], repeats: int, warm: int = 1) -> tuple[float, list[float]]:
    """(median seconds, samples) of ``repeats`` calls after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:  # noqa: BLE001 - not installed
        return None


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, GPU and driver if any, Python, key library versions, the commit."""
    cpu = platform.processor() or platform.machine()
    mem_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    gpu = driver = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            gpu, driver = (x.strip() for x in out.stdout.strip().splitlines()[0].split(",", 1))
    except (OSError, subprocess.SubprocessError):
        pass
    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    libs = ["numpy", "pandas", "scipy", "torch", "TA-Lib", "skfolio", "PyPortfolioOpt", "empyrical", "empyrical-reloaded",
            "backtrader", "vectorbt",
            "arch", "statsmodels", "cvxpy", "fastapi", "pydantic", "msgpack", "asyncpg", "redis"]
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "memory_gb": mem_gb, "gpu": gpu, "gpu_driver": driver,
            "os": platform.platform(), "python": platform.python_version(), "commit": commit,
            "libraries": {k: v for k in libs if (v := _version(k))}}


@dataclass
class Report:
    """The machine-readable part of a benchmark's results (see the module docstring)."""

    benchmark: str
    command: str = field(default_factory=command)
    comparisons: list[dict] = field(default_factory=list)
    scaling: list[dict] = field(default_factory=list)
    latency: list[dict] = field(default_factory=list)
    throughput: list[dict] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    peers_missing: list[dict] = field(default_factory=list)

    def compare(self, area: str, work: str, ours: str, ours_s: float, peer: str, peer_s: float, agree: bool,
                agreement: str) -> None:
        """Our time and a peer's on the same work; ``agree`` says the answers matched (how: ``agreement``)."""
        self.comparisons.append({"area": area, "work": work, "ours": ours, "ours_s": ours_s, "peer": peer,
                                 "peer_s": peer_s, "speedup": peer_s / ours_s if ours_s > 0 else None,
                                 "agree": bool(agree), "agreement": agreement})

    def scale(self, area: str, series: str, x_name: str, x: list[float], seconds: list[float]) -> None:
        self.scaling.append({"area": area, "series": series, "x_name": x_name, "x": list(x), "seconds": list(seconds)})

    def samples(self, name: str, samples_s: list[float]) -> None:
        self.latency.append({"name": name, "samples_ms": [s * 1e3 for s in samples_s]})

    def rate(self, name: str, clients: list[int], per_s: list[float], unit: str = "requests/s") -> None:
        self.throughput.append({"name": name, "clients": list(clients), "per_s": list(per_s), "unit": unit})

    def figure(self, area: str, measure: str, value: float, unit: str) -> None:
        self.figures.append({"area": area, "measure": measure, "value": value, "unit": unit})

    def missing(self, peer: str, reason: str) -> None:
        self.peers_missing.append({"peer": peer, "reason": reason})

    def as_dict(self) -> dict:
        return asdict(self)


class Servers:
    """PostgreSQL and Redis for a benchmark's platform processes: the local ones, else embedded ones
    started in ``run_dir`` (backend/launcher/infra.py); the database ``nautilus_bench`` migrated. Use as
    ``with Servers(tmp) as s: env = base_env(tmp, DATABASE_URL=s.database_url, REDIS_URL=s.redis_url)``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def __enter__(self) -> Servers:
        import asyncio

        from backend.core.settings import Settings
        from backend.launcher import infra
        from backend.storage.migrate import migrate_url

        found = infra.ensure(Settings(run_dir=self.run_dir, instance_id="bench"))
        self.database_url, self.redis_url = found.database_url, found.redis_url
        asyncio.run(migrate_url(self.database_url))
        return self

    def __exit__(self, *exc: object) -> None:
        from backend.launcher import infra

        infra.release(self.run_dir)
