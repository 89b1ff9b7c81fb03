"""Start, stop and report the platform; manage its API keys.

    python -m backend.launcher start | stop | status
    python -m backend.launcher rotate-admin-key           # lost the admin key: revoke it, print a new one
    python -m backend.launcher create-key --name N --scopes read,trade [--accounts a,b]
    python -m backend.launcher prometheus-config [--out FILE] [--interval 5s] [--docker | --m4max]

start: find or start PostgreSQL and Redis, apply migrations, make sure an admin key exists (a new
one is printed here, once, and never written to a log), start the supervisor that runs and
restarts every process, wait until each is healthy within the start budget, print the access
points. If anything fails it stops what it started and exits non-zero with the reason and the
failing process's log tail.
stop: SIGTERM the supervisor (it stops the gateway first, then the engines), SIGKILL after a
timeout, stop embedded servers, remove pid files, sockets and this instance's shared memory.
Only processes whose pid file matches their creation time are signalled. Idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from backend.core.settings import Settings, get_settings
from backend.launcher import infra as infra_mod
from backend.launcher import pidfile
from backend.launcher.processes import (
    ProcessSpec,
    http_health,
    log_tail,
    open_log,
    platform_processes,
    socket_answers,
    terminate,
)
from backend.launcher.supervisor import read_status

SUPERVISOR = "supervisor"
SUPERVISOR_MODULE = "backend.launcher.supervisor"
CHILD_STOP_S = 10.0
ROTATE_HINT = "lost it? ./start_hybrid_architecture.sh --rotate-admin-key prints a new one"


class StartFailed(RuntimeError):
    pass


def _say(msg: str) -> None:
    print(msg, flush=True)


def clean_leftovers(settings: Settings) -> list[str]:
    """Remove pid files of dead processes, sockets and shared memory of this instance."""
    from native_engines.ipc.shm import stale_segments

    removed = []
    for path in settings.pid_dir.glob("*.pid"):
        if not pidfile.owned(pidfile.read_path(path)):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    for path in [*settings.run_dir.glob("*.sock"), *stale_segments(settings.instance_id)]:
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def supervisor_running(settings: Settings) -> bool:
    return pidfile.owned(pidfile.read(settings, SUPERVISOR))


def internal_token(settings: Settings) -> str:
    """The shared secret engines require from the gateway: ``<run_dir>/internal.token`` (0600)."""
    path = settings.run_dir / "internal.token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


async def ensure_admin_key(url: str, given: str | None) -> str | None:
    """Store ``given`` (hashed), or create an admin key when none is active; returns a new key's plaintext."""
    import asyncpg

    from backend.auth import keys

    conn = await asyncpg.connect(url, timeout=5)
    try:
        if given:
            await keys.create_key(conn, keys.BOOTSTRAP_NAME, ["admin"], key=given)
            return None
        if await keys.any_admin(conn):
            return None
        _, key = await keys.create_key(conn, keys.BOOTSTRAP_NAME, ["admin"])
        return key
    finally:
        await conn.close()


def access_table(settings: Settings) -> str:
    infra = infra_mod.Infra.load(settings.run_dir)
    status = (read_status(settings.run_dir) or {}).get("children", {})
    rows = [("process", "pid", "status", "restarts", "address")]
    for spec in platform_processes(settings):
        rec = pidfile.read(settings, spec.name)
        live = pidfile.owned(rec)
        pid = str(rec.pid) if live and rec else "-"
        if spec.socket is not None:
            state = "ok" if live and socket_answers(spec.socket) else ("starting" if live else "down")
            addr = f"unix:{spec.socket}"
        else:
            health = http_health(spec.port, settings.host) if live and spec.port else None
            state = (health or {}).get("status", "starting" if live else "down")
            addr = f"http://{settings.host}:{spec.port}"
        rows.append((spec.name, pid, state, str(status.get(spec.name, {}).get("restarts", "-")), addr))
    if infra:
        rows.append(("postgresql", "-", infra.database_mode, "-", _redact(infra.database_url)))
        rows.append(("redis", "-", infra.redis_mode, "-", infra.redis_url))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    gw = f"http://{settings.host}:{settings.gateway_port}"
    lines += ["", f"Instance:  {settings.instance_id} (run directory {settings.run_dir})",
              f"Dashboard: http://{settings.host}:{settings.dashboard_port}",
              f"API docs:  {gw}/docs", f"Health:    {gw}/health", f"Metrics:   {gw}/metrics (loopback only)",
              f"Logs:      {settings.log_dir}", "Stop:      ./stop_hybrid_architecture.sh"]
    return "\n".join(lines)


def _redact(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url


def start(settings: Settings) -> int:
    t0 = time.monotonic()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.chmod(0o700 | (settings.run_dir.stat().st_mode & 0o001))  # o+x kept for embedded PostgreSQL
    if supervisor_running(settings):
        _say("platform already running:\n")
        _say(access_table(settings))
        return 0
    removed = clean_leftovers(settings)
    if removed:
        _say(f"removed stale leftovers: {', '.join(removed)}")
    new_key = None
    try:
        infra = infra_mod.ensure(settings)
        _say(f"postgresql: {infra.database_mode} ({_redact(infra.database_url)}); "
             f"redis: {infra.redis_mode} ({infra.redis_url})")
        from backend.storage.migrate import migrate_url

        applied = asyncio.run(asyncio.wait_for(migrate_url(infra.database_url), 60))
        _say(f"migrations applied: {applied or 'none pending'}")
        new_key = asyncio.run(asyncio.wait_for(ensure_admin_key(infra.database_url, settings.admin_api_key), 30))
        specs = platform_processes(settings)
        busy = [s for s in specs if s.port and infra_mod.port_open(settings.host, s.port, 0.2)]
        if busy:
            raise StartFailed("ports already in use by something else: "
                              + ", ".join(f"{s.name}:{s.port}" for s in busy)
                              + " (set NAUTILUS_PORT_OFFSET to move the whole platform)")
        env = {**os.environ, "DATABASE_URL": infra.database_url, "REDIS_URL": infra.redis_url,
               "NAUTILUS_RUN_DIR": str(settings.run_dir), "NAUTILUS_INSTANCE_ID": settings.instance_id,
               "NAUTILUS_INTERNAL_TOKEN": internal_token(settings), "PYTHONUNBUFFERED": "1"}
        env.pop("NAUTILUS_ADMIN_API_KEY", None)  # stored hashed above; no process needs the plaintext
        with open_log(settings, SUPERVISOR) as logf:
            proc = subprocess.Popen([sys.executable, "-m", SUPERVISOR_MODULE], env=env, stdout=logf,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    cwd=str(Path(__file__).resolve().parents[2]))
        pidfile.write(settings, SUPERVISOR, proc.pid, SUPERVISOR_MODULE)
        _wait_healthy(settings, proc, specs, t0)
    except Exception as e:  # noqa: BLE001 - any failure (StartFailed or other): undo, then report
        _say(f"\nSTART FAILED: {e}")
        stop(settings, quiet=True)
        if new_key:
            _say("(the admin key generated by this start was stored; run --rotate-admin-key for a usable one)")
        return 1
    _say(f"\nall {len(specs)} processes healthy in {time.monotonic() - t0:.1f}s\n")
    _say(access_table(settings))
    if new_key:
        _say(f"\nAdmin API key (shown once, stored only as a hash; send as X-API-Key):\n    {new_key}\n"
             f"Make keys with fewer scopes for daily use (README, Security). {ROTATE_HINT}.")
    else:
        _say(f"\nAdmin API key: made at the first start and shown then; {ROTATE_HINT}.")
    return 0


def _wait_healthy(settings: Settings, sup: subprocess.Popen, specs: list[ProcessSpec], t0: float) -> None:
    pending = {s.name: s for s in specs}
    while pending:
        if sup.poll() is not None:
            raise StartFailed(f"the supervisor exited with code {sup.returncode}; last log lines:\n"
                              + log_tail(settings, SUPERVISOR))
        children = (read_status(settings.run_dir) or {}).get("children", {})
        for name, spec in list(pending.items()):
            if children.get(name, {}).get("restarts", 0) > 0:
                raise StartFailed(f"{name} exited during start (code {children[name].get('last_exit_code')}); "
                                  f"last log lines:\n" + log_tail(settings, name))
            if spec.port and http_health(spec.port, settings.host, 0.5) is not None:
                del pending[name]
            elif spec.socket is not None and socket_answers(spec.socket):
                del pending[name]
        if pending and time.monotonic() - t0 > settings.start_timeout_s:
            raise StartFailed(f"not healthy within {settings.start_timeout_s:.0f}s: {', '.join(pending)}; "
                              f"see {settings.log_dir}")
        time.sleep(0.1)


def stop(settings: Settings, quiet: bool = False) -> int:
    from native_engines.ipc.shm import stale_segments

    specs = platform_processes(settings)
    results = []
    sup = pidfile.read(settings, SUPERVISOR)
    if pidfile.owned(sup):
        results.append(f"supervisor: {terminate(sup, CHILD_STOP_S * len(specs) + 5)}")
    pidfile.remove(settings, SUPERVISOR)
    for spec in reversed(specs):  # children the supervisor could not stop (it was killed, say)
        rec = pidfile.read(settings, spec.name)
        if pidfile.owned(rec):
            results.append(f"{spec.name}: {terminate(rec, CHILD_STOP_S)}")
        pidfile.remove(settings, spec.name)
    infra_mod.release(settings.run_dir)
    # every owner is stopped now, so every segment of this instance is stale
    for path in [*settings.run_dir.glob("*.sock"), *stale_segments(settings.instance_id),
                 settings.run_dir / "supervisor.json"]:
        path.unlink(missing_ok=True)
    if not quiet:
        _say("\n".join(results) if results else "nothing was running")
        _say("platform stopped")
    return 0


def _with_database(settings: Settings, job) -> object:  # noqa: ANN001 - job(url) -> coroutine
    """Run ``job(database_url)`` against this instance's database, starting embedded servers only for it."""
    infra = infra_mod.Infra.load(settings.run_dir)
    started = infra is None
    if started:
        infra = infra_mod.ensure(settings)
    try:
        from backend.storage.migrate import migrate_url

        asyncio.run(migrate_url(infra.database_url))
        return asyncio.run(job(infra.database_url))
    finally:
        if started and not supervisor_running(settings):
            infra_mod.release(settings.run_dir)


def rotate_admin_key(settings: Settings) -> int:
    import asyncpg

    from backend.auth import keys

    async def job(url: str) -> str:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return await keys.rotate_admin(conn)
        finally:
            await conn.close()

    key = _with_database(settings, job)
    _say(f"New admin API key (shown once; the previous bootstrap admin key is revoked):\n    {key}")
    if supervisor_running(settings):
        _say("the running platform accepts it within 5 seconds")
    return 0


def create_key(settings: Settings, name: str, scopes: list[str], accounts: list[str] | None) -> int:
    import asyncpg

    from backend.auth import keys

    async def job(url: str) -> tuple[str, str]:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return await keys.create_key(conn, name, scopes, accounts)
        finally:
            await conn.close()

    try:
        key_id, key = _with_database(settings, job)
    except ValueError as e:
        _say(f"error: {e}")
        return 2
    _say(f"API key {key_id} '{name}' with scopes {','.join(sorted(scopes))} (shown once):\n    {key}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nautilus", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop", "status", "rotate-admin-key"):
        sub.add_parser(name)
    ck = sub.add_parser("create-key", help="create an API key with the given scopes")
    ck.add_argument("--name", required=True)
    ck.add_argument("--scopes", required=True, help="comma-separated: read,compute,data-admin,trade,risk-admin,admin")
    ck.add_argument("--accounts", help="comma-separated trading accounts the key may act on (default: all)")
    pc = sub.add_parser("prometheus-config", help="a Prometheus scrape config for this instance (or Docker mode)")
    pc.add_argument("--out", type=Path, help="write it here (default: print it)")
    pc.add_argument("--interval", default="5s", help="scrape and rule evaluation interval (default 5s)")
    pc.add_argument("--docker", action="store_const", const="docker", dest="mode", default="local",
                    help="the Docker-mode file (compose service names)")
    pc.add_argument("--m4max", action="store_const", const="m4max", dest="mode",
                    help="the Apple Silicon Docker-mode file (the gateway on the host)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "prometheus-config":
        from backend.launcher import prometheus

        text = prometheus.write(settings, args.out, args.mode, args.interval)
        if args.out is None:
            print(text, end="")
        return 0
    if args.command == "start":
        return start(settings)
    if args.command == "stop":
        return stop(settings)
    if args.command == "rotate-admin-key":
        return rotate_admin_key(settings)
    if args.command == "create-key":
        return create_key(settings, args.name, [s.strip() for s in args.scopes.split(",") if s.strip()],
                          [a.strip() for a in args.accounts.split(",")] if args.accounts else None)
    print(access_table(settings))
    return 0 if supervisor_running(settings) else 3


if __name__ == "__main__":
    sys.exit(main())
