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

-- Paper-trading instances: a strategy version running on the live feed under a trading account.
-- A row still 'running' when the engine starts is resumed from its stored state.
CREATE TABLE IF NOT EXISTS strategy_instances (
    id            text PRIMARY KEY,
    strategy      text NOT NULL,
    version       text NOT NULL,
    params        jsonb NOT NULL,
    spec          jsonb NOT NULL,
    status        text NOT NULL CHECK (status IN ('running', 'stopped', 'failed', 'rolled_back')),
    stage         text NOT NULL DEFAULT 'paper' CHECK (stage IN ('paper', 'production')),
    state         jsonb NOT NULL DEFAULT '{}',
    error         text,
    peak_equity   double precision,
    bars          bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The promotion record: every stage passed or failed, with its evidence and the version it concerns.
CREATE TABLE IF NOT EXISTS strategy_promotions (
    id           bigserial PRIMARY KEY,
    strategy     text NOT NULL,
    version      text NOT NULL,
    stage        text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('passed', 'failed', 'rolled_back')),
    evidence     jsonb NOT NULL,
    instance_id  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS strategy_promotions_name_idx ON strategy_promotions (strategy, created_at DESC);
