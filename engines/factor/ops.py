"""Operations of the factor engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="factor",
    description="Factor definitions and computation across a universe, cross-sectional ranks, IC, factor returns.",
    operations=(),
)
