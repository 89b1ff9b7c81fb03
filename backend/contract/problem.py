"""RFC 9457 problem-JSON: the one shape every error takes, on every transport."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from backend.core.errors import NautilusError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://nautilus.local/problems/"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def from_error(err: NautilusError, instance: str | None = None) -> dict[str, Any]:
    return problem(
        err.status, err.code, err.title, err.detail, errors=err.errors(), instance=instance, **err.extra
    )


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic/FastAPI error list -> [{field, reason}], the field as a dotted path."""
    out = []
    for e in errors[:50]:
        field = _loc(tuple(e.get("loc", ())))
        at = (e.get("ctx") or {}).get("at")  # an array's element (backend.contract.arrays.FloatArray)
        out.append({"field": f"{field}.{at}" if at is not None else field, "reason": str(e.get("msg", "invalid"))})
    return out


def from_validation(errors: list[dict[str, Any]], instance: str | None = None) -> dict[str, Any]:
    fields = validation_errors(errors)
    summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5])
    return problem(422, "VALIDATION_FAILED", "Request validation failed", summary, errors=fields, instance=instance)


def from_pydantic(exc: ValidationError, instance: str | None = None) -> dict[str, Any]:
    return from_validation(exc.errors(include_url=False), instance)  # type: ignore[arg-type]
