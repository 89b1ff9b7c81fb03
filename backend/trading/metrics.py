"""The trading core's metrics: counted as changes become durable, the rest read at scrape time.

``TradingStats.record`` runs after each commit succeeds (``TradingService.commit``), so the counters
count only what was acknowledged: order transitions by the status entered and the order type,
denials by code, fills by venue and liquidity and their notional. Plain dict increments: the order
path pays tens of nanoseconds, not a labelled-counter lock per order. Everything else (accounts and
their P&L, open orders, limit utilisation, kill switches, halts and rebuilds, writer, outbox and feed)
is read from the service when ``/metrics`` is rendered; the outbox backlog is counted in PostgreSQL in
the refresh step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.metrics_core import Metric

from backend.core import metrics as m

if TYPE_CHECKING:
    from backend.trading.engine import Effects
    from backend.trading.service import TradingService

OUTBOX_QUERY = "SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age_s FROM trading_outbox"
#: (family, key in ``RiskLimits`` / the account view) of the utilisation ratios exported per account
UTILISATION = (("gross_exposure", "max_gross_exposure"), ("open_orders", "max_open_orders"))


class TradingStats:
    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], int] = {}
        self.denials: dict[str, int] = {}
        self.fills: dict[tuple[str, str], int] = {}
        self.notional: dict[str, float] = {}

    def record(self, eff: Effects, currency_of: dict[str, Any]) -> None:
        orders, denials = self.orders, self.denials
        for o, status in eff.transitions:
            key = (status.value, o.type.value)
            orders[key] = orders.get(key, 0) + 1
            if o.denial is not None and status.value == "denied":
                denials[o.denial.code] = denials.get(o.denial.code, 0) + 1
        for f in eff.fills:
            key = (f.venue, f.liquidity.value)
            self.fills[key] = self.fills.get(key, 0) + 1
            acct = currency_of.get(f.account_id)
            cur = acct.currency if acct is not None else "USD"
            self.notional[cur] = self.notional.get(cur, 0.0) + f.price * f.qty


class TradingMetrics:
    """The source registered by ``TradingService.start`` (``backend.core.metrics.set_source``)."""

    def __init__(self, svc: TradingService) -> None:
        self.svc = svc
        self.outbox: tuple[int, float] | None = None

    async def refresh(self) -> None:
        if self.svc.pool is None:
            return
        row = await self.svc.pool.fetchrow(OUTBOX_QUERY)
        self.outbox = (int(row["n"]), float(row["age_s"] or 0.0))

    def collect(self) -> Iterable[Metric]:
        svc, st = self.svc, self.svc.stats
        eng = svc.engine
        fams = [m.TRADING_UP, m.TRADING_ORDERS, m.TRADING_DENIALS, m.TRADING_FILLS, m.TRADING_FILL_NOTIONAL,
                m.TRADING_OPEN_ORDERS, m.TRADING_ACCOUNTS, m.TRADING_EQUITY, m.TRADING_REALISED,
                m.TRADING_UNREALISED, m.TRADING_LIMIT_UTILISATION, m.TRADING_KILL_GLOBAL, m.TRADING_KILL_ACCOUNT,
                m.TRADING_HALTS, m.TRADING_REBUILDS, m.TRADING_COMMITS, m.TRADING_OUTBOX_RELAYED,
                m.TRADING_FEED_MESSAGES]
        out = m.families(fams)

        def add(fam: m.Family, value: float, *labels: str) -> None:
            fam.add(out[fam.name], value, *labels)

        add(m.TRADING_UP, 1.0 if svc.writer is not None and svc.halted is None else 0.0)
        for (status, type_), n in sorted(st.orders.items()):
            add(m.TRADING_ORDERS, n, status, type_)
        for code, n in sorted(st.denials.items()):
            add(m.TRADING_DENIALS, n, code)
        for (venue, liq), n in sorted(st.fills.items()):
            add(m.TRADING_FILLS, n, venue, liq)
        for cur, v in sorted(st.notional.items()):
            add(m.TRADING_FILL_NOTIONAL, v, cur)
        add(m.TRADING_ACCOUNTS, len(eng.accounts))
        for acct_id in sorted(eng.accounts)[:m.MAX_ACCOUNT_SERIES]:
            self._account(add, eng, eng.accounts[acct_id])
        add(m.TRADING_KILL_GLOBAL, 1.0 if eng.global_killed else 0.0)
        w, r, f = svc.writer, svc.relay, svc.feed
        add(m.TRADING_HALTS, w.halts if w else 0)
        add(m.TRADING_REBUILDS, svc.rebuilds)
        add(m.TRADING_COMMITS, w.commits if w else 0)
        add(m.TRADING_OUTBOX_RELAYED, r.relayed if r else 0)
        if f is not None:
            add(m.TRADING_FEED_MESSAGES, f.received, "applied")
            add(m.TRADING_FEED_MESSAGES, f.malformed, "malformed")
            add(m.TRADING_FEED_MESSAGES, svc.market.dropped_while_halted, "dropped_while_halted")
        result = list(out.values())
        if self.outbox is not None:
            result += [_gauge(m.TRADING_OUTBOX_PENDING, self.outbox[0]), _gauge(m.TRADING_OUTBOX_LAG, self.outbox[1])]
        if f is not None and f.last_message_at is not None:
            result += [_gauge(m.TRADING_FEED_LAST, f.last_message_at)]
            if f.last_lag_s is not None:
                result += [_gauge(m.TRADING_FEED_LAG, f.last_lag_s)]
        return result

    @staticmethod
    def _account(add: Any, eng: Any, acct: Any) -> None:
        view = eng.account_view(acct)
        aid, cur = acct.id, acct.currency
        add(m.TRADING_OPEN_ORDERS, view["open_orders"], aid)
        add(m.TRADING_EQUITY, view["equity"], aid, cur)
        add(m.TRADING_REALISED, view["realised_pnl"], aid, cur)
        add(m.TRADING_UNREALISED, view["unrealised_pnl"], aid, cur)
        add(m.TRADING_KILL_ACCOUNT, 1.0 if view["kill_switch"] else 0.0, aid)
        limits = view["effective_limits"]
        values = {"gross_exposure": view["gross_exposure"], "open_orders": view["open_orders"]}
        for name, key in UTILISATION:
            limit = limits.get(key)
            if limit:  # None is off; a limit of 0 blocks everything and has no ratio
                add(m.TRADING_LIMIT_UTILISATION, values[name] / limit, aid, name)
        if view["margin_usage"] is not None:
            add(m.TRADING_LIMIT_UTILISATION, view["margin_usage"], aid, "margin")


def _gauge(fam: m.Family, value: float) -> Metric:
    metric = fam.metric()
    fam.add(metric, value)
    return metric
