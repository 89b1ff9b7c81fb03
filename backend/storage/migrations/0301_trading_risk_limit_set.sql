-- A trading account may follow one of the risk engine's limit sets (0100_risk_limits.sql): the set's
-- position_size, order_notional and gross_exposure limits then drive its pre-trade checks.
-- Deleting the set returns the account to its own limits.
ALTER TABLE trading_accounts ADD COLUMN IF NOT EXISTS risk_limit_set_id bigint
    REFERENCES risk_limit_sets(id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS trading_accounts_limit_set_idx ON trading_accounts (risk_limit_set_id)
    WHERE risk_limit_set_id IS NOT NULL;
