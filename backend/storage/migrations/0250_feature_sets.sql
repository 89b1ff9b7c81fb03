-- Named feature sets of the features engine: a list of indicator specs that ML and strategy engines
-- request by name. ``indicators`` is a JSON array of {name, params, alias?}; version bumps on update.
CREATE TABLE IF NOT EXISTS feature_sets (
    name         text PRIMARY KEY,
    description  text NOT NULL DEFAULT '',
    indicators   jsonb NOT NULL CHECK (jsonb_typeof(indicators) = 'array'),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
