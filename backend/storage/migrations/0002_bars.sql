-- OHLCV bars of any timeframe ('1m', '5m', '1h', '1d', ...). Shared by market data,
-- features, factor, risk and backtests. A hypertable when TimescaleDB is present.
CREATE TABLE IF NOT EXISTS bars (
    symbol     text NOT NULL,
    timeframe  text NOT NULL,
    ts         timestamptz NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, timeframe, ts)
);
CREATE INDEX IF NOT EXISTS bars_ts_idx ON bars (timeframe, ts);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('bars', 'ts', if_not_exists => true, migrate_data => true);
    END IF;
END $$;
