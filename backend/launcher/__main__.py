"""Start, stop and report the platform: ``python -m backend.launcher start|stop|status``.

start: find or start PostgreSQL and Redis, apply migrations, start every process in
the background (pid files and logs in the run directory), wait until each is healthy
within the start budget, print the access points. If anything fails it stops what it
started and exits non-zero with the reason and the failing process's log tail.
stop:  SIGTERM each process group, SIGKILL after a timeout, stop embedded servers,
remove pid files, sockets and this instance's shared-memory segments. Idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from backend.core.settings import Settings, get_settings
from backend.launcher import infra as infra_mod
from backend.launcher.processes import (
    alive,
    http_health,
    log_tail,
    pid_file,
    platform_processes,
    read_pid,
    socket_answers,
    spawn,
    terminate,
)

STOP_TIMEOUT_S = 10.0


class StartFailed(RuntimeError):
    pass


def _say(msg: str) -> None:
    print(msg, flush=True)


def clean_leftovers(settings: Settings) -> list[str]:
    """Remove stale pid files, sockets and shared memory of this instance."""
    removed = []
    from native_engines.ipc.shm import stale_segments

    for path in [*settings.pid_dir.glob("*.pid"), *settings.run_dir.glob("*.sock"), *stale_segments(settings.instance_id)]:
        if path.suffix == ".pid" and alive(read_pid(path)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def running(settings: Settings) -> dict[str, int]:
    out = {}
    for spec in platform_processes(settings):
        pid = read_pid(pid_file(settings, spec.name))
        if alive(pid):
            out[spec.name] = pid  # type: ignore[assignment]
    return out


def access_table(settings: Settings) -> str:
    infra = infra_mod.Infra.load(settings.run_dir)
    rows = [("process", "pid", "status", "address")]
    for spec in platform_processes(settings):
        pid = read_pid(pid_file(settings, spec.name))
        if spec.sockets:
            for sock in spec.sockets:
                engine = sock.stem
                child = read_pid(settings.pid_dir / f"native-{engine}.pid")
                status = "ok" if alive(child) and socket_answers(sock) else ("down" if not alive(pid) else "starting")
                rows.append((f"native-{engine}", str(child or "-"), status, f"unix:{sock}"))
            continue
        health = http_health(spec.port, settings.host) if spec.port and alive(pid) else None
        status = (health or {}).get("status", "down" if not alive(pid) else "starting")
        rows.append((spec.name, str(pid or "-"), status, f"http://{settings.host}:{spec.port}"))
    if infra:
        rows.append(("postgresql", "-", infra.database_mode, _redact(infra.database_url)))
        rows.append(("redis", "-", infra.redis_mode, infra.redis_url))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    gw = f"http://{settings.host}:{settings.gateway_port}"
    key = _bootstrap_key(settings)
    if key:
        lines += ["", f"Trading admin API key (generated on first start; send as X-API-Key): {key}"]
    lines += ["", f"API docs:  {gw}/docs", f"Health:    {gw}/health", f"Metrics:   {gw}/metrics",
              f"Logs:      {settings.log_dir}", "Stop:      ./stop_hybrid_architecture.sh"]
    return "\n".join(lines)


def _bootstrap_key(settings: Settings) -> str | None:
    """The admin key the trading core generated on its first start, if this run's log has it."""
    marker = "generated bootstrap admin API key (shown once): "
    try:
        for line in (settings.log_dir / "gateway.log").read_text(errors="replace").splitlines():
            if marker in line:
                return line.split(marker, 1)[1].strip()
    except OSError:
        pass
    return None


def _redact(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url


def start(settings: Settings) -> int:
    t0 = time.monotonic()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    already = running(settings)
    if already:
        _say(f"platform already running ({len(already)} processes):\n")
        _say(access_table(settings))
        return 0
    removed = clean_leftovers(settings)
    if removed:
        _say(f"removed stale leftovers: {', '.join(removed)}")
    started: list[int] = []
    try:
        infra = infra_mod.ensure(settings)
        _say(f"postgresql: {infra.database_mode} ({_redact(infra.database_url)}); "
             f"redis: {infra.redis_mode} ({infra.redis_url})")
        from backend.storage.migrate import migrate_url

        applied = asyncio.run(asyncio.wait_for(migrate_url(infra.database_url), 60))
        _say(f"migrations applied: {applied or 'none pending'}")
        specs = platform_processes(settings)
        busy = [s for s in specs if s.port and infra_mod.port_open(settings.host, s.port, 0.2)]
        if busy:
            raise StartFailed("ports already in use by something else: "
                              + ", ".join(f"{s.name}:{s.port}" for s in busy)
                              + " (set NAUTILUS_PORT_OFFSET to move the whole platform)")
        env = {**os.environ, "DATABASE_URL": infra.database_url, "REDIS_URL": infra.redis_url,
               "NAUTILUS_RUN_DIR": str(settings.run_dir), "PYTHONUNBUFFERED": "1"}
        procs = {}
        for spec in specs:
            proc = spawn(spec, settings, env)
            procs[spec.name] = (spec, proc)
            started.append(proc.pid)
        _wait_healthy(settings, procs, t0)
    except Exception as e:  # noqa: BLE001 - any failure (StartFailed or other): undo, then report
        _say(f"\nSTART FAILED: {e}")
        stop(settings, quiet=True)
        return 1
    _say(f"\nall {len(procs)} processes healthy in {time.monotonic() - t0:.1f}s\n")
    _say(access_table(settings))
    return 0


def _wait_healthy(settings: Settings, procs: dict, t0: float) -> None:
    pending = dict(procs)
    while pending:
        for name, (spec, proc) in list(pending.items()):
            if proc.poll() is not None:
                raise StartFailed(f"{name} exited with code {proc.returncode}; last log lines:\n"
                                  + log_tail(settings, name))
            if spec.port and http_health(spec.port, settings.host, 0.5) is not None:
                del pending[name]
            elif spec.sockets and all(socket_answers(p) for p in spec.sockets):
                del pending[name]
        if time.monotonic() - t0 > settings.start_timeout_s:
            raise StartFailed(f"not healthy within {settings.start_timeout_s:.0f}s: {', '.join(pending)}; "
                              f"see {settings.log_dir}")
        time.sleep(0.1)


def stop(settings: Settings, quiet: bool = False) -> int:
    results = []
    specs = list(reversed(platform_processes(settings)))  # gateway first, then engines
    for spec in specs:
        path = pid_file(settings, spec.name)
        pid = read_pid(path)
        if pid and alive(pid):
            results.append(f"{spec.name}: {terminate(pid, STOP_TIMEOUT_S)}")
        path.unlink(missing_ok=True)
    infra_mod.release(settings.run_dir)
    from native_engines.ipc.shm import stale_segments

    # every owner is stopped now, so every segment of this instance is stale
    for path in [*settings.run_dir.glob("*.sock"), *stale_segments(settings.instance_id),
                 *settings.pid_dir.glob("native-*.pid")]:
        path.unlink(missing_ok=True)
    if not quiet:
        _say("\n".join(results) if results else "nothing was running")
        _say("platform stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilus", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "start":
        return start(settings)
    if args.command == "stop":
        return stop(settings)
    print(access_table(settings))
    return 0 if running(settings) else 3


if __name__ == "__main__":
    sys.exit(main())
