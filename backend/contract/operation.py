"""The engine contract: an operation is declared once and served by every transport.

An ``Operation`` ties a verb-noun name to a frozen pydantic request model, a
response model and one function ``fn(request, ctx) -> response``. The function
is named by an import path (``"engines.analytics.compute:performance"``) and
imported lazily, so the gateway can publish the models without importing numpy
or torch. A synchronous function is pure compute and runs in a worker thread; an
``async`` one may use ``ctx.db`` / ``ctx.bus`` and runs on the event loop.
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from backend.core.errors import BackendUnavailable, NonFiniteResult
from backend.core.scopes import Scope

#: Default request body limit of an operation: a JSON body becomes several times its size in
#: Python objects while it is validated, so this bounds a request's memory (see docs/security.md).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


class Model(BaseModel):
    """Base of every request/response model: immutable, unknown fields refused, and no NaN or
    infinity in any float (a result that is not finite is an error, never a JSON ``null``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass
class OpContext:
    """What an operation may use besides its request. No I/O in sync compute."""

    engine: str
    device: str = "cpu"
    db: Any = None  # asyncpg.Pool, for async operations that need storage
    bus: Any = None  # backend.bus.Bus
    settings: Any = None
    jobs: Any = None  # backend.jobs.runner.JobRunner of this engine process, if it owns job kinds
    started_monotonic: float = field(default_factory=time.monotonic)

    def require_db(self) -> Any:
        """The asyncpg pool; a missing database is a 503 (BackendUnavailable), not a bug."""
        if self.db is None:
            raise BackendUnavailable(f"the {self.engine} engine has no database connection")
        return self.db

    def require_bus(self) -> Any:
        """The message bus; a missing Redis is a 503 (BackendUnavailable)."""
        if self.bus is None:
            raise BackendUnavailable(f"the {self.engine} engine has no Redis connection")
        return self.bus


@dataclass(frozen=True)
class Operation:
    """One operation of one engine, declared once."""

    engine: str
    name: str
    request: type[Model]
    response: type[Model]
    fn_path: str
    #: What a caller's key must hold (``backend.core.scopes``); every operation declares one.
    scope: Scope | None = None
    summary: str = ""
    gpu: bool = False
    #: The native process that serves this GPU-capable operation: its own engine's (ml, risk, strategy)
    #: by default; an engine without a native process names another (features -> "ml", which keeps
    #: tensors resident). ``native_engines.serve.NATIVE_ENGINES`` lists them.
    native: str | None = None
    idempotent: bool = True
    timeout_s: float = 30.0
    #: Largest request body accepted (bytes), enforced while the body is read, before parsing.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Relative tolerance for native-vs-HTTP agreement of float results.
    rtol: float = 1e-9
    #: A valid request (JSON-able): shown in the docs, used to warm native engines up and
    #: by the native-vs-HTTP equivalence tests. Every gpu=True operation must have one.
    example: dict[str, Any] | None = None
    #: Optional ``async prepare(request, ctx) -> request`` doing the operation's I/O (e.g.
    #: resolving ids and look-back windows into inline data from PostgreSQL), so that
    #: ``fn`` stays pure and a native engine (which has no database) can run it. Whoever
    #: has the database runs it first: the HTTP engine, or the gateway before a native call.
    prepare_path: str | None = None

    @property
    def native_host(self) -> str | None:
        """Which native process serves this operation (None: not GPU-capable)."""
        return (self.native or self.engine) if self.gpu else None

    @property
    def native_key(self) -> str:
        """The operation's name on its native socket ("<engine>.<name>" when hosted by another engine's)."""
        return self.name if self.native is None else f"{self.engine}.{self.name}"

    @property
    def route(self) -> str:
        return f"/api/v1/{self.engine}/{self.name}"

    def load(self) -> Callable[..., Any]:
        """Import and return the operation's function."""
        module_name, _, attr = self.fn_path.partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.load())

    def load_prepare(self) -> Callable[..., Any] | None:
        if self.prepare_path is None:
            return None
        module_name, _, attr = self.prepare_path.partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def account_ids(self, request: BaseModel) -> list[str]:
        """Trading accounts a request names (``account_id`` fields, at any depth of sub-models), so that
        a key limited to some accounts cannot reach others' positions through an engine."""
        found: list[str] = []
        _collect_accounts(request, found, 0)
        return found

    def describe(self) -> dict[str, Any]:
        """The listing entry served at ``GET /operations``."""
        return {
            "name": self.name,
            "route": self.route,
            "summary": self.summary,
            "gpu": self.gpu,
            "idempotent": self.idempotent,
            "scope": str(self.scope),
            "timeout_s": self.timeout_s,
            "request_schema": self.request.model_json_schema(),
            "response_schema": self.response.model_json_schema(),
        }


def compute(fn: Callable[..., Any], request: BaseModel, ctx: OpContext) -> Any:
    """Call an operation's function; a response that cannot hold its result because a number is not
    finite (``Model`` refuses NaN and infinity) becomes ``NonFiniteResult`` (422), the same on every
    transport. Any other invalid response is a bug and propagates."""
    try:
        return fn(request, ctx)
    except ValidationError as e:
        bad = [err for err in e.errors(include_url=False) if err["type"] == "finite_number"]
        if not bad or e.title == type(request).__name__:
            raise
        where = ".".join(str(p) for p in bad[0]["loc"])
        raise NonFiniteResult(f"these inputs give a result that is not a finite number ({e.title}.{where}); "
                              "check for degenerate values such as zero volatility or time, or extreme magnitudes",
                              field=f"result.{where}") from e


@dataclass(frozen=True)
class EngineSpec:
    """An engine: its name and its operations (possibly none yet)."""

    name: str
    description: str
    operations: tuple[Operation, ...] = ()
    version: str = "0.1.0"
    #: Kinds of persisted jobs this engine runs (``backend.jobs.kinds.JobKind``); with any, the engine
    #: process runs a job runner and should declare ``backend.jobs.ops.job_operations(name)``.
    jobs: tuple[Any, ...] = ()

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)


def load_engine(name: str) -> EngineSpec:
    """Import ``engines.<name>.ops`` and return its ``ENGINE`` declaration."""
    module = importlib.import_module(f"engines.{name}.ops")
    spec: EngineSpec = module.ENGINE
    if spec.name != name:
        raise RuntimeError(f"engines.{name}.ops declares engine {spec.name!r}")
    for op in spec.operations:
        if op.engine != name:
            raise RuntimeError(f"operation {op.name} declares engine {op.engine!r}, not {name!r}")
        if op.scope is None:
            raise RuntimeError(f"operation {name}.{op.name} declares no scope")
    return spec


def _collect_accounts(value: Any, found: list[str], depth: int) -> None:
    if depth > 4 or not isinstance(value, BaseModel):
        return
    for fname in type(value).model_fields:
        v = getattr(value, fname)
        if fname == "account_id" and isinstance(v, str):
            found.append(v)
        elif isinstance(v, BaseModel):
            _collect_accounts(v, found, depth + 1)
