"""Operations of the ml engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="ml",
    description="Price-direction, regime and volatility models: train, register, version, predict.",
    operations=(),
)
