-- Risk limit sets are versioned definitions like feature sets and user factors
-- (backend/storage/definitions.py): a version that starts at 1 and bumps on every update.
ALTER TABLE risk_limit_sets ADD COLUMN IF NOT EXISTS version integer NOT NULL DEFAULT 1;
