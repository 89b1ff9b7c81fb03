"""Operations of the marketdata engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="marketdata",
    description="Ingestion, validation, storage and distribution of market data.",
    operations=(),
)
