"""Operations of the strategy engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="strategy",
    description="Strategy registry, versions, staged promotion pipeline, chart-pattern recognition.",
    operations=(),
)
