-- API keys are the platform's, not only the trading core's: every route needs one (scopes in
-- backend/auth/scopes.py). Earlier keys keep their scopes ('read', 'trade', 'admin' are still scopes).
ALTER TABLE IF EXISTS trading_api_keys RENAME TO api_keys;
CREATE TABLE IF NOT EXISTS api_keys (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    scopes      text[] NOT NULL,
    account_ids text[],                     -- NULL: every account
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
