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
    store       PostgreSQL: group-committing writer (halts on a failed commit), loaders, queries
    outbox      transactional outbox relayed to the Redis stream ``events.trading``
    feed        consumer of the market data streams ``md.quotes`` / ``md.trades``
    recovery    memory from the database (start and rebuild), reconciliation
    intake      order intake: submit / cancel / amend, one in-flight submission per client id
    accounts    accounts, limits, the risk engine's limit sets, kill switch
    market      feed ticks and DAY expiry into the order core
    algo_service  TWAP / VWAP / POV parents in the service
    service     TradingService: lifecycle, the durability rule, rebuild after a failed commit
    responses   typed response models of the API
    routes/     the FastAPI routers under /api/v1/trading, one module per resource
"""
