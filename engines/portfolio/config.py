"""Portfolio engine settings (env ``NAUTILUS_PORTFOLIO_*``).

Submitting a rebalance goes through the trading core's REST API like any client, with this engine's
own API key: create one with the ``trade`` scope (limited to the accounts it may rebalance) and give
it as ``NAUTILUS_PORTFOLIO_TRADE_API_KEY``. Without it, executing a rebalance answers 503 and plans
(dry runs) still work. The caller of ``execute_rebalance`` needs the ``trade`` scope as well.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PortfolioConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NAUTILUS_PORTFOLIO_", extra="ignore", frozen=True)

    #: Base URL of the gateway that serves /api/v1/trading; default: this instance's gateway.
    trading_url: str | None = None
    trade_api_key: SecretStr | None = None
    #: Bound on each call to the trading core.
    submit_timeout_s: float = 10.0
