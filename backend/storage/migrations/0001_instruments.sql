-- Instrument master shared by market data, trading and risk.
CREATE TABLE IF NOT EXISTS instruments (
    symbol       text PRIMARY KEY,
    asset_class  text NOT NULL DEFAULT 'equity',
    currency     text NOT NULL DEFAULT 'USD',
    tick_size    numeric NOT NULL DEFAULT 0.01 CHECK (tick_size > 0),
    lot_size     numeric NOT NULL DEFAULT 1 CHECK (lot_size > 0),
    sector       text,
    venues       text[] NOT NULL DEFAULT '{}',
    tradable     boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
