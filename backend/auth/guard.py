"""The request guard and the authenticator, shared by the gateway and every engine service.

``Guard`` (pure ASGI, outermost) refuses, before any route runs: a ``Host`` this instance does
not serve (DNS rebinding), an ``Origin`` that is not the dashboard's (a web page in the
operator's browser), a body that is not JSON (so no form post escapes a CORS preflight), and a
NUL character in the path or query (PostgreSQL cannot store it).

``Authenticator.require(headers, scope)`` turns ``X-API-Key`` into a ``Principal`` that holds
``scope`` and applies the per-key rate limit of the scope's family; an engine also accepts the
instance's internal token, which only the gateway has (``X-Nautilus-Internal``).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from backend.auth import keys
from backend.auth.keys import HEADER, INTERNAL, Principal
from backend.core.errors import (
    BackendUnavailable,
    ContractError,
    Forbidden,
    InvalidInput,
    NautilusError,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)
from backend.core.scopes import Scope

INTERNAL_HEADER = "X-Nautilus-Internal"
#: Media types a request body may have; anything else is 415 before a route runs.
JSON_TYPES = frozenset({"application/json"})
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})


class HostNotAllowed(ContractError):
    code = "HOST_NOT_ALLOWED"
    status = 400
    title = "Host not served here"


class OriginNotAllowed(Forbidden):
    code = "ORIGIN_NOT_ALLOWED"
    title = "Origin not allowed"


def _host_only(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8001
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """Pure ASGI middleware; see the module docstring. ``body_types`` extends the JSON media types."""

    def __init__(self, app: Any, *, allowed_hosts: Iterable[str], allowed_origins: Iterable[str],
                 body_types: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = frozenset(h.lower() for h in allowed_hosts)
        self.origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.body_types = JSON_TYPES | frozenset(body_types)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        err = self.check(scope)
        if err is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": err.detail[:120]})
            return
        from backend.contract import problem
        from backend.service.app import problem_response

        await problem_response(problem.from_error(err, instance=scope.get("path")))(scope, receive, send)

    def check(self, scope: dict) -> NautilusError | None:
        headers = dict(scope["headers"])  # later duplicates win; Host/Origin/Content-Type are single
        host = headers.get(b"host", b"").decode("latin-1")
        if "*" not in self.hosts and _host_only(host) not in self.hosts:
            return HostNotAllowed(f"host {host[:100]!r} is not served by this instance "
                                  "(NAUTILUS_ALLOWED_HOSTS)", field="Host")
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1").rstrip("/").lower() not in self.origins:
            return OriginNotAllowed(f"origin {origin.decode('latin-1')[:100]!r} may not call this API "
                                    "(NAUTILUS_ALLOWED_ORIGINS)", field="Origin")
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            return InvalidInput("NUL characters are not accepted in the path or query",
                                field="query" if b"%00" in scope.get("query_string", b"") else "path")
        if scope["type"] == "http" and scope["method"].encode() in _BODY_METHODS:
            length = headers.get(b"content-length")
            has_body = (length is not None and length.strip() not in (b"", b"0")) or (
                b"transfer-encoding" in headers)
            if has_body:
                ctype = headers.get(b"content-type", b"").decode("latin-1").split(";", 1)[0].strip().lower()
                if ctype not in self.body_types:
                    return UnsupportedMediaType(
                        f"request bodies must be {' or '.join(sorted(self.body_types))}, not {ctype or 'untyped'!r}",
                        field="Content-Type")
        return None


class Authenticator:
    """API key (or internal token) -> Principal with a scope, rate limited per key and scope family."""

    def __init__(self, db: Callable[[], Any], *, internal_token: str | None = None,
                 rate_limits: dict[str, str] | None = None) -> None:
        self._db = db
        self._internal = internal_token.encode() if internal_token else None
        # the asyncio storage expires windows in a task; the threaded one starts a timer thread per burst
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limits = {family: parse(spec) for family, spec in (rate_limits or {}).items() if spec}

    async def principal(self, headers: Any) -> Principal:
        if self._internal is not None:
            token = headers.get(INTERNAL_HEADER)
            if token is not None and hmac.compare_digest(token.encode(), self._internal):
                return INTERNAL
        key = headers.get(HEADER)
        if not key:
            raise Unauthorized(f"missing {HEADER} header", field=HEADER)
        db = self._db()
        if db is None:
            raise BackendUnavailable("API keys cannot be checked: no database connection")
        p = await keys.lookup(db, key)
        if p is None:
            raise Unauthorized("unknown or revoked API key", field=HEADER)
        return p

    async def require(self, headers: Any, scope: Scope | str) -> Principal:
        """The caller, if it holds ``scope``; 401/403/429 otherwise."""
        p = await self.principal(headers)
        if not p.allows(scope):
            raise Forbidden(f"this key lacks the {str(scope)!r} scope", field=HEADER, needed_scope=str(scope))
        limit = self._limits.get(str(scope))
        if limit is not None and p is not INTERNAL and not await self._limiter.hit(limit, p.key_id, str(scope)):
            reset = (await self._limiter.get_window_stats(limit, p.key_id, str(scope))).reset_time
            raise RateLimited(f"rate limit {limit} for {str(scope)!r} calls exceeded by this key",
                              field=HEADER, retry_after_s=max(1, int(reset - time.time()) + 1))
        return p

    async def optional(self, headers: Any) -> Principal | None:
        """The caller if it sent a valid credential, else None (for routes that say less to strangers)."""
        try:
            return await self.principal(headers)
        except NautilusError:
            return None


def client_allowed(client_host: str | None, networks: Iterable[str]) -> bool:
    """Whether a peer address lies in one of ``networks`` (CIDRs); used for /metrics."""
    if not client_host:
        return False
    try:
        addr = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)


def check_accounts(p: Principal, account_ids: Iterable[str]) -> None:
    """403 naming the first account the key may not use."""
    for a in account_ids:
        if not p.may_use(a):
            raise Forbidden(f"this key may not act on account {a!r}", field="account_id")
