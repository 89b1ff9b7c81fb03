"""Operations of the ml engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="ml",
    description="Machine-learning models. No operations yet: the engine runs and reports health only.",
    operations=(),
)
