"""The notification engine: rules on bus events, channels, de-duplication, aggregation, escalation and
delivery tracking (notifier.py); its operations are the websocket engine's (engines/websocket/ops.py)."""
