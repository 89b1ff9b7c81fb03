"""The simulated venues: fee schedules, latency, liquidity profile, and their books (read)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path

from backend.core.errors import InvalidInput, NotFound
from backend.core.scopes import Scope
from backend.trading.responses import BookView, VenueList
from backend.trading.routes.deps import PROBLEMS, principal
from backend.trading.service import TradingService

MAX_DEPTH = 100


def router(svc: TradingService) -> APIRouter:
    r = APIRouter(tags=["trading: venues"], responses=PROBLEMS)
    Read = principal(svc, Scope.READ)

    @r.get("/venues", response_model=VenueList, summary="Simulated venues: fees, latency, liquidity profile")
    async def venues(p: Read) -> dict[str, Any]:
        items = [{**v.profile.as_dict(), "instruments": sorted(v.books)} for v in svc.engine.venues.values()]
        return {"items": items, "count": len(items)}

    @r.get("/venues/{venue}/books/{symbol}", response_model=BookView, summary="Top-N levels of one venue's book")
    async def book(p: Read, venue: Annotated[str, Path(max_length=64)], symbol: Annotated[str, Path(max_length=64)],
                   depth: int = 10) -> dict[str, Any]:
        if depth < 1 or depth > MAX_DEPTH:
            raise InvalidInput(f"depth must be 1..{MAX_DEPTH}", field="depth")
        v = svc.engine.venues.get(venue)
        if v is None:
            raise NotFound(f"no venue {venue!r}", field="venue")
        b = v.books.get(symbol)
        levels = b.depth(depth) if b else {"bids": [], "asks": []}
        return {"venue": venue, "symbol": symbol, "bids": [{"price": px, "qty": q} for px, q in levels["bids"]],
                "asks": [{"price": px, "qty": q} for px, q in levels["asks"]],
                "last_price": svc.engine.marks.get(symbol)}

    return r
