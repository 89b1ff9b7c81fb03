"""Operations of the portfolio engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="portfolio",
    description="Portfolio optimisation. No operations yet: the engine runs and reports health only.",
    operations=(),
)
