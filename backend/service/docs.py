"""API documentation that works with no internet: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc)
served from the assets that ship with the ``fastapi-offline`` package (under ``/static-offline-docs``),
and descriptions made safe for their Markdown renderers.

Both renderers treat a description as Markdown with inline HTML, so a placeholder such as
``/api/v1/<engine>/<operation>`` was read as two unknown HTML tags and vanished. ``code_placeholders``
puts every word holding an ``<...>`` placeholder in a code span (unless it is in one already), which
both renderers show literally.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

#: a run of characters holding ``<name>``; spaces, quotes, brackets and backticks end it
_PLACEHOLDER_WORD = re.compile(r"[^\s`'\"()\[\],;]*<[A-Za-z_][^<>\s`]*>[^\s`'\"()\[\],;]*")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def documented_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose ``/docs`` and ``/redoc`` load only local assets."""
    return FastAPIOffline(**kwargs)


def _wrap(m: re.Match[str]) -> str:
    word = m.group(0)
    core = word.rstrip(".:")  # a full stop after the word ends the sentence
    return f"`{core}`{word[len(core) :]}"


def code_placeholders(text: str) -> str:
    """``text`` with every ``<placeholder>`` word in a code span; existing code spans unchanged."""
    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_PLACEHOLDER_WORD.sub(_wrap, text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_PLACEHOLDER_WORD.sub(_wrap, text[last:]))
    return "".join(out)


def markdown_safe(schema: Any) -> Any:
    """Every ``description`` in an OpenAPI tree passed through ``code_placeholders`` (in place)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "description" and isinstance(value, str):
                schema[key] = code_placeholders(value)
            else:
                markdown_safe(value)
    elif isinstance(schema, list):
        for item in schema:
            markdown_safe(item)
    return schema
