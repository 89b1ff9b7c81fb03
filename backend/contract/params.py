"""Named parameters of library items (indicators, factors): one mapping of their errors to problems."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from backend.core.errors import InvalidInput


@contextmanager
def parameter_errors(owner: str, allowed: Iterable[str], field: str) -> Iterator[None]:
    """Inside, ``KeyError(name)`` (an unknown parameter) and ``ValueError(name, reason)`` (a bad value)
    become ``InvalidInput`` naming ``<field>.params.<name>``."""
    try:
        yield
    except KeyError as e:
        names = ", ".join(allowed) or "none"
        raise InvalidInput(f"unknown parameter {e.args[0]!r} for {owner} (allowed: {names})",
                           field=f"{field}.params.{e.args[0]}") from e
    except ValueError as e:
        raise InvalidInput(e.args[1], field=f"{field}.params.{e.args[0]}") from e
