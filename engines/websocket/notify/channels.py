"""Delivery channels: the websocket (a publish on ``notifications.<priority>``) and webhooks (an HMAC-signed
POST retried with exponential back-off by tenacity; when the attempts run out the last one is stored with
status ``dead``: the dead-letter list). Every attempt is a row of ``notification_deliveries``."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import aiohttp
import orjson
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

DELIVERED = Counter("nautilus_notification_deliveries_total", "Notification delivery attempts",
                    ["channel", "status"])
SIGNATURE_HEADER = "X-Nautilus-Signature"
WEBHOOK_TIMEOUT_S = 5.0


def notification_topic(priority: str) -> str:
    return f"notifications.{priority}"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookFailed(Exception):
    def __init__(self, status: int | None, error: str) -> None:
        super().__init__(error)
        self.status = status


async def record(db: Any, nid: int, channel: str, target: str | None, escalation: bool, attempt: int, status: str,
                 http_status: int | None, error: str | None, event_ts_ns: int) -> None:
    DELIVERED.labels(channel, status).inc()
    await db.execute(
        "INSERT INTO notification_deliveries (notification_id, channel, target, escalation, attempt, status, "
        "http_status, error, latency_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        nid, channel, target, escalation, attempt, status, http_status, error and error[:500],
        (time.time_ns() - event_ts_ns) / 1e6 if event_ts_ns else None)


async def deliver_websocket(db: Any, bus: Any, view: dict[str, Any], escalation: bool, event_ts_ns: int) -> None:
    topic = notification_topic(view["priority"])
    try:
        await bus.broadcast(topic, topic, "notification", view)
        await record(db, view["id"], "websocket", topic, escalation, 1, "delivered", None, None, event_ts_ns)
    except Exception as e:  # noqa: BLE001 - Redis down: recorded, the webhook channels still go
        await record(db, view["id"], "websocket", topic, escalation, 1, "dead", None, f"{type(e).__name__}: {e}",
                     event_ts_ns)


async def deliver_webhook(db: Any, http: aiohttp.ClientSession, channel: dict[str, Any], view: dict[str, Any],
                          escalation: bool, event_ts_ns: int, max_attempts: int, wait_max_s: float = 5.0) -> bool:
    """POST ``view`` until it is accepted (2xx) or ``max_attempts`` fail; True if delivered."""
    body = orjson.dumps({**view, "escalation": escalation}, default=str)
    headers = {"Content-Type": "application/json"}
    if channel.get("secret"):
        headers[SIGNATURE_HEADER] = sign(channel["secret"], body)
    url = channel["url"]
    attempt_no = 0

    async def attempt() -> None:
        nonlocal attempt_no
        attempt_no += 1
        status: int | None = None
        try:
            async with http.post(url, data=body, headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)) as r:
                status = r.status
                if not 200 <= r.status < 300:
                    raise WebhookFailed(r.status, f"HTTP {r.status}")
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            err = WebhookFailed(status, f"{type(e).__name__}: {e}")
            last = attempt_no >= max_attempts
            await record(db, view["id"], "webhook", url, escalation, attempt_no, "dead" if last else "failed",
                         status, str(err), event_ts_ns)
            raise err from e
        except WebhookFailed as e:
            last = attempt_no >= max_attempts
            await record(db, view["id"], "webhook", url, escalation, attempt_no, "dead" if last else "failed",
                         e.status, str(e), event_ts_ns)
            raise
        await record(db, view["id"], "webhook", url, escalation, attempt_no, "delivered", status, None, event_ts_ns)

    try:
        async for try_ in AsyncRetrying(stop=stop_after_attempt(max_attempts),
                                        wait=wait_exponential(multiplier=0.2, max=wait_max_s)):
            with try_:
                await attempt()
    except (RetryError, WebhookFailed):
        log.warning("webhook %s: notification %s dead after %d attempts", url, view["id"], attempt_no)
        return False
    return True
