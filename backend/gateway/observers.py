"""Metrics the gateway records from answers it routes: VaR by account.

A VaR operation that names an account (``"account": {"account_id": ...}``) is the risk of that
account's stored positions, whichever backend computed it (native or HTTP): its levels become
``nautilus_risk_account_var`` / ``_cvar`` gauges (account currency) with the time they were computed.
At most ``MAX_ACCOUNT_SERIES`` accounts keep series; the oldest is dropped for a new one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import orjson

from backend.core import metrics

VAR_OPERATIONS = frozenset({("risk", "compute_historical_var"), ("risk", "compute_parametric_var"),
                            ("risk", "simulate_monte_carlo_var")})


class AccountVar:
    def __init__(self, max_accounts: int = metrics.MAX_ACCOUNT_SERIES) -> None:
        self.max_accounts = max_accounts
        self.series: OrderedDict[str, set[tuple[str, str]]] = OrderedDict()  # account -> {(method, confidence)}

    def observe(self, engine: str, operation: str, model: Any, body: bytes) -> None:
        if (engine, operation) not in VAR_OPERATIONS:
            return
        account = getattr(model, "account", None)
        if account is None:
            return
        try:
            answer = orjson.loads(body)
            method = str(answer.get("method") or operation)
            levels = [(float(lv["confidence"]), float(lv["var"]), float(lv["cvar"])) for lv in answer["levels"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return
        acct = account.account_id
        self._admit(acct)
        for confidence, var, cvar in levels:
            conf = f"{confidence:g}"
            metrics.RISK_ACCOUNT_VAR.labels(acct, method, conf).set(var)
            metrics.RISK_ACCOUNT_CVAR.labels(acct, method, conf).set(cvar)
            self.series[acct].add((method, conf))
        metrics.RISK_ACCOUNT_VAR_TIME.labels(acct, method).set(time.time())

    def _admit(self, account: str) -> None:
        if account in self.series:
            self.series.move_to_end(account)
            return
        if len(self.series) >= self.max_accounts:
            old, labels = self.series.popitem(last=False)
            for method, conf in labels:
                for g in (metrics.RISK_ACCOUNT_VAR, metrics.RISK_ACCOUNT_CVAR):
                    try:
                        g.remove(old, method, conf)
                    except KeyError:
                        pass
            for method in {m for m, _ in labels}:
                try:
                    metrics.RISK_ACCOUNT_VAR_TIME.remove(old, method)
                except KeyError:
                    pass
        self.series[account] = set()
