"""Platform settings: one table, read from environment variables.

Every variable is prefixed ``NAUTILUS_`` except the two conventional URLs
(``DATABASE_URL``, ``REDIS_URL``). Ports are declared here and nowhere else;
``NAUTILUS_PORT_OFFSET`` shifts every default port at once so that a second
instance (a test run, say) can live beside a running platform.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
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



class Settings(BaseSettings):
    """Process-wide settings. Read once per process (``get_settings``)."""

    model_config = SettingsConfigDict(env_prefix="NAUTILUS_", extra="ignore", frozen=True, populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    run_dir: Path = REPO_ROOT / ".run"
    instance_id: str = "default"
    host: str = "127.0.0.1"
    port_offset: int = 0
    #: Per-engine replica URLs, e.g. NAUTILUS_ENGINE_URLS='{"analytics": ["http://h1:8100"]}'.
    engine_urls: dict[str, list[str]] = Field(default_factory=dict)
    log_level: str = "INFO"
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
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pid_dir(self) -> Path:
        return self.run_dir / "pids"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
