-- Trading core: accounts, orders, fills, positions, router decisions, algorithms, API keys,
-- kill switches and the transactional outbox relayed to the Redis stream events.trading.
CREATE TABLE IF NOT EXISTS trading_accounts (
    id             text PRIMARY KEY,
    name           text NOT NULL,
    currency       text NOT NULL DEFAULT 'USD',
    starting_cash  double precision NOT NULL CHECK (starting_cash >= 0),
    cash           double precision NOT NULL,
    limits         jsonb NOT NULL DEFAULT '{}',
    kill_switch    boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS trading_orders (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES trading_accounts(id),
    strategy         text NOT NULL,
    client_order_id  text NOT NULL,
    symbol           text NOT NULL,
    side             text NOT NULL,
    type             text NOT NULL,
    tif              text NOT NULL,
    qty              double precision NOT NULL,
    limit_price      double precision,
    stop_price       double precision,
    venue            text NOT NULL,
    status           text NOT NULL,
    filled_qty       double precision NOT NULL DEFAULT 0,
    avg_fill_price   double precision NOT NULL DEFAULT 0,
    fees             double precision NOT NULL DEFAULT 0,
    resting_venue    text,
    expire_ns        bigint,
    algo_id          text,
    denial           jsonb,
    reason           text,
    fill_count       integer NOT NULL DEFAULT 0,
    version          integer NOT NULL DEFAULT 0,
    created_ns       bigint NOT NULL,
    updated_ns       bigint NOT NULL,
    UNIQUE (account_id, client_order_id)
);
CREATE INDEX IF NOT EXISTS trading_orders_open_idx ON trading_orders (status)
    WHERE status IN ('submitted', 'accepted', 'triggered', 'partially_filled');
CREATE INDEX IF NOT EXISTS trading_orders_account_idx ON trading_orders (account_id, created_ns DESC);
CREATE INDEX IF NOT EXISTS trading_orders_algo_idx ON trading_orders (algo_id) WHERE algo_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS trading_fills (
    seq          bigserial UNIQUE,
    id           text PRIMARY KEY,          -- deterministic: <order id>-F<n>
    order_id     text NOT NULL REFERENCES trading_orders(id),
    account_id   text NOT NULL,
    strategy     text NOT NULL,
    symbol       text NOT NULL,
    side         text NOT NULL,
    venue        text NOT NULL,
    price        double precision NOT NULL,
    qty          double precision NOT NULL CHECK (qty > 0),
    fee          double precision NOT NULL,
    liquidity    text NOT NULL,
    ts_ns        bigint NOT NULL,
    venue_ts_ns  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS trading_fills_account_idx ON trading_fills (account_id, seq);
CREATE INDEX IF NOT EXISTS trading_fills_order_idx ON trading_fills (order_id);

CREATE TABLE IF NOT EXISTS trading_positions (
    account_id    text NOT NULL,
    strategy      text NOT NULL,
    symbol        text NOT NULL,
    qty           double precision NOT NULL,
    avg_cost      double precision NOT NULL,
    realised_pnl  double precision NOT NULL,
    fees          double precision NOT NULL,
    fill_count    integer NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, strategy, symbol)
);

CREATE TABLE IF NOT EXISTS trading_router_decisions (
    id             bigserial PRIMARY KEY,
    order_id       text NOT NULL,
    account_id     text NOT NULL,
    symbol         text NOT NULL,
    side           text NOT NULL,
    decision       jsonb NOT NULL,
    ts_ns          bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS trading_router_decisions_order_idx ON trading_router_decisions (order_id);

CREATE TABLE IF NOT EXISTS trading_algos (
    id           text PRIMARY KEY,
    account_id   text NOT NULL REFERENCES trading_accounts(id),
    strategy     text NOT NULL,
    kind         text NOT NULL,
    symbol       text NOT NULL,
    side         text NOT NULL,
    qty          double precision NOT NULL,
    params       jsonb NOT NULL,
    status       text NOT NULL,
    state        jsonb NOT NULL,
    created_ns   bigint NOT NULL,
    updated_ns   bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS trading_api_keys (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    scopes      text[] NOT NULL,
    account_ids text[],                     -- NULL: every account
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE IF NOT EXISTS trading_kill_switch (
    scope       text PRIMARY KEY,           -- '*' global, else an account id
    active      boolean NOT NULL,
    reason      text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS trading_outbox (
    id          bigserial PRIMARY KEY,
    stream      text NOT NULL,
    topic       text NOT NULL,
    type        text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
