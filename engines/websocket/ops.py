"""Operations of the websocket engine: the notification engine that runs in its process (engines/websocket/notify).
The live stream itself is the websocket ``/ws`` (engines/websocket/routes.py), not an operation."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.websocket.notify import models as m

_E = "websocket"
_F = "engines.websocket.notify.operations:"

ENGINE = EngineSpec(
    name=_E,
    description="Topic subscriptions pushed to clients from the message bus, and notifications on platform events.",
    operations=(
        Operation(engine=_E, name="create_notification_rule", scope=Scope.RISK_ADMIN, request=m.CreateRuleRequest,
                  response=m.Rule, fn_path=_F + "create_notification_rule", idempotent=False, timeout_s=10.0,
                  max_body_bytes=64 * 1024,
                  summary="A rule: an event kind, conditions on its payload, priority, channels, aggregation window "
                          "and escalation",
                  example={"name": "big fills", "event": "order_filled", "priority": "high",
                           "conditions": [{"field": "filled_qty", "op": "gte", "value": 1000}],
                           "channels": [{"type": "webhook", "url": "http://127.0.0.1:9000/hook"}]}),
        Operation(engine=_E, name="list_notification_rules", scope=Scope.READ, request=m.ListRulesRequest,
                  response=m.RuleList, fn_path=_F + "list_notification_rules", timeout_s=10.0,
                  summary="Every notification rule (webhook secrets masked)"),
        Operation(engine=_E, name="delete_notification_rule", scope=Scope.RISK_ADMIN, request=m.RuleRef,
                  response=m.Deleted, fn_path=_F + "delete_notification_rule", idempotent=False, timeout_s=10.0,
                  summary="Delete a rule (its notifications and deliveries are kept)"),
        Operation(engine=_E, name="list_notifications", scope=Scope.READ, request=m.ListNotificationsRequest,
                  response=m.NotificationList, fn_path=_F + "list_notifications", timeout_s=10.0,
                  summary="Notifications, newest first, with their counts and delivery outcomes"),
        Operation(engine=_E, name="acknowledge_notification", scope=Scope.RISK_ADMIN, request=m.AcknowledgeRequest,
                  response=m.Notification, fn_path=_F + "acknowledge_notification", idempotent=True, timeout_s=10.0,
                  summary="Acknowledge a notification: no escalation, and its aggregation window closes"),
        Operation(engine=_E, name="list_notification_deliveries", scope=Scope.READ, request=m.ListDeliveriesRequest,
                  response=m.DeliveryList, fn_path=_F + "list_notification_deliveries", timeout_s=10.0,
                  summary="Delivery attempts (status 'dead': the dead-letter list) with latency from the event"),
    ),
)
