"""Prometheus metrics: every name the platform exports, declared here once.

One registry per process: prometheus_client's default ``REGISTRY`` (it also carries the
standard ``process_*`` and ``python_*`` families). Names start with ``nautilus_``, carry their unit
(``_seconds``, ``_bytes``, ``_rows``, ``_ratio``; counters end in ``_total``), and every label has a
bounded set of values: engines, operations, backends, order statuses and types, denial codes, venues
and streams are fixed by the code; accounts are cut at ``MAX_ACCOUNT_SERIES``. Money has no SI unit:
money gauges carry the account's currency as the ``currency`` label.

Two kinds of declaration:

- instruments (``Counter``/``Gauge``/``Histogram``) that code updates as things happen. Those that only
  one kind of process updates are created unregistered (``registry=None``) and registered by that
  process with ``enable`` (so an engine does not export an empty trading histogram);
- ``Family`` specs for values read at scrape time from live state (the trading core's memory, the
  supervisor's status file, the native processes' reports): a ``Source`` registered with
  ``set_source`` turns state into samples of these families when ``/metrics`` is rendered, after the
  async ``refresh`` step has read what needs a database or a socket.

Who exports what: the gateway (routing, trading, risk-by-account, host, processes, and what each native
process reports over its socket, relayed with ``native_wire``); each engine (its operations, jobs, and
its own families); each native process (``nautilus_native_*``, sent to the gateway on request).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
JOB_BUCKETS_S = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
COMMIT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
#: Accounts with their own series (P&L, open orders, kill switch, limits, VaR); the rest are counted only.
MAX_ACCOUNT_SERIES = 200


@dataclass(frozen=True)
class Family:
    """A metric family whose samples are computed at scrape time (see ``Source``)."""

    name: str  # without "_total" for counters
    help: str
    type: str  # "gauge" | "counter"
    labels: tuple[str, ...] = ()

    def metric(self) -> Metric:
        return Metric(self.name, self.help, self.type)

    def add(self, metric: Metric, value: float, *labels: str) -> None:
        suffix = "_total" if self.type == "counter" else ""
        metric.add_sample(self.name + suffix, dict(zip(self.labels, labels, strict=True)), float(value))


# ---- every process -------------------------------------------------------------------------------
UP_SECONDS = Gauge("nautilus_process_uptime_seconds", "Seconds since the process started", ["process"])

# ---- gateway: routing ----------------------------------------------------------------------------
GATEWAY_REQUESTS = Counter(
    "nautilus_gateway_requests_total", "Calls routed by the gateway", ["engine", "operation", "backend", "status"]
)
GATEWAY_LATENCY = Histogram(
    "nautilus_gateway_request_seconds", "End-to-end latency of routed calls", ["engine", "operation", "backend"],
    buckets=LATENCY_BUCKETS_S,
)
GATEWAY_FALLBACKS = Counter(
    "nautilus_gateway_fallbacks_total", "Calls retried on another backend after a transport failure", ["engine"]
)
CIRCUIT_STATE = Gauge(
    "nautilus_gateway_circuit_state", "Circuit state per backend: 0 closed, 1 half-open, 2 open", ["backend"]
)
HTTP_LATENCY = Histogram(
    "nautilus_http_request_seconds", "Latency of every HTTP request a process served, by route template",
    ["process", "route", "method", "code"], buckets=LATENCY_BUCKETS_S,
)

# ---- engines ----------------------------------------------------------------------------------------
ENGINE_REQUESTS = Counter(
    "nautilus_engine_requests_total", "Operation calls served by an engine", ["engine", "operation", "status"]
)
ENGINE_LATENCY = Histogram(
    "nautilus_engine_request_seconds", "Operation latency inside an engine", ["engine", "operation"],
    buckets=LATENCY_BUCKETS_S,
)
ENGINE_QUEUE_WAIT = Histogram(
    "nautilus_engine_queue_wait_seconds", "Time a compute call waited for an engine's compute thread", ["engine"],
    buckets=LATENCY_BUCKETS_S,
)
JOB_DURATION = Histogram(
    "nautilus_job_duration_seconds", "Run time of persisted jobs from claim to end", ["engine", "kind", "outcome"],
    buckets=JOB_BUCKETS_S,
)
JOBS = Family("nautilus_jobs", "Persisted jobs queued or running (from the jobs table)", "gauge",
              ("engine", "kind", "status"))
JOB_OLDEST_QUEUED = Family("nautilus_job_oldest_queued_seconds", "Age of the oldest queued job", "gauge",
                           ("engine",))

# ---- market data engine ----------------------------------------------------------------------------
FEED_MESSAGES = Counter("nautilus_marketdata_feed_messages_total", "Messages published by the simulated feeds",
                        ["stream"])
FEEDS_ACTIVE = Family("nautilus_marketdata_feeds_active", "Simulated feeds starting, running or stopping", "gauge")

# ---- risk engine -------------------------------------------------------------------------------------
RISK_LIMIT_CHECKS = Counter("nautilus_risk_limit_checks_total", "Limits evaluated by check_limits, by outcome",
                            ["limit_type", "status"])
RISK_LIMIT_UTILISATION = Gauge(
    "nautilus_risk_limit_utilisation_ratio", "Highest value/threshold of a limit type in the latest check of a set",
    ["limit_set", "limit_type"])

# ---- gateway: risk by account (recorded from VaR calls that name an account) --------------------------
RISK_ACCOUNT_VAR = Gauge("nautilus_risk_account_var", "Latest value at risk of an account (account currency)",
                         ["account", "method", "confidence"])
RISK_ACCOUNT_CVAR = Gauge("nautilus_risk_account_cvar", "Latest expected shortfall of an account (account currency)",
                          ["account", "method", "confidence"])
RISK_ACCOUNT_VAR_TIME = Gauge("nautilus_risk_account_var_timestamp_seconds", "When an account's VaR was computed",
                              ["account", "method"])

# ---- trading core (gateway process) -------------------------------------------------------------------
TRADING_COMMIT_BATCHES = Histogram("nautilus_trading_commit_batches", "Batches per group commit (transaction)",
                                   buckets=COMMIT_BATCH_BUCKETS, registry=None)
TRADING_COMMIT_SECONDS = Histogram("nautilus_trading_commit_seconds", "Time of one group commit, retries included",
                                   buckets=LATENCY_BUCKETS_S, registry=None)
TRADING_UP = Family("nautilus_trading_up", "1 while the trading core runs and accepts orders, 0 halted or down",
                    "gauge")
TRADING_ORDERS = Family("nautilus_trading_orders", "Durable order transitions by the status entered and order type",
                        "counter", ("status", "type"))
TRADING_DENIALS = Family("nautilus_trading_denials", "Orders denied pre-trade, by denial code", "counter", ("code",))
TRADING_FILLS = Family("nautilus_trading_fills", "Durable fills by venue and liquidity", "counter",
                       ("venue", "liquidity"))
TRADING_FILL_NOTIONAL = Family("nautilus_trading_fill_notional", "Filled notional (price x quantity)", "counter",
                               ("currency",))
TRADING_OPEN_ORDERS = Family("nautilus_trading_open_orders", "Open orders per account", "gauge", ("account",))
TRADING_ACCOUNTS = Family("nautilus_trading_accounts", "Accounts held by the trading core", "gauge")
TRADING_EQUITY = Family("nautilus_trading_account_equity", "Cash plus marked positions", "gauge",
                        ("account", "currency"))
TRADING_REALISED = Family("nautilus_trading_account_realised_pnl", "Realised P&L", "gauge", ("account", "currency"))
TRADING_UNREALISED = Family("nautilus_trading_account_unrealised_pnl", "Unrealised P&L at the latest marks", "gauge",
                            ("account", "currency"))
TRADING_LIMIT_UTILISATION = Family(
    "nautilus_trading_limit_utilisation_ratio", "Gross exposure and margin over their limit, per account", "gauge",
    ("account", "limit"))
TRADING_KILL_GLOBAL = Family("nautilus_trading_kill_switch_global", "1 while the global kill switch is on", "gauge")
TRADING_KILL_ACCOUNT = Family("nautilus_trading_kill_switch_account", "1 while an account's kill switch is on",
                              "gauge", ("account",))
TRADING_HALTS = Family("nautilus_trading_writer_halts", "Writer halts (a commit failed) since the process started",
                       "counter")
TRADING_REBUILDS = Family("nautilus_trading_rebuilds", "Rebuilds of memory from the database since the start",
                          "counter")
TRADING_COMMITS = Family("nautilus_trading_commits", "Group commits", "counter")
TRADING_OUTBOX_PENDING = Family("nautilus_trading_outbox_pending_rows", "Outbox rows not yet relayed to Redis",
                                "gauge")
TRADING_OUTBOX_LAG = Family("nautilus_trading_outbox_lag_seconds", "Age of the oldest outbox row not yet relayed",
                            "gauge")
TRADING_OUTBOX_RELAYED = Family("nautilus_trading_outbox_relayed_rows", "Outbox rows relayed to Redis", "counter")
TRADING_FEED_MESSAGES = Family("nautilus_trading_feed_messages", "Market data entries the trading core consumed",
                               "counter", ("outcome",))
TRADING_FEED_LAG = Family("nautilus_trading_feed_lag_seconds",
                          "Wall time between a quote's timestamp and its arrival, latest read", "gauge")
TRADING_FEED_LAST = Family("nautilus_trading_feed_last_message_timestamp_seconds",
                           "Wall time the trading core last consumed a market data entry", "gauge")

# ---- native processes (their own registry; relayed by the gateway) ----------------------------------
NATIVE_CALLS = Counter("nautilus_native_calls_total", "Calls a native process answered, by operation and outcome",
                       ["engine", "operation", "outcome"], registry=None)
NATIVE_INFLIGHT = Gauge("nautilus_native_inflight_calls", "Calls queued or computing in a native process",
                        ["engine"], registry=None)
NATIVE_QUEUE_WAIT = Histogram("nautilus_native_queue_wait_seconds",
                              "Time a native call waited for a worker thread", ["engine"],
                              buckets=LATENCY_BUCKETS_S, registry=None)
NATIVE_COMPUTE = Histogram("nautilus_native_compute_seconds", "Validation plus compute time of a native call",
                           ["engine", "operation"], buckets=LATENCY_BUCKETS_S, registry=None)
NATIVE_SHM = Family("nautilus_native_shm_bytes", "Shared memory of a native pool: mapped and in use", "gauge",
                    ("engine", "pool", "state"))
NATIVE_DEVICE_MEMORY = Family("nautilus_native_device_memory_bytes",
                              "Device memory as torch reports it in the native process", "gauge",
                              ("engine", "device", "kind"))
NATIVE_RSS = Family("nautilus_native_resident_memory_bytes", "Resident memory of a native process", "gauge",
                    ("engine",))
NATIVE_UP = Family("nautilus_native_up", "1 when the native process answered the gateway's metrics request",
                   "gauge", ("engine",))

# ---- processes and host (gateway, read at scrape time) -------------------------------------------------
PROCESS_RESTARTS = Family("nautilus_process_restarts", "Restarts by the supervisor since it started", "counter",
                          ("process",))
PROCESS_RUNNING = Family("nautilus_process_running", "1 while the supervisor reports the process running", "gauge",
                         ("process",))
PROCESS_RSS = Family("nautilus_process_resident_memory_bytes", "Resident memory of a supervised process",
                     "gauge", ("process",))
HOST_MEMORY = Family("nautilus_host_memory_bytes", "Host memory: total and available", "gauge", ("kind",))
HOST_DISK = Family("nautilus_host_disk_bytes", "Disk of the run directory's file system: total and free", "gauge",
                   ("kind",))
HOST_LOAD = Family("nautilus_host_load1", "One-minute load average over logical CPUs", "gauge")
HOST_CPUS = Family("nautilus_host_cpus", "Logical CPUs", "gauge")


# ---- registration -----------------------------------------------------------------------------------
_enabled: set[int] = set()


def enable(*instruments: Counter | Gauge | Histogram) -> None:
    """Register instruments declared with ``registry=None`` in this process's registry (idempotent)."""
    for inst in instruments:
        if id(inst) not in _enabled:
            REGISTRY.register(inst)
            _enabled.add(id(inst))


Source = Callable[[], Iterable[Metric]]
Refresher = Callable[[], Awaitable[None]]


class _Sources(Collector):
    """The one collector of scrape-time families: named sources, replaced by name (a test that builds
    two gateways in one process keeps one set of series)."""

    def __init__(self) -> None:
        self.sources: dict[str, Source] = {}
        self.refreshers: dict[str, Refresher] = {}

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; the families are dynamic

    def collect(self) -> Iterable[Metric]:
        for name, source in list(self.sources.items()):
            try:
                yield from source()
            except Exception:  # noqa: BLE001 - one broken source must not cost the whole scrape
                log.exception("metrics source %s failed", name)


SOURCES = _Sources()
REGISTRY.register(SOURCES)


def set_source(name: str, source: Source, refresh: Refresher | None = None) -> None:
    """Add (or replace) a source of scrape-time samples and its optional async refresh step."""
    SOURCES.sources[name] = source
    if refresh is not None:
        SOURCES.refreshers[name] = refresh
    else:
        SOURCES.refreshers.pop(name, None)


def drop_source(name: str) -> None:
    SOURCES.sources.pop(name, None)
    SOURCES.refreshers.pop(name, None)


async def refresh(timeout_s: float = 2.0) -> None:
    """Run every refresh step (database counts, native reports) concurrently, each bounded."""
    steps = list(SOURCES.refreshers.items())
    results = await asyncio.gather(*(asyncio.wait_for(fn(), timeout_s) for _, fn in steps), return_exceptions=True)
    for (name, _), result in zip(steps, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("metrics refresh %s failed: %s", name, type(result).__name__)


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def families(names: Sequence[Family]) -> dict[str, Metric]:
    """Fresh, empty metric objects for ``names`` keyed by family name."""
    return {f.name: f.metric() for f in names}
