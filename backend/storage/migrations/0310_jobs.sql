-- Long-running work (backtests, sweeps, model training) as persisted jobs: queued, claimed by the
-- engine process that owns the kind, run in a worker process, cancellable, with progress.
CREATE TABLE IF NOT EXISTS jobs (
    id                text PRIMARY KEY,
    engine            text NOT NULL,
    kind              text NOT NULL,
    params            jsonb NOT NULL,
    status            text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress          double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    message           text,
    metrics           jsonb NOT NULL DEFAULT '{}',
    result            jsonb,
    error             text,
    owner             text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    attempts          integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_queue_idx ON jobs (engine, created_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_list_idx ON jobs (engine, kind, created_at DESC);
