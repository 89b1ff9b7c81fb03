"""The scopes an API key can hold. ``admin`` grants every other scope; nothing else implies anything.

| scope        | grants                                                                   |
|--------------|--------------------------------------------------------------------------|
| read         | reading stored state: instruments, bars, orders, positions, limit sets   |
| compute      | pure compute operations (indicators, VaR, factors, performance, ...)     |
| data-admin   | changing market data: ingest, samples, instruments, feeds, feature sets  |
| trade        | orders and execution algorithms on the accounts the key may use          |
| risk-admin   | risk limit sets, account limits, the kill switch                          |
| admin        | everything, including accounts and API keys                              |
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    COMPUTE = "compute"
    DATA_ADMIN = "data-admin"
    TRADE = "trade"
    RISK_ADMIN = "risk-admin"
    ADMIN = "admin"


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


def grants(held: frozenset[str], needed: Scope | str) -> bool:
    """Whether a key holding ``held`` may do what needs ``needed``."""
    return needed in held or Scope.ADMIN.value in held
