"""Operations of the websocket engine. None are declared yet: they arrive with its capability issue."""

from backend.contract.operation import EngineSpec

ENGINE = EngineSpec(
    name="websocket",
    description="Topic subscriptions pushed to clients from the message bus.",
    operations=(),
)
