-- Risk limit sets (managed through the risk engine's operations) and the breaches detected against them.
CREATE TABLE IF NOT EXISTS risk_limit_sets (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS risk_limits (
    id                bigserial PRIMARY KEY,
    set_id            bigint NOT NULL REFERENCES risk_limit_sets(id) ON DELETE CASCADE,
    limit_type        text NOT NULL CHECK (limit_type IN (
                          'gross_exposure', 'net_exposure', 'leverage', 'single_name_concentration',
                          'sector_concentration', 'var', 'cvar', 'max_drawdown', 'daily_loss',
                          'position_size', 'order_notional', 'liquidity', 'beta_exposure')),
    threshold         double precision NOT NULL CHECK (threshold > 0),
    warning_fraction  double precision NOT NULL DEFAULT 0.8 CHECK (warning_fraction > 0 AND warning_fraction <= 1),
    scope             text,
    confidence        double precision CHECK (confidence IS NULL OR (confidence > 0 AND confidence < 1)),
    position          integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS risk_limits_set_idx ON risk_limits (set_id, position);

-- Kept when a set or limit is deleted (history), hence SET NULL and the copied names.
CREATE TABLE IF NOT EXISTS risk_limit_breaches (
    id           bigserial PRIMARY KEY,
    set_id       bigint REFERENCES risk_limit_sets(id) ON DELETE SET NULL,
    set_name     text NOT NULL,
    limit_id     bigint REFERENCES risk_limits(id) ON DELETE SET NULL,
    limit_type   text NOT NULL,
    scope        text,
    portfolio    text NOT NULL,
    value        double precision NOT NULL,
    threshold    double precision NOT NULL,
    utilisation  double precision NOT NULL,
    detail       text NOT NULL DEFAULT '',
    ts           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS risk_limit_breaches_set_ts_idx ON risk_limit_breaches (set_id, ts DESC);
CREATE INDEX IF NOT EXISTS risk_limit_breaches_ts_idx ON risk_limit_breaches (ts DESC);
