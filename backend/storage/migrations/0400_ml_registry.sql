-- The ML engine's model registry: a model (a name and its task) has numbered versions; each version
-- records its type, hyper-parameters, the dataset definition and a hash of the data it was trained on,
-- its out-of-sample metrics next to its baseline, its artifact (a file in the run directory) with the
-- artifact's sha256, and its stage. At most one version of a model is in production (the champion).
CREATE TABLE IF NOT EXISTS ml_models (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    task         text NOT NULL CHECK (task IN ('volatility', 'regime', 'direction')),
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ml_model_versions (
    name              text NOT NULL REFERENCES ml_models (name) ON DELETE CASCADE,
    version           integer NOT NULL CHECK (version >= 1),
    model_type        text NOT NULL,
    hyperparams       jsonb NOT NULL,
    dataset           jsonb NOT NULL,
    data_hash         text NOT NULL,
    n_train           integer NOT NULL,
    train_start       date,
    train_end         date,
    metrics           jsonb NOT NULL,
    artifact_path     text NOT NULL,
    artifact_hash     text NOT NULL,
    stage             text NOT NULL CHECK (stage IN ('staging', 'production', 'archived')),
    job_id            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    stage_changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS ml_one_production_idx ON ml_model_versions (name) WHERE stage = 'production';
-- Every stage change with when and why (the history behind promotions and roll-backs).
CREATE TABLE IF NOT EXISTS ml_stage_events (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    version     integer NOT NULL,
    from_stage  text,
    to_stage    text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ml_stage_events_idx ON ml_stage_events (name, at DESC);
