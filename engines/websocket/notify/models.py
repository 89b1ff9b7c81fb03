"""Request and response models of the notification operations (engines/websocket/ops.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from backend.contract.operation import Model
from engines.websocket.notify.events import KINDS

EventName = Literal[tuple(KINDS)]  # type: ignore[valid-type]
Priority = Literal["low", "normal", "high", "critical"]
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
Scalar = float | str | bool


class Condition(Model):
    """``payload[field] <op> value``; every condition of a rule must hold."""

    field: str = Field(min_length=1, max_length=64)
    op: Op
    value: Scalar | list[Scalar] = Field(description="a list only with op 'in' (at most 100 items)")


class WebhookChannel(Model):
    """POST of the notification as JSON, signed ``X-Nautilus-Signature: sha256=<hex HMAC of the body>`` when a
    secret is set; retried with exponential back-off, then kept on the dead-letter list."""

    type: Literal["webhook"]
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://")
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class WebsocketChannel(Model):
    """Published on ``notifications.<priority>`` for websocket clients (and the dashboard)."""

    type: Literal["websocket"]


Channel = Annotated[WebhookChannel | WebsocketChannel, Field(discriminator="type")]


class CreateRuleRequest(Model):
    name: str = Field(min_length=1, max_length=100)
    event: EventName
    conditions: list[Condition] = Field(default_factory=list, max_length=16)
    priority: Priority = "normal"
    channels: list[Channel] = Field(min_length=1, max_length=8)
    group_by: list[str] = Field(default_factory=list, max_length=4,
                                description="payload fields whose values make notifications distinct")
    window_s: float = Field(default=60.0, ge=0, le=86_400,
                            description="identical notifications within this window are one, with a count (0: off)")
    escalate_after_s: float | None = Field(default=None, gt=0, le=86_400,
                                           description="unacknowledged after this long: sent to escalate_to")
    escalate_to: list[Channel] = Field(default_factory=list, max_length=8)
    enabled: bool = True


class Rule(Model):
    id: str
    name: str
    event: str
    conditions: list[Condition]
    priority: Priority
    channels: list[dict[str, Any]]  # webhook secrets shown as "***"
    group_by: list[str]
    window_s: float
    escalate_after_s: float | None
    escalate_to: list[dict[str, Any]]
    enabled: bool
    created_at: datetime


class RuleRef(Model):
    id: str = Field(min_length=1, max_length=64)


class ListRulesRequest(Model):
    pass


class RuleList(Model):
    items: list[Rule]


class Deleted(Model):
    id: str
    deleted: bool


class ListNotificationsRequest(Model):
    rule_id: str | None = Field(default=None, max_length=64)
    unacknowledged_only: bool = False
    limit: int = Field(default=100, ge=1, le=1000)


class Notification(Model):
    id: int
    rule_id: str
    rule_name: str
    event_kind: str
    priority: Priority
    title: str
    count: int
    first_ts: datetime
    last_ts: datetime
    event: dict[str, Any]
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    deliveries: dict[str, int] = Field(description="delivery attempts by status (delivered, failed, dead)")


class NotificationList(Model):
    items: list[Notification]


class AcknowledgeRequest(Model):
    id: int = Field(ge=1)
    by: str | None = Field(default=None, max_length=100)


class ListDeliveriesRequest(Model):
    notification_id: int | None = Field(default=None, ge=1)
    status: Literal["delivered", "failed", "dead"] | None = Field(
        default=None, description="'dead': the dead-letter list (retries exhausted)")
    limit: int = Field(default=100, ge=1, le=1000)


class Delivery(Model):
    id: int
    notification_id: int
    channel: str
    target: str | None
    escalation: bool
    attempt: int
    status: str
    http_status: int | None
    error: str | None
    latency_ms: float | None
    created_at: datetime


class DeliveryList(Model):
    items: list[Delivery]
