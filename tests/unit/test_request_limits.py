"""Every request model states its limits: integers bounded both ways, strings and lists and maps
with a maximum length, no bare ``Any``. A field without a limit is how an offset beyond 64 bits or a
map of a million keys reached the database or the heap."""

from __future__ import annotations

import enum
import re
import types
import typing

import annotated_types as at
import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from backend.contract.operation import load_engine
from backend.core.settings import ENGINE_PORTS
from backend.gateway import access
from backend.trading import models as trading_models

#: an anchored pattern without * or + bounds the length by itself
_BOUNDED_PATTERN = re.compile(r"^\^[^*+]*\$$")


def _bounds(meta: list) -> dict:
    flat: list = []
    for m in meta:
        flat.extend(m.metadata if isinstance(m, FieldInfo) else [m])
    out: dict = {}
    for m in flat:
        for k in ("ge", "gt", "le", "lt", "max_length", "pattern"):
            v = getattr(m, k, None)
            if v is not None:
                out[k] = v
        if isinstance(m, at.MaxLen):
            out["max_length"] = m.max_length
    return out


def _problems(tp: typing.Any, meta: list, path: str, seen: set, out: list[str]) -> None:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(tp)
        _problems(base, [*meta, *extra], path, seen, out)
        return
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            if arm is not type(None):
                _problems(arm, meta, path, seen, out)
        return
    if origin is typing.Literal or tp in (bool, float) or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        _walk(tp, path, seen, out)
        return
    b = _bounds(meta)
    if tp is int and not (({"le", "lt"} & set(b)) and ({"ge", "gt"} & set(b))):
        out.append(f"{path}: integer without both bounds")
    elif tp is str and "max_length" not in b and not _BOUNDED_PATTERN.match(str(b.get("pattern", ""))):
        out.append(f"{path}: string without a maximum length")
    elif origin in (list, tuple, set, frozenset, dict):
        if "max_length" not in b:
            out.append(f"{path}: {origin.__name__} without a maximum length")
        for arg in typing.get_args(tp):
            if arg is not Ellipsis:
                _problems(arg, [], path + "[]", seen, out)
    elif tp is typing.Any:
        out.append(f"{path}: Any")


def _walk(model: type[BaseModel], path: str, seen: set, out: list[str]) -> None:
    if model in seen:
        return
    seen.add(model)
    for name, f in model.model_fields.items():
        _problems(f.annotation, list(f.metadata), f"{path}.{name}", seen, out)


def _request_models() -> list[tuple[str, type[BaseModel]]]:
    found = [(f"{e}.{op.name}", op.request) for e in ENGINE_PORTS for op in load_engine(e).operations]
    found += [(f"trading.{n}", m) for n, m in vars(trading_models).items()
              if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == trading_models.__name__]
    found += [("auth.CreateApiKey", access.CreateApiKey)]
    return found


@pytest.mark.parametrize(("name", "model"), _request_models(), ids=[n for n, _ in _request_models()])
def test_request_model_when_inspected_then_every_field_has_explicit_limits(name, model):
    problems: list[str] = []
    _walk(model, name, set(), problems)
    assert problems == []
