"""Operations of the features engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="features",
    description="Technical indicators, batch and incremental.",
    operations=(),
)
