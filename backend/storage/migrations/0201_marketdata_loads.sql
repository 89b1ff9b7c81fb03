-- One row per ingestion (file, inline content or sample dataset) with its quality report.
CREATE TABLE IF NOT EXISTS marketdata_loads (
    id             bigserial PRIMARY KEY,
    created_at     timestamptz NOT NULL DEFAULT now(),
    kind           text NOT NULL CHECK (kind IN ('bars', 'trades', 'quotes')),
    source         text NOT NULL,
    timeframe      text,
    status         text NOT NULL CHECK (status IN ('committed', 'rejected')),
    rows_in        bigint NOT NULL,
    rows_accepted  bigint NOT NULL,
    rows_rejected  bigint NOT NULL,
    rows_inserted  bigint NOT NULL DEFAULT 0,
    rows_updated   bigint NOT NULL DEFAULT 0,
    report         jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS marketdata_loads_created_idx ON marketdata_loads (created_at DESC);
