-- Trades and quotes (ticks) of the market data engine. Timestamps are stored at
-- microsecond precision (timestamptz); `seq` orders ticks sharing one timestamp
-- within a symbol and venue, so re-importing the same file is an idempotent upsert.
CREATE TABLE IF NOT EXISTS trades (
    symbol     text NOT NULL,
    venue      text NOT NULL DEFAULT '',
    ts         timestamptz NOT NULL,
    seq        integer NOT NULL DEFAULT 0,
    price      double precision NOT NULL CHECK (price > 0),
    size       double precision NOT NULL CHECK (size > 0),
    aggressor  text CHECK (aggressor IN ('buy', 'sell')),
    PRIMARY KEY (symbol, venue, ts, seq)
);
CREATE INDEX IF NOT EXISTS trades_ts_idx ON trades (ts);

CREATE TABLE IF NOT EXISTS quotes (
    symbol     text NOT NULL,
    venue      text NOT NULL DEFAULT '',
    ts         timestamptz NOT NULL,
    seq        integer NOT NULL DEFAULT 0,
    bid        double precision NOT NULL CHECK (bid > 0),
    ask        double precision NOT NULL CHECK (ask > 0),
    bid_size   double precision NOT NULL DEFAULT 0 CHECK (bid_size >= 0),
    ask_size   double precision NOT NULL DEFAULT 0 CHECK (ask_size >= 0),
    PRIMARY KEY (symbol, venue, ts, seq)
);
CREATE INDEX IF NOT EXISTS quotes_ts_idx ON quotes (ts);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('trades', 'ts', if_not_exists => true, migrate_data => true);
        PERFORM create_hypertable('quotes', 'ts', if_not_exists => true, migrate_data => true);
    END IF;
END $$;
