-- User-defined factors of the factor engine: a validated expression over price/volume series and
-- indicators (parsed by engines/factor/expression.py, never evaluated as code); version bumps on update.
CREATE TABLE IF NOT EXISTS factor_definitions (
    name         text PRIMARY KEY,
    description  text NOT NULL DEFAULT '',
    expression   text NOT NULL,
    higher_is    text NOT NULL DEFAULT 'better' CHECK (higher_is IN ('better', 'worse')),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
