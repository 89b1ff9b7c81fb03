"""Operations of the strategy engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="strategy",
    description="Strategies and backtests. No operations yet: the engine runs and reports health only.",
    operations=(),
)
