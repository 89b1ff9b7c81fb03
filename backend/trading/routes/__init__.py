"""The trading API under /api/v1/trading, one module per resource:

    accounts     accounts, their limits and risk limit sets            (read; admin; risk-admin)
    orders       submit, list, get, cancel, amend                      (trade; read)
    executions   fills, positions, router decisions                    (read)
    algorithms   TWAP / VWAP / POV parents: start, list, control       (trade; read)
    controls     kill switch, reconciliation, the core's health        (risk-admin; admin; read)
    venues       simulated venues and their books                      (read)

Every route needs an API key (``X-API-Key``) with the scope named; a key limited to some accounts
sees and acts on only those. Errors are problem-JSON (``application/problem+json``).
"""

from fastapi import APIRouter

from backend.trading.routes import accounts, algorithms, controls, executions, orders, venues
from backend.trading.routes.deps import PREFIX
from backend.trading.service import TradingService


def build_router(svc: TradingService) -> APIRouter:
    r = APIRouter(prefix=PREFIX)
    for module in (accounts, orders, executions, algorithms, controls, venues):
        r.include_router(module.router(svc))
    return r
