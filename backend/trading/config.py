"""Trading core settings (env ``NAUTILUS_TRADING_*``; the bootstrap key is ``NAUTILUS_ADMIN_API_KEY``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class TradingConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NAUTILUS_TRADING_", extra="ignore", frozen=True,
                                      populate_by_name=True)

    consumer_group: str = "trading"
    consumer_name: str = "gateway"
    feed_enabled: bool = True
    session_close_utc: str = "21:00"
    writer_retry_s: float = 10.0
    writer_max_batches: int = 256
    relay_batch: int = 500
    relay_poll_s: float = 0.5
    stop_timeout_s: float = 5.0
    expiry_interval_s: float = 1.0
    algo_tick_s: float = 0.05
    #: How often assigned risk-engine limit sets are checked for edits (their updated_at).
    limit_set_refresh_s: float = 1.0
    #: Cap on list endpoints' page size.
    max_page: int = 1000
