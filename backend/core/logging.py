"""One log format for every process, as text lines or JSON lines, with the request id of the call.

Text (default): ``2026-11-23T11:26:55.605 INFO    gateway[10021] logger: [rid] message``.
JSON (``NAUTILUS_LOG_FORMAT=json``): one object a line with ``ts`` (UTC, ISO 8601, milliseconds),
``level``, ``process``, ``pid``, ``logger``, ``message``, ``request_id`` when the line was written
while serving a request, and ``exception`` (the traceback text) when there is one.

Request ids: the gateway takes a caller's ``X-Request-Id`` (when it is a short token) or makes one,
answers with it, and passes it on: as the ``X-Request-Id`` header to an engine, as the ``rid`` field
of a native call frame. Each process puts it in ``REQUEST_ID`` for the duration of the call, so
every line any process logs for one request carries the same id (``grep`` it across the log files).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar

LINE_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(process_name)s[%(process)d] %(name)s: %(rid)s%(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
FORMATS = ("text", "json")
#: The HTTP header that carries a request id between processes (and back to the caller).
REQUEST_ID_HEADER = "X-Request-Id"
#: The request being served by this task or thread, if any.
REQUEST_ID: ContextVar[str | None] = ContextVar("nautilus_request_id", default=None)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | bytes | None) -> str:
    """A caller's id when it is a short token (letters, digits, ``._:-``, at most 64), else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if value and _VALID_ID.match(value) else new_request_id()


class _Context(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.process_name = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process_name
        rid = REQUEST_ID.get()
        record.request_id = rid
        record.rid = f"[{rid}] " if rid else ""
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line (see the module docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out = {"ts": ts, "level": record.levelname, "process": getattr(record, "process_name", ""),
               "pid": record.process, "logger": record.name, "message": record.getMessage()}
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(process_name: str, level: str | None = None, fmt: str | None = None) -> None:
    """Route all logging (uvicorn's too) to stderr in the platform's format (``fmt``: text or json)."""
    fmt = (fmt or os.environ.get("NAUTILUS_LOG_FORMAT") or "text").lower()
    if fmt not in FORMATS:
        raise ValueError(f"NAUTILUS_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(LINE_FORMAT, DATE_FORMAT))
    handler.addFilter(_Context(process_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("NAUTILUS_LOG_LEVEL", "INFO"))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
