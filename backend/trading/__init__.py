"""The trading core that runs inside the gateway process.

    domain      order, fill, instrument and account types; enums
    state       the order state machine as a table
    book        price-time-priority limit order book (sortedcontainers)
    venues      simulated venues: fee schedule, latency, liquidity profile, one book per instrument
    pre_trade   named pre-trade risk checks with stable denial codes
    router      smart order router: split by displayed liquidity, fees and latency; execution quality
    positions   positions and P&L per account, strategy and instrument; replay of fills
    engine      the in-memory order management core (pure: no I/O); returns Effects to persist
    algos       TWAP / VWAP / POV schedules and their runner
    store       PostgreSQL: group-committing writer, loaders, queries
    outbox      transactional outbox relayed to the Redis stream ``events.trading``
    feed        consumer of the market data streams ``md.quotes`` / ``md.trades``
    auth        scoped API keys, stored hashed
    api         the FastAPI router under /api/v1/trading
    service     TradingService: the lifecycle the gateway drives
"""
