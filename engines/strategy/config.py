"""Strategy engine settings (env ``NAUTILUS_STRATEGY_*``).

Paper trading submits through the trading core's REST API like any client: with the instance's internal
token by default (the launcher gives it to the platform's processes), or with a narrower key with the
``trade`` scope limited to the paper accounts (``NAUTILUS_STRATEGY_TRADE_API_KEY``). The caller of
``start_paper`` / ``promote_strategy`` needs the ``trade`` scope for the account it names.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StrategyConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NAUTILUS_STRATEGY_", extra="ignore", frozen=True)

    #: Base URL of the gateway that serves /api/v1/trading; default: this instance's gateway.
    trading_url: str | None = None
    trade_api_key: SecretStr | None = None
    #: Bound on each call to the trading core.
    call_timeout_s: float = 10.0
    #: A callback running longer than this stops its instance (the watchdog).
    callback_timeout_s: float = 5.0
    #: Most paper instances running at once in this engine process.
    max_instances: int = 20
