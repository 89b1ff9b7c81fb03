"""The platform's exception tree. Every domain error has a stable code and an HTTP status.

    NautilusError
    ├── ContractError                (4xx: the caller's request is wrong)
    │   ├── InvalidInput             422 INVALID_INPUT        (a field's value is unusable)
    │   ├── NotFound                 404 NOT_FOUND
    │   ├── Conflict                 409 CONFLICT
    │   ├── PayloadTooLarge          413 PAYLOAD_TOO_LARGE
    │   ├── Unauthorized             401 UNAUTHORIZED         (no or unknown credentials)
    │   ├── Forbidden                403 FORBIDDEN            (credentials lack the scope)
    │   ├── NonFiniteResult          422 NON_FINITE_RESULT    (valid inputs whose result is not a finite number)
    │   ├── UnsupportedMediaType     415 UNSUPPORTED_MEDIA_TYPE (a body that is not JSON)
    │   ├── RateLimited              429 RATE_LIMITED         (this key's rate for the scope is spent)
    │   └── Denied                   422 DENIED               (a pre-trade risk check refused an order)
    ├── Unavailable                  503 UNAVAILABLE          (a local component cannot serve now)
    │   └── TradingRecovering        503 TRADING_RECOVERING   (the order core is rebuilt after a failed commit)
    └── TransportError               (5xx: a backend could not answer; retried if idempotent)
        ├── BackendUnavailable       503 ENGINE_UNAVAILABLE
        └── BackendTimeout           504 ENGINE_TIMEOUT

Only TransportError opens a circuit breaker or triggers a retry on another
backend; a ContractError is an answer and travels back unchanged.
"""

from __future__ import annotations

from typing import Any


class NautilusError(Exception):
    code = "INTERNAL"
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def errors(self) -> list[dict[str, str]]:
        return [{"field": self.field, "reason": self.detail}] if self.field else []


class ContractError(NautilusError):
    code = "BAD_REQUEST"
    status = 400
    title = "Bad request"


class InvalidInput(ContractError):
    code = "INVALID_INPUT"
    status = 422
    title = "Invalid input"


class NotFound(ContractError):
    code = "NOT_FOUND"
    status = 404
    title = "Not found"


class Conflict(ContractError):
    code = "CONFLICT"
    status = 409
    title = "Conflict"


class PayloadTooLarge(ContractError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    title = "Payload too large"


class Unauthorized(ContractError):
    code = "UNAUTHORIZED"
    status = 401
    title = "Unauthorized"


class Forbidden(ContractError):
    code = "FORBIDDEN"
    status = 403
    title = "Forbidden"


class NonFiniteResult(InvalidInput):
    """The inputs pass validation but the result overflows or is undefined (e.g. zero volatility and
    zero time together): a 422 naming the result field, never a ``null`` where a number is promised."""

    code = "NON_FINITE_RESULT"
    title = "Result not finite for these inputs"


class UnsupportedMediaType(ContractError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415
    title = "Unsupported media type"


class RateLimited(ContractError):
    code = "RATE_LIMITED"
    status = 429
    title = "Too many requests"


class Denied(ContractError):
    """A local refusal (pre-trade risk); ``extra`` carries the check's stable code and values."""

    code = "DENIED"
    status = 422
    title = "Denied by a pre-trade check"


class Unavailable(NautilusError):
    """A component of this process cannot serve right now (not a backend's transport failure)."""

    code = "UNAVAILABLE"
    status = 503
    title = "Temporarily unavailable"


class TradingRecovering(Unavailable):
    """Intake is halted while memory is rebuilt from the database (not the kill switch, whose
    pre-trade denial code is TRADING_HALTED)."""

    code = "TRADING_RECOVERING"
    title = "Trading core recovering"


class TransportError(NautilusError):
    code = "TRANSPORT_ERROR"
    status = 502
    title = "Backend transport error"


class BackendUnavailable(TransportError):
    code = "ENGINE_UNAVAILABLE"
    status = 503
    title = "Engine unavailable"


class BackendTimeout(TransportError):
    code = "ENGINE_TIMEOUT"
    status = 504
    title = "Engine timed out"
