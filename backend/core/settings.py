"""Platform settings: one table, read from environment variables.

Every variable is prefixed ``NAUTILUS_`` except the two conventional URLs
(``DATABASE_URL``, ``REDIS_URL``). Ports are declared here and nowhere else;
``NAUTILUS_PORT_OFFSET`` shifts every default port at once so that a second
instance (a test run, say) can live beside a running platform.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Engine name -> default HTTP port. The one table of engine ports.
ENGINE_PORTS: dict[str, int] = {
    "analytics": 8100,
    "risk": 8200,
    "factor": 8300,
    "ml": 8400,
    "features": 8500,
    "websocket": 8600,
    "strategy": 8700,
    "marketdata": 8800,
    "portfolio": 8900,
}
GATEWAY_PORT = 8001
DASHBOARD_PORT = 3000



class Settings(BaseSettings):
    """Process-wide settings. Read once per process (``get_settings``)."""

    model_config = SettingsConfigDict(env_prefix="NAUTILUS_", extra="ignore", frozen=True, populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    #: Default: ./.run, or ./.run-<offset> when NAUTILUS_PORT_OFFSET is set (a second instance).
    run_dir: Path = REPO_ROOT / ".run"
    #: Names this instance's database, Redis keys and channels, consumer groups and shared memory.
    #: Default: "default" for ./.run, else derived from the run directory's path.
    instance_id: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    host: str = "127.0.0.1"
    port_offset: int = 0
    #: Per-engine replica URLs, e.g. NAUTILUS_ENGINE_URLS='{"analytics": ["http://h1:8100"]}'.
    engine_urls: dict[str, list[str]] = Field(default_factory=dict)
    log_level: str = "INFO"
    #: "text" lines or "json" lines (backend/core/logging.py), with the request id of the call.
    log_format: Literal["text", "json"] = "text"
    #: Route GPU-capable operations of ml/risk/strategy to their native processes first.
    native_enabled: bool = True
    #: Gateway -> engine resilience.
    connect_timeout_s: float = 1.0
    breaker_failure_threshold: int = 3
    breaker_probe_interval_s: float = 1.0
    health_timeout_s: float = 1.0
    #: Start-up budget for the start script to see every process healthy.
    start_timeout_s: float = 60.0
    #: Where to look for local servers when no URL is given, and where embedded ones listen.
    local_postgres_port: int = 5432
    local_redis_port: int = 6379
    embedded_postgres_port: int = 55432
    embedded_redis_port: int = 56379
    db_pool_max_size: int = 4
    #: Server-side files the market data engine may import live under this folder.
    import_dir: Path = REPO_ROOT / "data" / "imports"
    db_connect_timeout_s: float = 3.0
    #: Requests with bodies of 1 MiB or more handled at once per process (the rest wait; bounds memory).
    max_large_requests: int = Field(default=2, ge=1, le=64)
    #: Simulated feeds: most running at once, most symbols across them, most messages a second each.
    feed_max_active: int = Field(default=4, ge=1, le=64)
    feed_max_symbols: int = Field(default=1000, ge=1, le=100_000)
    feed_max_messages_per_s: float = Field(default=250_000.0, gt=0, le=10_000_000)
    #: Worker processes per engine for persisted jobs (backtests, sweeps, training).
    job_workers: int = Field(default=2, ge=1, le=64)
    #: Real-time delivery (engines/websocket): messages waiting per client before it is closed as a
    #: slow consumer (4008), server pings and the silence after which a client is closed (4002),
    #: how often engine health is probed and published, webhook attempts before the dead-letter list.
    ws_max_queue_items: int = Field(default=5000, ge=10, le=1_000_000)
    ws_heartbeat_s: float = Field(default=20.0, gt=0, le=3600)
    ws_heartbeat_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    health_probe_interval_s: float = Field(default=5.0, gt=0, le=3600)
    webhook_max_attempts: int = Field(default=5, ge=1, le=20)

    # ---- access (backend/auth) ----
    #: Bootstrap admin key to ensure (stored hashed); unset: the start script generates one once.
    admin_api_key: str | None = Field(default=None, validation_alias="NAUTILUS_ADMIN_API_KEY")
    #: Shared secret the gateway sends to engines (the launcher writes it to <run_dir>/internal.token).
    internal_token: str | None = None
    #: Host header values served (DNS-rebinding guard); "*" serves any. The listen host is added.
    allowed_hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1", "localhost", "::1"])
    #: Browser origins that may call the API (CORS); default: the dashboard on this instance's port.
    allowed_origins: list[str] | None = None
    #: Peers allowed to scrape /metrics (CIDRs).
    metrics_allow: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: Per-key rate limits by scope (``limits`` notation, e.g. "600/minute"; empty string: none).
    rate_limit_compute: str = "1200/minute"
    rate_limit_trade: str = "20000/minute"
    rate_limit_data_admin: str = "120/minute"
    rate_limit_risk_admin: str = "120/minute"
    rate_limit_admin: str = "120/minute"

    @model_validator(mode="before")
    @classmethod
    def _instance_from_run_dir(cls, data: Any) -> Any:
        """One instance per run directory: derive what was not given from the run directory."""
        if not isinstance(data, dict):
            return data
        keys = {k.lower() for k in data}
        offset = int(data.get("port_offset") or data.get("NAUTILUS_PORT_OFFSET") or 0)
        if not keys & {"run_dir", "nautilus_run_dir"} and offset:
            data = {**data, "run_dir": REPO_ROOT / f".run-{offset}"}
        if not keys & {"instance_id", "nautilus_instance_id"}:
            run_dir = Path(data.get("run_dir") or data.get("NAUTILUS_RUN_DIR") or REPO_ROOT / ".run")
            data = {**data, "instance_id": derive_instance_id(run_dir)}
        return data

    @property
    def database_name(self) -> str:
        """This instance's database on a local or embedded server."""
        return "nautilus" if self.instance_id == "default" else "nautilus_" + self.instance_id.lower().replace("-", "_")

    def engine_port(self, engine: str) -> int:
        """HTTP port of one engine: env NAUTILUS_PORT_<ENGINE>, else default + offset."""
        explicit = os.environ.get(f"NAUTILUS_PORT_{engine.upper()}")
        return int(explicit) if explicit else ENGINE_PORTS[engine] + self.port_offset

    @property
    def gateway_port(self) -> int:
        explicit = os.environ.get("NAUTILUS_PORT_GATEWAY")
        return int(explicit) if explicit else GATEWAY_PORT + self.port_offset

    def engine_replicas(self, engine: str) -> list[str]:
        """Base URLs of an engine's HTTP replicas, first preferred."""
        return self.engine_urls.get(engine) or [f"http://{self.host}:{self.engine_port(engine)}"]

    @property
    def dashboard_port(self) -> int:
        explicit = os.environ.get("NAUTILUS_PORT_DASHBOARD")
        return int(explicit) if explicit else DASHBOARD_PORT + self.port_offset

    def served_hosts(self) -> list[str]:
        return [*self.allowed_hosts, self.host]

    def origins(self) -> list[str]:
        if self.allowed_origins is not None:
            return self.allowed_origins
        return [f"http://{h}:{self.dashboard_port}" for h in ("127.0.0.1", "localhost", "[::1]")]

    def rate_limits(self) -> dict[str, str]:
        """Scope -> limit spec for the authenticator (reads are not limited)."""
        return {"compute": self.rate_limit_compute, "trade": self.rate_limit_trade,
                "data-admin": self.rate_limit_data_admin, "risk-admin": self.rate_limit_risk_admin,
                "admin": self.rate_limit_admin}

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.run_dir / "pids"


def derive_instance_id(run_dir: Path) -> str:
    """``default`` for the repository's ./.run; else the folder name and a hash of its path."""
    resolved = Path(run_dir).expanduser().resolve()
    if resolved == (REPO_ROOT / ".run").resolve():
        return "default"
    stem = re.sub(r"[^A-Za-z0-9]", "", resolved.name)[:12] or "run"
    return f"{stem}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
