"""The order state machine as a table: ``(status, trigger) -> status``. Anything else raises.

    INITIALISED --submit--> SUBMITTED --accept--> ACCEPTED --fill_partial--> PARTIALLY_FILLED --fill--> FILLED
    INITIALISED --deny--> DENIED              (local pre-trade refusal)
    SUBMITTED   --reject--> REJECTED          (the venue refused)
    ACCEPTED    --trigger--> TRIGGERED        (a stop order released to the venue)
    open states --cancel--> CANCELLED, --expire--> EXPIRED, --amend--> same state
Terminal: DENIED, REJECTED, CANCELLED, EXPIRED, FILLED.
"""

from __future__ import annotations

import enum

from backend.core.errors import Conflict


class OrderStatus(enum.StrEnum):
    INITIALISED = "initialised"
    DENIED = "denied"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TRIGGERED = "triggered"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Trigger(enum.StrEnum):
    SUBMIT = "submit"
    DENY = "deny"
    ACCEPT = "accept"
    REJECT = "reject"
    TRIGGER = "trigger"
    FILL_PARTIAL = "fill_partial"
    FILL = "fill"
    CANCEL = "cancel"
    EXPIRE = "expire"
    AMEND = "amend"


S, T = OrderStatus, Trigger
_OPEN_AFTER_ACCEPT = (S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED)

TRANSITIONS: dict[tuple[OrderStatus, Trigger], OrderStatus] = {
    (S.INITIALISED, T.SUBMIT): S.SUBMITTED,
    (S.INITIALISED, T.DENY): S.DENIED,
    (S.SUBMITTED, T.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, T.REJECT): S.REJECTED,
    (S.ACCEPTED, T.TRIGGER): S.TRIGGERED,
    **{(s, T.FILL_PARTIAL): S.PARTIALLY_FILLED for s in _OPEN_AFTER_ACCEPT},
    **{(s, T.FILL): S.FILLED for s in _OPEN_AFTER_ACCEPT},
    **{(s, T.CANCEL): S.CANCELLED for s in _OPEN_AFTER_ACCEPT},
    **{(s, T.EXPIRE): S.EXPIRED for s in _OPEN_AFTER_ACCEPT},
    **{(s, T.AMEND): s for s in _OPEN_AFTER_ACCEPT},
}

TERMINAL = frozenset({S.DENIED, S.REJECTED, S.CANCELLED, S.EXPIRED, S.FILLED})
OPEN = frozenset(_OPEN_AFTER_ACCEPT) | {S.SUBMITTED}


class IllegalTransition(Conflict):
    """An order was asked to move along an edge the table does not have."""

    code = "ILLEGAL_ORDER_TRANSITION"
    title = "Illegal order state transition"


def next_status(status: OrderStatus, trigger: Trigger) -> OrderStatus:
    """The status after ``trigger``; raises IllegalTransition (409) when the table has no such edge."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise IllegalTransition(
            f"order in status {status.value!r} cannot {trigger.value}", status=status.value, trigger=trigger.value
        ) from None
