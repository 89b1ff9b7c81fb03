-- The source of every strategy version that was started on paper, so that a rollback can restart the
-- previous version (and a restart resume an instance) after the strategy's file has changed.
CREATE TABLE IF NOT EXISTS strategy_versions (
    strategy    text NOT NULL,
    version     text NOT NULL,
    source      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (strategy, version)
);
