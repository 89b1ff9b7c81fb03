-- Notification engine (engines/websocket/notify): rules, notifications (aggregated), events seen
-- (de-duplication of at-least-once bus events), and every delivery attempt per channel.
CREATE TABLE IF NOT EXISTS notification_rules (
    id text PRIMARY KEY,
    name text NOT NULL,
    event_kind text NOT NULL,
    conditions jsonb NOT NULL DEFAULT '[]',
    priority text NOT NULL,
    channels jsonb NOT NULL,
    group_by text[] NOT NULL DEFAULT '{}',
    window_s double precision NOT NULL,
    escalate_after_s double precision,
    escalate_channels jsonb NOT NULL DEFAULT '[]',
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notifications (
    id bigserial PRIMARY KEY,
    rule_id text NOT NULL,
    rule_name text NOT NULL,
    dedup_key text NOT NULL,
    event_kind text NOT NULL,
    priority text NOT NULL,
    title text NOT NULL,
    event jsonb NOT NULL,
    count integer NOT NULL DEFAULT 1,
    first_ts timestamptz NOT NULL,
    last_ts timestamptz NOT NULL,
    event_ts_ns bigint NOT NULL,
    acked_at timestamptz,
    acked_by text,
    escalated_at timestamptz
);
CREATE INDEX IF NOT EXISTS notifications_open ON notifications (rule_id, dedup_key, first_ts DESC)
    WHERE acked_at IS NULL;

CREATE TABLE IF NOT EXISTS notification_events_seen (
    rule_id text NOT NULL,
    event_key text NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, event_key)
);

CREATE TABLE IF NOT EXISTS notification_deliveries (
    id bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel text NOT NULL,
    target text,
    escalation boolean NOT NULL DEFAULT false,
    attempt integer NOT NULL,
    status text NOT NULL,          -- delivered | failed (will retry) | dead (retries exhausted)
    http_status integer,
    error text,
    latency_ms double precision,   -- from the event's publish time to this attempt's end
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notification_deliveries_by_notification ON notification_deliveries (notification_id);
CREATE INDEX IF NOT EXISTS notification_deliveries_dead ON notification_deliveries (created_at) WHERE status = 'dead';
