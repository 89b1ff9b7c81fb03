"""What the strategy engine's service adds to the generic one: paper instances resumed at start (those
stored as running) and halted at stop (left stored as running, so the next start resumes them); the
sweep pool, if one was started, is shut down with the engine."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backend.contract.operation import OpContext

log = logging.getLogger(__name__)


def extend(app: FastAPI) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):  # noqa: ANN202
        from engines.strategy.paper import MANAGER

        async with inner(a) as state:
            ctx = OpContext(engine="strategy", db=a.state.db, bus=a.state.bus, settings=a.state.settings)
            try:
                n = await MANAGER.resume(ctx)
                if n:
                    log.warning("resumed %d paper instance(s) stored as running", n)
            except Exception:  # noqa: BLE001 - the engine serves even when resuming fails; logged
                log.exception("resuming paper instances failed")
            yield state
            await MANAGER.shutdown()
            from engines.strategy.sweep import shutdown_pools

            shutdown_pools()

    app.router.lifespan_context = lifespan
