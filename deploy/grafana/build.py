"""Build the provisioned Grafana dashboards from one compact description (run from the repository root):

    .venv/bin/python deploy/grafana/build.py          # writes deploy/grafana/dashboards/*.json

Four dashboards, linked to each other (a dashboard link by the ``nautilus`` tag, and panel links where
a panel's question continues on another one): platform (services, breakers, latency, processes,
capacity), trading (orders, denials, fills, commits, outbox and feed lag, P&L), risk (VaR by account,
limit utilisation, breaches), native (calls, queue, compute, device and shared memory). Units and
thresholds are set per panel; thresholds are the alert rules' (deploy/prometheus/alerts.yml). The
JSON is checked against Grafana's published schema by tests/unit/test_monitoring_files.py, which also
checks that the files are this script's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39
GREEN, ORANGE, RED = "green", "orange", "red"


def steps(*pairs: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in pairs]}


OK_BELOW = {  # thresholds shared with the alert rules
    "latency_1s": steps((None, GREEN), (0.5, ORANGE), (1, RED)),
    "order_50ms": steps((None, GREEN), (0.025, ORANGE), (0.05, RED)),
    "outbox_30s": steps((None, GREEN), (10, ORANGE), (30, RED)),
    "feed_2s": steps((None, GREEN), (1, ORANGE), (2, RED)),
    "utilisation": steps((None, GREEN), (0.9, ORANGE), (1, RED)),
    "count_bad": steps((None, GREEN), (1, RED)),
}
FREE_ABOVE = steps((None, RED), (0.1, ORANGE), (0.2, GREEN))
UP = steps((None, RED), (1, GREEN))


def link(title: str, uid: str) -> dict[str, Any]:
    return {"title": title, "url": f"/d/{uid}?${{__url_time_range}}", "targetBlank": False}


def panel(kind: str, title: str, exprs: list[tuple[str, str]] | str, *, unit: str = "short", w: int = 12,
          h: int = 8, thresholds: dict | None = None, links: list[dict] | None = None, desc: str = "",
          mappings: list[dict] | None = None, decimals: int | None = None) -> dict[str, Any]:
    if isinstance(exprs, str):
        exprs = [(exprs, "")]
    defaults: dict[str, Any] = {"unit": unit, "thresholds": thresholds or steps((None, GREEN)),
                                "links": links or [], "mappings": mappings or []}
    if decimals is not None:
        defaults["decimals"] = decimals
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "spanNulls": True,
                              "thresholdsStyle": {"mode": "line" if thresholds else "off"}}
    options: dict[str, Any] = (
        {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
         "tooltip": {"mode": "multi", "sort": "desc"}} if kind == "timeseries" else
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "background",
         "graphMode": "none", "textMode": "auto", "orientation": "auto"} if kind == "stat" else
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "orientation": "horizontal",
         "displayMode": "gradient", "showUnfilled": True})
    return {"type": kind, "title": title, "description": desc, "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
            "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": legend,
                         "range": True, "instant": False} for i, (e, legend) in enumerate(exprs)],
            "fieldConfig": {"defaults": defaults, "overrides": []}, "options": options}


def ts(title: str, exprs: list[tuple[str, str]] | str, **kw: Any) -> dict[str, Any]:
    return panel("timeseries", title, exprs, **kw)


def stat(title: str, expr: str, **kw: Any) -> dict[str, Any]:
    return panel("stat", title, expr, w=kw.pop("w", 4), h=kw.pop("h", 4), **kw)


def bars(title: str, exprs: list[tuple[str, str]] | str, **kw: Any) -> dict[str, Any]:
    return panel("bargauge", title, exprs, **kw)


def p99(metric: str, by: str, sel: str = "", q: float = 0.99, window: str = "5m") -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{sel}[{window}])))"


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Left to right, top to bottom on Grafana's 24-column grid."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        g = p["gridPos"]
        if x + g["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        g["x"], g["y"] = x, y
        x += g["w"]
        row_h = max(row_h, g["h"])
        p["id"] = i
    return panels


def dashboard(uid: str, title: str, desc: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": desc, "tags": ["nautilus"], "editable": False,
        "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": "10s", "graphTooltip": 1,
        "time": {"from": "now-1h", "to": "now"}, "timezone": "utc", "fiscalYearStartMonth": 0, "liveNow": False,
        "links": [{"title": "Nautilus", "type": "dashboards", "tags": ["nautilus"], "asDropdown": False,
                   "icon": "external link", "includeVars": False, "keepTime": True, "targetBlank": False,
                   "tooltip": "the other Nautilus dashboards", "url": ""}],
        "annotations": {"list": []}, "templating": {"list": []}, "panels": layout(panels),
    }


UP_MAP = [{"type": "value", "options": {"0": {"text": "down", "color": RED}, "1": {"text": "up", "color": GREEN}}}]
ENGINES = 'job=~"gateway|engines"'


def platform() -> dict[str, Any]:
    return dashboard("nautilus-platform", "Nautilus: platform", "Services, breakers, latency, processes, capacity", [
        stat("Services up", f"sum(up{{{ENGINES}}})", thresholds=steps((None, RED), (10, GREEN)),
             desc="The gateway and the nine engines answering their scrape (10 when all are up)"),
        stat("Services down", f"count(up{{{ENGINES}}} == 0) or vector(0)", thresholds=OK_BELOW["count_bad"]),
        stat("Open circuits", "count(nautilus_gateway_circuit_state == 2) or vector(0)",
             thresholds=OK_BELOW["count_bad"], links=[link("Native", "nautilus-native")]),
        stat("Restarts (1 h)", "sum(increase(nautilus_process_restarts_total[1h])) or vector(0)",
             thresholds=OK_BELOW["count_bad"], decimals=0),
        stat("Memory available", 'nautilus_host_memory_bytes{kind="available"} / ignoring(kind) '
             'nautilus_host_memory_bytes{kind="total"}', unit="percentunit", thresholds=FREE_ABOVE),
        stat("Disk free (run dir)", 'nautilus_host_disk_bytes{kind="free"} / ignoring(kind) '
             'nautilus_host_disk_bytes{kind="total"}', unit="percentunit", thresholds=FREE_ABOVE),
        ts("Routed calls by engine", [("sum by (engine) (rate(nautilus_gateway_requests_total[1m]))", "{{engine}}")],
           unit="reqps"),
        ts("Failed calls by engine and status",
           [('sum by (engine, status) (rate(nautilus_gateway_requests_total{status!="ok"}[1m]))',
             "{{engine}} {{status}}")], unit="reqps"),
        ts("p99 latency by engine (budget 1 s)", [(p99("nautilus_gateway_request_seconds", "engine"), "{{engine}}")],
           unit="s", thresholds=OK_BELOW["latency_1s"]),
        ts("p50 latency by engine and backend",
           [(p99("nautilus_gateway_request_seconds", "engine, backend", q=0.5), "{{engine}} {{backend}}")], unit="s"),
        ts("Gateway routes: p99", [(p99("nautilus_http_request_seconds", "route, method", '{process="gateway"}'),
                                    "{{method}} {{route}}")], unit="s",
           links=[link("Trading", "nautilus-trading")]),
        ts("Circuit state (0 closed, 1 half-open, 2 open)", [("nautilus_gateway_circuit_state", "{{backend}}")],
           unit="none", thresholds=steps((None, GREEN), (1, ORANGE), (2, RED))),
        ts("Fallbacks to another backend", [("sum by (engine) (rate(nautilus_gateway_fallbacks_total[1m]))",
                                             "{{engine}}")], unit="reqps"),
        ts("Resident memory by process", [("nautilus_process_resident_memory_bytes", "{{process}}")], unit="bytes"),
        ts("Engine compute queue wait p99", [(p99("nautilus_engine_queue_wait_seconds", "engine"), "{{engine}}")],
           unit="s"),
        ts("Jobs queued and running", [("sum by (engine, status) (nautilus_jobs)", "{{engine}} {{status}}")],
           unit="short", decimals=0),
        ts("Job run time p90", [(p99("nautilus_job_duration_seconds", "engine, kind", q=0.9, window="1h"),
                                 "{{engine}} {{kind}}")], unit="s"),
        ts("Host load per CPU", [("nautilus_host_load1 / nautilus_host_cpus", "load1 / CPUs")], unit="percentunit",
           thresholds=steps((None, GREEN), (0.8, ORANGE), (1.5, RED))),
    ])


def trading() -> dict[str, Any]:
    order_route = '{process="gateway", route="/api/v1/trading/orders", method="POST"}'
    return dashboard("nautilus-trading", "Nautilus: trading", "Orders, denials, fills, commits, outbox, feed, P&L", [
        stat("Order intake", "nautilus_trading_up", thresholds=UP, mappings=[
            {"type": "value", "options": {"0": {"text": "halted", "color": RED},
                                          "1": {"text": "accepting", "color": GREEN}}}]),
        stat("Global kill switch", "nautilus_trading_kill_switch_global", thresholds=OK_BELOW["count_bad"],
             mappings=[{"type": "value", "options": {"0": {"text": "off", "color": GREEN},
                                                     "1": {"text": "ON", "color": RED}}}],
             links=[link("Risk", "nautilus-risk")]),
        stat("Open orders", "sum(nautilus_trading_open_orders)", decimals=0),
        stat("Writer halts (24 h)", "increase(nautilus_trading_writer_halts_total[24h])",
             thresholds=OK_BELOW["count_bad"], decimals=0),
        stat("Rebuilds (24 h)", "increase(nautilus_trading_rebuilds_total[24h])", thresholds=OK_BELOW["count_bad"],
             decimals=0),
        stat("Outbox backlog", "nautilus_trading_outbox_pending_rows", unit="short", decimals=0,
             thresholds=steps((None, GREEN), (1000, ORANGE), (10000, RED))),
        ts("Orders by status entered", [("sum by (status) (rate(nautilus_trading_orders_total[1m]))", "{{status}}")],
           unit="ops"),
        ts("Denials by code", [("sum by (code) (rate(nautilus_trading_denials_total[1m]))", "{{code}}")],
           unit="ops", links=[link("Risk", "nautilus-risk")]),
        ts("Fills by venue", [("sum by (venue, liquidity) (rate(nautilus_trading_fills_total[1m]))",
                               "{{venue}} {{liquidity}}")], unit="ops"),
        ts("Filled notional per second", [("sum by (currency) (rate(nautilus_trading_fill_notional_total[1m]))",
                                           "{{currency}}")], unit="short"),
        ts("Order submission latency (budget p99 50 ms)", [
            (p99("nautilus_http_request_seconds", "process", order_route, q=0.5), "p50"),
            (p99("nautilus_http_request_seconds", "process", order_route), "p99")], unit="s",
           thresholds=OK_BELOW["order_50ms"], links=[link("Platform", "nautilus-platform")]),
        ts("Group commit: latency", [(p99("nautilus_trading_commit_seconds", "job", q=0.5), "p50"),
                                     (p99("nautilus_trading_commit_seconds", "job"), "p99")], unit="s"),
        ts("Group commit: batches per transaction", [
            (p99("nautilus_trading_commit_batches", "job", q=0.5), "p50"),
            (p99("nautilus_trading_commit_batches", "job"), "p99"),
            ("rate(nautilus_trading_commits_total[1m])", "commits/s")], unit="short"),
        ts("Outbox lag (oldest unrelayed event)", [("nautilus_trading_outbox_lag_seconds", "lag")], unit="s",
           thresholds=OK_BELOW["outbox_30s"]),
        ts("Market data: lag into the trading core", [("nautilus_trading_feed_lag_seconds", "lag")], unit="s",
           thresholds=OK_BELOW["feed_2s"]),
        ts("Market data: entries per second", [
            ("sum by (outcome) (rate(nautilus_trading_feed_messages_total[1m]))", "trading {{outcome}}"),
            ("sum by (stream) (rate(nautilus_marketdata_feed_messages_total[1m]))", "published {{stream}}")],
           unit="ops"),
        ts("Equity by account", [("nautilus_trading_account_equity", "{{account}} ({{currency}})")], unit="short"),
        ts("P&L by account", [("nautilus_trading_account_realised_pnl", "{{account}} realised"),
                              ("nautilus_trading_account_unrealised_pnl", "{{account}} unrealised")], unit="short"),
    ])


def risk() -> dict[str, Any]:
    return dashboard("nautilus-risk", "Nautilus: risk", "VaR by account, limit utilisation and breaches", [
        stat("Breaches (24 h)", 'sum(increase(nautilus_risk_limit_checks_total{status="breach"}[24h])) or vector(0)',
             thresholds=OK_BELOW["count_bad"], decimals=0),
        stat("Accounts over a limit", "count(nautilus_trading_limit_utilisation_ratio > 1) or vector(0)",
             thresholds=OK_BELOW["count_bad"], decimals=0),
        stat("Accounts killed", "sum(nautilus_trading_kill_switch_account) or vector(0)",
             thresholds=OK_BELOW["count_bad"], decimals=0, links=[link("Trading", "nautilus-trading")]),
        stat("Global kill switch", "nautilus_trading_kill_switch_global", thresholds=OK_BELOW["count_bad"],
             mappings=[{"type": "value", "options": {"0": {"text": "off", "color": GREEN},
                                                     "1": {"text": "ON", "color": RED}}}]),
        ts("VaR by account", [("nautilus_risk_account_var", "{{account}} {{method}} {{confidence}}")], unit="short",
           w=12, desc="From VaR calls that named an account (positions by reference), account currency"),
        ts("Expected shortfall by account", [("nautilus_risk_account_cvar", "{{account}} {{method}} {{confidence}}")],
           unit="short"),
        bars("Pre-trade limit utilisation by account", [("nautilus_trading_limit_utilisation_ratio",
                                                         "{{account}} {{limit}}")], unit="percentunit",
             thresholds=OK_BELOW["utilisation"]),
        bars("Limit sets: highest utilisation in the latest check",
             [("nautilus_risk_limit_utilisation_ratio", "{{limit_set}} {{limit_type}}")], unit="percentunit",
             thresholds=OK_BELOW["utilisation"]),
        ts("Limit checks by outcome", [("sum by (status) (rate(nautilus_risk_limit_checks_total[5m]))",
                                        "{{status}}")], unit="ops"),
        ts("Breaches by limit type (per hour)", [
            ('sum by (limit_type) (increase(nautilus_risk_limit_checks_total{status="breach"}[1h]))',
             "{{limit_type}}")], unit="short", thresholds=OK_BELOW["count_bad"]),
    ])


def native() -> dict[str, Any]:
    return dashboard("nautilus-native", "Nautilus: native engines", "Native processes: calls, queue, compute, memory",
                     [
        stat("Native processes answering", "sum(nautilus_native_up)", thresholds=steps((None, RED), (3, GREEN)),
             desc="Native processes that answered the gateway's last metrics request (3 when all are up)"),
        stat("In flight", "sum(nautilus_native_inflight_calls)", decimals=0),
        stat("Native restarts (1 h)", 'sum(increase(nautilus_process_restarts_total{process=~"native-.*"}[1h])) '
             "or vector(0)", thresholds=OK_BELOW["count_bad"], decimals=0,
             links=[link("Platform", "nautilus-platform")]),
        ts("Calls by operation and outcome", [
            ("sum by (engine, operation, outcome) (rate(nautilus_native_calls_total[1m]))",
             "{{engine}}.{{operation}} {{outcome}}")], unit="reqps"),
        ts("Queue wait for a worker thread p99", [(p99("nautilus_native_queue_wait_seconds", "engine"),
                                                   "{{engine}}")], unit="s"),
        ts("Compute time by operation", [
            (p99("nautilus_native_compute_seconds", "engine, operation", q=0.5), "p50 {{operation}}"),
            (p99("nautilus_native_compute_seconds", "engine, operation"), "p99 {{operation}}")], unit="s"),
        ts("Native vs HTTP end to end (GPU-capable operations, p99)", [
            (p99("nautilus_gateway_request_seconds", "operation, backend", '{engine=~"risk|ml|strategy"}'),
             "{{operation}} {{backend}}")], unit="s", thresholds=OK_BELOW["latency_1s"]),
        ts("Device memory", [("nautilus_native_device_memory_bytes", "{{engine}} {{device}} {{kind}}")],
           unit="bytes", desc="As torch reports it in each native process (none on the CPU)"),
        ts("Shared memory pools", [("nautilus_native_shm_bytes", "{{engine}} {{pool}} {{state}}")], unit="bytes"),
        ts("Resident memory", [("nautilus_native_resident_memory_bytes", "{{engine}}")], unit="bytes"),
    ])


BUILDERS = {"nautilus-platform": platform, "nautilus-trading": trading, "nautilus-risk": risk,
            "nautilus-native": native}


def render() -> dict[str, str]:
    return {f"{uid}.json": json.dumps(build(), indent=2) + "\n" for uid, build in BUILDERS.items()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
