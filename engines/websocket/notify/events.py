"""The events a notification rule can name: one table (kind -> bus source, envelope types, the payload
fields conditions and grouping may use, and a one-line title)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.bus.streams import EVENTS_JOBS, EVENTS_RISK, EVENTS_TRADING

PUBSUB = "pubsub"

ORDER_FIELDS = frozenset({"id", "account_id", "strategy", "client_order_id", "symbol", "side", "type", "tif", "qty",
                          "limit_price", "stop_price", "venue", "status", "filled_qty", "leaves_qty",
                          "avg_fill_price", "fees", "reason", "algo_id"})


@dataclass(frozen=True)
class EventKind:
    name: str
    source: str  # a stream, or PUBSUB (topic prefix in ``topic_prefix``)
    types: frozenset[str]
    fields: frozenset[str]
    title: Callable[[dict[str, Any]], str]
    topic_prefix: str = ""
    #: A predicate the payload must meet besides the rule's conditions (engine_down: status down).
    when: Callable[[dict[str, Any]], bool] | None = None


def _g(p: dict[str, Any], k: str) -> Any:
    return p.get(k, "?")


KINDS: dict[str, EventKind] = {k.name: k for k in (
    EventKind("order_filled", EVENTS_TRADING, frozenset({"order.filled"}), ORDER_FIELDS,
              lambda p: f"order {_g(p, 'id')} filled: {_g(p, 'side')} {_g(p, 'filled_qty')} {_g(p, 'symbol')} "
                        f"at {_g(p, 'avg_fill_price')} ({_g(p, 'account_id')})"),
    EventKind("order_rejected", EVENTS_TRADING, frozenset({"order.rejected", "order.denied"}), ORDER_FIELDS,
              lambda p: f"order {_g(p, 'id')} {_g(p, 'status')}: {_g(p, 'side')} {_g(p, 'qty')} {_g(p, 'symbol')} "
                        f"({(p.get('denial') or {}).get('code') or p.get('reason') or 'no reason'})"),
    EventKind("fill", EVENTS_TRADING, frozenset({"fill"}),
              frozenset({"order_id", "account_id", "strategy", "symbol", "side", "venue", "price", "qty", "fee",
                         "liquidity"}),
              lambda p: f"fill {_g(p, 'side')} {_g(p, 'qty')} {_g(p, 'symbol')} at {_g(p, 'price')}"),
    EventKind("position_pnl", EVENTS_TRADING, frozenset({"position"}),
              frozenset({"account_id", "strategy", "symbol", "qty", "avg_cost", "realised_pnl", "unrealised_pnl",
                         "fees", "market_value"}),
              lambda p: f"position {_g(p, 'symbol')} ({_g(p, 'account_id')}): qty {_g(p, 'qty')}, realised P&L "
                        f"{_g(p, 'realised_pnl')}, unrealised {_g(p, 'unrealised_pnl')}"),
    EventKind("kill_switch", EVENTS_TRADING, frozenset({"kill_switch"}),
              frozenset({"scope", "active", "reason"}),
              lambda p: f"kill switch {'ON' if p.get('active') else 'off'} ({_g(p, 'scope')}): {_g(p, 'reason')}"),
    EventKind("limit_breach", EVENTS_RISK, frozenset({"limit_breach"}),
              frozenset({"set_id", "set_name", "limit_id", "limit_type", "scope", "portfolio", "value", "threshold",
                         "utilisation"}),
              lambda p: f"limit {_g(p, 'limit_id')} of {_g(p, 'set_name')} breached: {_g(p, 'value')} against "
                        f"{_g(p, 'threshold')}"),
    EventKind("job_finished", EVENTS_JOBS, frozenset({"job.succeeded"}), frozenset({"id", "engine", "kind"}),
              lambda p: f"{_g(p, 'engine')} job {_g(p, 'id')} ({_g(p, 'kind')}) finished"),
    EventKind("job_failed", EVENTS_JOBS, frozenset({"job.failed"}), frozenset({"id", "engine", "kind", "error"}),
              lambda p: f"{_g(p, 'engine')} job {_g(p, 'id')} ({_g(p, 'kind')}) failed"),
    EventKind("engine_down", PUBSUB, frozenset({"engine_health"}), frozenset({"engine", "previous"}),
              lambda p: f"engine {_g(p, 'engine')} is down: {p.get('detail') or ''}"[:300],
              topic_prefix="health.engine.", when=lambda p: p.get("status") == "down"),
)}
STREAMS: tuple[str, ...] = tuple(sorted({k.source for k in KINDS.values() if k.source != PUBSUB}))


def kinds_for(source: str, type_: str) -> list[EventKind]:
    return [k for k in KINDS.values() if k.source == source and type_ in k.types]
