"""The platform's Redis streams, named once (per instance the bus prefixes them; formats in docs/streams.md)."""

#: Market data from the feeds and replays: one entry per tick, or columnar batches.
MD_QUOTES = "md.quotes"
MD_TRADES = "md.trades"
MD_BARS = "md.bars"
#: Order, fill and position events from the trading core's outbox.
EVENTS_TRADING = "events.trading"
#: Limit breaches and kill-switch changes.
EVENTS_RISK = "events.risk"
#: Terminal states of persisted jobs (progress goes to pub/sub only).
EVENTS_JOBS = "events.jobs"
#: Topic of kill-switch changes (written by the trading core's outbox to ``events.trading``).
KILL_SWITCH_TOPIC = "events.risk.kill_switch"
#: Strategy engine events: paper instances started, stopped, failed, rolled back; promotions.
EVENTS_STRATEGY = "events.strategy"
