"""Run one engine's HTTP service: ``python -m engines.<name>`` calls ``run_engine``."""

from __future__ import annotations

import importlib

import uvicorn

from backend.auth.websocket import WS_MAX_FRAME_BYTES
from backend.contract.operation import load_engine
from backend.core import logging as nlogging
from backend.core.settings import get_settings
from backend.service.app import make_engine_app


def build(name: str):  # noqa: ANN201 - FastAPI app
    spec = load_engine(name)
    extend = None
    try:
        extend = importlib.import_module(f"engines.{name}.routes").extend
    except ModuleNotFoundError as e:
        if e.name != f"engines.{name}.routes":
            raise
    return make_engine_app(spec, get_settings(), extend=extend)


def run_engine(name: str) -> None:
    settings = get_settings()
    nlogging.configure(name, settings.log_level, settings.log_format)
    app = build(name)
    uvicorn.run(
        app, host=settings.host, port=settings.engine_port(name), log_config=None, access_log=False,
        loop="uvloop", http="httptools", timeout_graceful_shutdown=5,
        ws_max_size=WS_MAX_FRAME_BYTES,
        # longer than the gateway's pooled keep-alive (30 s, backend/gateway/app.py): with uvicorn's 5 s the
        # engine closed idle connections the gateway still reused, and a call written onto one failed (503)
        timeout_keep_alive=75,
    )
