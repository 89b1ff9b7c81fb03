"""Operations of the risk engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="risk",
    description="VaR/CVaR, stress tests, limit sets and breach detection, margin.",
    operations=(),
)
