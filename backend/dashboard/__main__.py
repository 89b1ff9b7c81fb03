"""Run the dashboard server: ``python -m backend.dashboard`` (port: NAUTILUS_PORT_DASHBOARD, else 3000 + offset)."""

import uvicorn

from backend.core import logging as nlogging
from backend.core.settings import get_settings
from backend.dashboard.app import make_dashboard_app


def main() -> None:
    settings = get_settings()
    nlogging.configure("dashboard", settings.log_level, settings.log_format)
    uvicorn.run(make_dashboard_app(settings), host=settings.host, port=settings.dashboard_port, log_config=None,
                access_log=False, loop="uvloop", http="httptools", timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
