-- Strategy engine: stored backtest results (summary, trades, orders, equity and exposure curves),
-- parameter sweeps, paper-trading instances and the promotion record.
CREATE TABLE IF NOT EXISTS strategy_backtests (
    id          bigserial PRIMARY KEY,
    strategy    text NOT NULL,
    version     text NOT NULL,
    engine      text NOT NULL CHECK (engine IN ('event', 'vector')),
    params      jsonb NOT NULL,
    request     jsonb NOT NULL,
    job_id      text,
    metrics     jsonb NOT NULL,
    trades      jsonb NOT NULL,
    orders      jsonb NOT NULL DEFAULT '[]',
    logs        jsonb NOT NULL DEFAULT '[]',
    ts_ns       bigint[] NOT NULL,
    equity      double precision[] NOT NULL,
    exposure    double precision[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS strategy_backtests_name_idx ON strategy_backtests (strategy, created_at DESC);
