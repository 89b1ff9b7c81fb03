-- Trading events carry a UUIDv7 event id, unique across database resets (the outbox's bigserial
-- restarts with a new database while older events still sit in the Redis stream).
ALTER TABLE trading_outbox ADD COLUMN IF NOT EXISTS event_id uuid;
UPDATE trading_outbox SET event_id = gen_random_uuid() WHERE event_id IS NULL;
ALTER TABLE trading_outbox ALTER COLUMN event_id SET NOT NULL;
