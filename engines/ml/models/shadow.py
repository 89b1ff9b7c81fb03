"""Champion/challenger in shadow on the live feed (volatility models)."""

from __future__ import annotations

from pydantic import Field

from backend.contract.arrays import Instant, Symbol
from backend.contract.operation import Model
from engines.ml.models.data import Timeframe
from engines.ml.models.registry import ModelName, Version
from engines.ml.models.volatility import DieboldMariano, LossPair


class StartShadowRequest(Model):
    name: ModelName
    challenger: Version
    champion: Version | None = Field(default=None, description="default: the production version")
    symbol: Symbol
    timeframe: Timeframe = "1d"
    history_bars: int = Field(default=1_000, ge=100, le=20_000, description="stored bars the filters start from")


class ShadowRef(Model):
    shadow_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$", description="the shadow's job id")


class ShadowComparison(Model):
    shadow_id: str
    name: str
    symbol: str
    champion_version: int
    challenger_version: int
    n_forecasts: int = Field(description="bars whose outcome has arrived, forecast by both")
    pending: int = Field(description="forecasts still waiting for their outcome")
    first_origin: Instant | None
    last_origin: Instant | None
    champion: LossPair | None
    challenger: LossPair | None
    diebold_mariano: list[DieboldMariano] = Field(description="challenger minus champion (needs 10 outcomes)")
    challenger_better: bool
    verdict: str
