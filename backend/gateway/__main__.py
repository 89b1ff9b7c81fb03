"""Run the gateway: ``python -m backend.gateway``."""

import logging

import uvicorn

from backend.auth.websocket import WS_MAX_FRAME_BYTES
from backend.core import logging as nlogging
from backend.core.settings import get_settings
from backend.gateway.app import make_gateway_app


def main() -> None:
    settings = get_settings()
    nlogging.configure("gateway", settings.log_level, settings.log_format)
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("gateway").warning(
            "LISTENING ON %s: the API is reachable from other machines; trading endpoints need an API key",
            settings.host,
        )
    uvicorn.run(
        make_gateway_app(settings), host=settings.host, port=settings.gateway_port, log_config=None,
        access_log=False, loop="uvloop", http="httptools", timeout_graceful_shutdown=10,
        ws_max_size=WS_MAX_FRAME_BYTES,
    )


if __name__ == "__main__":
    main()
