"""Execute a rebalance: plan it (pure), then, unless it is a dry run, submit its orders to the trading
core's REST API (``/api/v1/trading/orders``, or ``/algorithms`` for TWAP/VWAP) like any client.

Credentials: the engine's own trade-scoped key when one is configured (``engines.portfolio.config``,
least privilege: it may be limited to some accounts), else the instance's internal token that the
launcher gives the platform's processes. Either way the caller of this operation already had to hold
the ``trade`` scope for the account it names (checked by the gateway or this engine before the call).

Orders carry client order ids ``rb-<tag>-<symbol>``, so submitting the same tag again returns the
orders already placed instead of placing new ones. Algorithms have no client id: an algorithm of the
account with the same strategy, symbol, side and quantity that is still running or done is reused.
Each order's outcome (HTTP status, id, status or the trading core's refusal) is reported one by one;
only when the trading core cannot be reached at all is the whole call a 503.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from backend.auth.guard import INTERNAL_HEADER
from backend.auth.keys import HEADER
from backend.contract.operation import OpContext
from backend.core.errors import BackendUnavailable, Unavailable
from engines.portfolio.compute.rebalance import plan
from engines.portfolio.config import PortfolioConfig
from engines.portfolio.models.rebalance import ExecuteRebalanceRequest, ExecuteRebalanceResponse, SubmittedOrder

_REUSABLE_ALGO = {"running", "paused", "completed", "pending"}


def _base_url(ctx: OpContext, cfg: PortfolioConfig) -> str:
    if cfg.trading_url:
        return cfg.trading_url.rstrip("/")
    s = ctx.settings
    if s is None:
        raise Unavailable("no trading core URL configured (NAUTILUS_PORTFOLIO_TRADING_URL)", field="settings")
    return f"http://{s.host}:{s.gateway_port}"


def _credentials(ctx: OpContext, cfg: PortfolioConfig) -> dict[str, str]:
    if cfg.trade_api_key is not None:
        return {HEADER: cfg.trade_api_key.get_secret_value()}
    token = getattr(ctx.settings, "internal_token", None)
    if token:
        return {INTERNAL_HEADER: token}
    raise Unavailable("submitting orders needs NAUTILUS_PORTFOLIO_TRADE_API_KEY (a key with the trade scope) or "
                      "the instance's internal token; dry runs work without either", field="dry_run")


def _order_body(req: ExecuteRebalanceRequest, o: Any, cid: str) -> dict[str, Any]:
    body = {"account_id": req.account.account_id, "symbol": o.symbol, "side": o.side, "qty": o.qty,  # type: ignore[union-attr]
            "client_order_id": cid, "strategy": req.strategy}
    if req.execution.style == "limit":
        sign = 1 if o.side == "buy" else -1
        body |= {"type": "limit", "limit_price": round(o.price * (1 + sign * req.execution.limit_offset_bps * 1e-4), 2)}
    else:
        body["type"] = "market"
    return body


async def execute_rebalance(req: ExecuteRebalanceRequest, ctx: OpContext) -> ExecuteRebalanceResponse:
    p = plan(req, ctx)
    if req.dry_run or not p.triggered or not p.orders:
        return ExecuteRebalanceResponse(dry_run=req.dry_run, plan=p)
    cfg = PortfolioConfig()
    base = _base_url(ctx, cfg)
    headers = {"content-type": "application/json", **_credentials(ctx, cfg)}
    timeout = aiohttp.ClientTimeout(total=cfg.submit_timeout_s)
    out: list[SubmittedOrder] = []
    unreachable = 0
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        existing = await _existing_algos(http, base, req) if req.execution.style in ("twap", "vwap") else []
        for o in p.orders:
            cid = f"rb-{req.tag}-{o.symbol}"[:64]
            try:
                out.append(await _submit_one(http, base, req, o, cid, existing))
            except (aiohttp.ClientError, TimeoutError) as e:
                unreachable += 1
                out.append(SubmittedOrder(symbol=o.symbol, client_order_id=cid, http_status=503,
                                          error=f"trading core not reachable: {type(e).__name__}"))
    if unreachable == len(p.orders):
        raise BackendUnavailable(f"the trading core at {base} could not be reached; no order was submitted",
                                 engine="trading")
    return ExecuteRebalanceResponse(dry_run=False, plan=p, submitted=out)


async def _existing_algos(http: aiohttp.ClientSession, base: str, req: ExecuteRebalanceRequest) -> list[dict]:
    async with http.get(f"{base}/api/v1/trading/algorithms",
                        params={"account_id": req.account.account_id}) as r:  # type: ignore[union-attr]
        return (await r.json(content_type=None)).get("items", []) if r.status == 200 else []


async def _submit_one(http: aiohttp.ClientSession, base: str, req: ExecuteRebalanceRequest, o: Any, cid: str,
                      existing: list[dict]) -> SubmittedOrder:
    style = req.execution.style
    if style in ("twap", "vwap"):
        for a in existing:
            if (a.get("strategy"), a.get("symbol"), a.get("side"), a.get("qty"), a.get("kind")) == (
                    req.strategy, o.symbol, o.side, o.qty, style) and a.get("status") in _REUSABLE_ALGO:
                return SubmittedOrder(symbol=o.symbol, client_order_id=cid, http_status=200, id=a["id"],
                                      status=a["status"])
        url = f"{base}/api/v1/trading/algorithms"
        body = {"kind": style, "account_id": req.account.account_id, "symbol": o.symbol,  # type: ignore[union-attr]
                "side": o.side, "qty": o.qty, "strategy": req.strategy,
                "duration_s": req.execution.duration_s, "slices": req.execution.slices}
    else:
        url = f"{base}/api/v1/trading/orders"
        body = _order_body(req, o, cid)
    async with http.post(url, json=body) as r:
        payload = await r.json(content_type=None)
    if r.status < 300:
        return SubmittedOrder(symbol=o.symbol, client_order_id=cid, http_status=r.status, id=payload.get("id"),
                              status=payload.get("status"))
    detail = payload.get("detail") if isinstance(payload, dict) else None
    code = payload.get("denial_code") or payload.get("code") if isinstance(payload, dict) else None
    return SubmittedOrder(symbol=o.symbol, client_order_id=cid, http_status=r.status,
                          id=payload.get("order_id") if isinstance(payload, dict) else None,
                          status="denied" if code and payload.get("code") == "DENIED" else None,
                          error=f"{code}: {detail}" if code else str(detail))
