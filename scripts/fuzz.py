"""Fuzz the whole platform's public API with schemathesis, as an attacker with a valid admin key would.

    .venv/bin/python scripts/fuzz.py                  # the full run: every operation, 200 examples each
    .venv/bin/python scripts/fuzz.py --examples 3     # what CI runs (tests/fault/test_fuzz.py)

Starts a private platform instance (its own run directory, port offset and database, rate limits
off so that the fuzzer is not throttled, feeds capped to 2,000 messages/s), runs schemathesis
against the gateway's OpenAPI with the checks that define "safe to call" (no server error; every
status code, content type, header and body as documented; auth enforced), writes
benchmarks/results/fuzz.{json,md} (unless --no-write), stops the instance, and exits non-zero on
any failure. Schema-valid requests the API refuses for reasons JSON Schema cannot express (a
cross-field rule, a missing stored object) are not failures; they are counted and reported.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,ignored_auth")


def free_offset() -> int:
    from tests.support.procs import free_port_offset

    return free_port_offset(7000)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=200, help="examples per operation (schemathesis -n)")
    ap.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    ap.add_argument("--include-samples", action="store_true", help="also fuzz load_samples (slow: real datasets)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/fuzz.*")
    ap.add_argument("--max-time", type=int, default=None, help="time budget of the schemathesis run (s)")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    run_dir = Path(tempfile.mkdtemp(prefix="nautilus-fuzz-")) / "run"
    offset = free_offset()
    key = "ntk_fuzz_" + secrets.token_urlsafe(24)
    env = {**os.environ, "NAUTILUS_RUN_DIR": str(run_dir), "NAUTILUS_PORT_OFFSET": str(offset),
           "NAUTILUS_ADMIN_API_KEY": key, "NAUTILUS_FEED_MAX_MESSAGES_PER_S": "2000", "NAUTILUS_LOG_LEVEL": "WARNING"}
    for scope in ("COMPUTE", "TRADE", "DATA_ADMIN", "RISK_ADMIN", "ADMIN"):
        env[f"NAUTILUS_RATE_LIMIT_{scope}"] = ""
    py = sys.executable
    started = subprocess.run([py, "-m", "backend.launcher", "start"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
    if started.returncode != 0:
        print(started.stdout, started.stderr)
        return 2
    gateway = f"http://127.0.0.1:{8001 + offset}"
    report_dir = run_dir / "schemathesis"
    cmd = [str(Path(py).with_name("schemathesis")), "run", f"{gateway}/openapi.json", "-H", f"X-API-Key: {key}",
           "--checks", CHECKS, "-n", str(args.examples), "--phases", args.phases, "--no-color", "-w", "2",
           "--request-timeout", "60", "--report", "json", "--report-dir", str(report_dir), "--seed", "20261201"]
    if not args.include_samples:
        cmd += ["--exclude-path-regex", "load_samples"]
    if args.max_time:
        cmd += ["--max-time", str(args.max_time)]
    t0 = time.monotonic()
    hooks = {"SCHEMATHESIS_HOOKS": "fuzz_hooks",  # scripts/fuzz_hooks.py: msgpack request bodies
             "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "scripts"), env.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(cmd, cwd=run_dir, env={**env, **hooks}, capture_output=True, text=True, timeout=3600)
    finally:
        subprocess.run([py, "-m", "backend.launcher", "stop"], cwd=REPO, env=env, capture_output=True, timeout=300)
        _drop_database(env, run_dir)
    seconds = time.monotonic() - t0
    (run_dir / "schemathesis.log").write_text(done.stdout + done.stderr)
    print(f"schemathesis output: {run_dir / 'schemathesis.log'}; platform logs: {run_dir / 'logs'}")
    reports = sorted(report_dir.glob("*.json"))
    if not reports:
        print(done.stdout[-5000:], done.stderr[-5000:])
        return 2
    report = json.loads(reports[-1].read_text())
    summary = {
        "command": "scripts/fuzz.py " + " ".join(sys.argv[1:]), "seconds": round(seconds, 1),
        "schemathesis": report["schemathesis_version"], "checks": CHECKS.split(","),
        "operations_tested": report["operations"]["tested"], "test_cases": report["test_cases"]["generated"],
        "failures": [{"code": f["code"], "title": f["title"], "count": f["count"], "operations": f["operations"]}
                     for f in report["failures"]],
        "errors": [{k: e.get(k) for k in ("title", "message") if k in e} for e in report.get("errors", [])],
    }
    print(done.stdout[-3000:])
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"} | {
        "failure_count": sum(f["count"] for f in summary["failures"])}, indent=1))
    if not args.no_write:
        _write(summary)
    return 0 if not summary["failures"] and not summary["errors"] else 1


def _drop_database(env: dict[str, str], run_dir: Path) -> None:
    """The private instance's database (its name comes from the run directory) goes with it."""
    import asyncio

    import asyncpg

    from backend.core.settings import Settings
    from backend.storage.db import database_name, with_database

    settings = Settings(run_dir=run_dir)
    url = env.get("DATABASE_URL") or f"postgresql://postgres@127.0.0.1:{settings.local_postgres_port}/postgres"
    name = settings.database_name if not env.get("DATABASE_URL") else database_name(url)
    if name in ("nautilus", "postgres") or env.get("DATABASE_URL"):
        return  # never drop a database this script did not create

    async def drop() -> None:
        conn = await asyncpg.connect(with_database(url, "postgres"), timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    try:
        asyncio.run(drop())
    except (OSError, asyncpg.PostgresError):
        pass


def _write(summary: dict) -> None:
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["# API fuzzing (schemathesis)", "", f"Command: `{summary['command']}` ({summary['seconds']} s, "
             f"schemathesis {summary['schemathesis']}).", "",
             f"Operations tested: {summary['operations_tested']}; test cases generated: {summary['test_cases']}.", "",
             "Checks: " + ", ".join(f"`{c}`" for c in summary["checks"]) + ".", "",
             "| failure | count | operations |", "|---|---|---|"]
    lines += [f"| {f['code']} {f['title']} | {f['count']} | {', '.join(f['operations'][:5])} |"
              for f in summary["failures"]] or ["| none | 0 | |"]
    if summary["errors"]:
        lines += ["", "Errors:", *[f"- {e}" for e in summary["errors"]]]
    (out / "fuzz.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
