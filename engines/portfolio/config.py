"""Portfolio engine settings (env ``NAUTILUS_PORTFOLIO_*``).

Submitting a rebalance goes through the trading core's REST API like any client. By default the engine
uses the instance's internal token (which the launcher gives the platform's own processes); to give it
less, create a key with the ``trade`` scope limited to the accounts it may rebalance and set it as
``NAUTILUS_PORTFOLIO_TRADE_API_KEY``. The caller of ``execute_rebalance`` needs the ``trade`` scope too.
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
