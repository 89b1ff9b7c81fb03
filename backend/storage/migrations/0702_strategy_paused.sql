-- Paper instances can be paused (their feed stops, their orders stay) and resumed.
ALTER TABLE strategy_instances DROP CONSTRAINT IF EXISTS strategy_instances_status_check;
ALTER TABLE strategy_instances ADD CONSTRAINT strategy_instances_status_check
    CHECK (status IN ('running', 'paused', 'stopped', 'failed', 'rolled_back'));
