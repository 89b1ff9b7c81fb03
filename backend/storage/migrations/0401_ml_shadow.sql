-- Champion/challenger in shadow on the live feed: each run (a job of the ML engine) stores, for every bar of
-- its symbol that arrives on md.bars, both versions' forecast of the next return's variance, and the next
-- return's square (the outcome) once that bar has arrived.
CREATE TABLE IF NOT EXISTS ml_shadow_predictions (
    shadow_id   text NOT NULL,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('champion', 'challenger')),
    version     integer NOT NULL,
    symbol      text NOT NULL,
    origin_ts   timestamptz NOT NULL,
    variance    double precision NOT NULL,
    outcome     double precision,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shadow_id, role, origin_ts)
);
