"""Metrics plumbing, request ids and log lines, in one process: percentiles from histogram buckets
agree with Prometheus' own histogram_quantile, a native process reports its families and sees the
caller's request id over a real socket, log lines are JSON when asked, GPU readings parse."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import os

import pytest
from prometheus_client import Histogram

from backend.core import logging as nlogging
from backend.core import metrics
from backend.gateway import gpu
from backend.gateway.latency import LatencyWindow, quantile
from native_engines.ipc.client import NativeCallError, NativeClient
from native_engines.ipc.server import NativeServer
from native_engines.metrics import families_from_reports


def test_quantile_when_buckets_given_then_equals_promtool_histogram_quantile():
    # deploy/prometheus/tests/alerts_test.yml: promtool computes 2.28 s for these per-minute increments
    bounds, cumulative = [0.5, 2.5, float("inf")], [100.0, 110.0, 110.0]
    assert quantile(0.99, bounds, cumulative) == pytest.approx(2.28)
    assert quantile(0.5, bounds, cumulative) == pytest.approx(0.5 * 55 / 100)
    assert quantile(0.99, [0.5, 2.5, float("inf")], [0.0, 0.0, 0.0]) is None
    assert quantile(0.99, [0.5, 2.5, float("inf")], [0.0, 0.0, 5.0]) == 2.5  # above the last bound: that bound


def test_latency_window_when_calls_after_snapshot_then_counts_only_the_window():
    hist = Histogram("test_window_seconds", "test", ["op"], buckets=(0.01, 0.1, 1.0), registry=None)
    for _ in range(50):
        hist.labels("a").observe(0.05)
    window = LatencyWindow({"ops": hist}, every_s=3600)  # the first snapshot is taken now
    for _ in range(10):
        hist.labels("a").observe(0.5)
    hist.labels("b").observe(0.005)
    _, rows = window.percentiles("ops", minutes=5)
    by = {r["op"]: r for r in rows}
    assert by["a"]["count"] == 10 and by["b"]["count"] == 1
    assert 0.1 < by["a"]["p50_s"] <= 1.0 and by["a"]["mean_s"] == pytest.approx(0.5)
    assert by["b"]["p99_s"] <= 0.01


def test_request_id_when_caller_sends_one_then_kept_only_if_a_short_token():
    assert nlogging.accept_request_id("trace-1.a:b_c") == "trace-1.a:b_c"
    for bad in ("", "x" * 65, "a b", "a\nb", "é", None):
        made = nlogging.accept_request_id(bad)
        assert made != bad and len(made) == 32


def test_log_lines_when_json_format_then_one_object_a_line_with_request_id(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        nlogging.configure("tester", "INFO", "json")
        token = nlogging.REQUEST_ID.set("rid-42")
        try:
            logging.getLogger("x.y").info("hello %s", "world")
        finally:
            nlogging.REQUEST_ID.reset(token)
        logging.getLogger("x.y").warning("outside")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world" and first["request_id"] == "rid-42" and first["process"] == "tester"
    assert first["level"] == "INFO" and first["logger"] == "x.y" and first["pid"] == os.getpid()
    assert dt.datetime.fromisoformat(first["ts"].replace("Z", "+00:00"))
    assert "request_id" not in second
    with pytest.raises(ValueError, match="NAUTILUS_LOG_FORMAT"):
        nlogging.configure("tester", "INFO", "xml")


async def test_native_server_when_called_then_sees_request_id_and_reports_its_metrics(tmp_path):
    def whoami(body):  # noqa: ANN001, ANN202
        if body == "fail":
            raise ValueError("boom")
        return json.dumps({"rid": nlogging.REQUEST_ID.get()}).encode()

    def mapper(exc, op):  # noqa: ANN001, ANN202
        return {"status": 422, "code": "TEST_FAILED", "detail": str(exc)}

    server = NativeServer("obs", tmp_path / "obs.sock", {"whoami": whoami}, instance="obstest",
                          error_mapper=mapper, info=lambda: {})
    server.report = lambda: [[m.name, m.type, m.documentation, [[s.name, dict(s.labels), s.value] for s in m.samples]]
                             for m in metrics.REGISTRY.collect() if m.name.startswith("nautilus_native_")]
    await server.start()
    client = NativeClient(tmp_path / "obs.sock", name="t", connections=1)
    try:
        token = nlogging.REQUEST_ID.set("rid-native-7")
        try:
            answer = json.loads(await client.call("whoami", None))
        finally:
            nlogging.REQUEST_ID.reset(token)
        assert answer == {"rid": "rid-native-7"}
        assert json.loads(await client.call("whoami", None)) == {"rid": None}
        with pytest.raises(NativeCallError):
            await client.call("whoami", "fail")
        report = await client.metrics(2.0)
    finally:
        await client.close()
        await server.drain_and_close()
    fams = {m.name: m for m in families_from_reports({"obs": report, "gone": None})}
    calls = {(s.labels["operation"], s.labels["outcome"]): s.value for s in fams["nautilus_native_calls"].samples
             if s.name.endswith("_total") and s.labels["engine"] == "obs"}
    assert calls == {("whoami", "ok"): 2, ("whoami", "TEST_FAILED"): 1}
    counts = [s.value for s in fams["nautilus_native_compute_seconds"].samples
              if s.name.endswith("_count") and s.labels["engine"] == "obs"]
    assert counts == [3]
    assert {s.labels["engine"]: s.value for s in fams["nautilus_native_up"].samples} == {"gone": 0.0, "obs": 1.0}


def test_smi_rows_when_parsed_then_units_converted_and_missing_figures_none():
    # the documented CSV form of `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows = gpu.parse_smi("0, NVIDIA H200, GPU-1a2b, 143771, 1024, 37, 5, 41, 118.52, 570.86.15\n"
                         "1, NVIDIA H200, GPU-3c4d, 143771, 0, [N/A], [N/A], 35, [N/A], 570.86.15\n", at)
    assert rows[0].memory_total_bytes == 143771 * 1024 * 1024 and rows[0].memory_used_bytes == 1024 ** 3
    assert rows[0].utilisation_ratio == pytest.approx(0.37) and rows[0].temperature_celsius == 41.0
    assert rows[0].power_watts == pytest.approx(118.52) and rows[0].read_at == at
    assert rows[1].utilisation_ratio is None and rows[1].power_watts is None and rows[1].index == 1


@pytest.mark.gpu
def test_gpu_when_an_nvidia_device_is_present_then_read_from_the_driver():
    devices, notes = gpu.read_gpus()
    if not devices:
        pytest.skip(f"no NVIDIA device: {'; '.join(notes)}")
    d = devices[0]
    assert d.name and d.memory_total_bytes and d.memory_total_bytes > 0 and d.source in ("nvml", "nvidia-smi")
    assert d.temperature_celsius is None or 0 < d.temperature_celsius < 120


def test_refresh_when_a_source_fails_then_the_scrape_still_renders():
    async def broken() -> None:
        raise RuntimeError("database away")

    fam = metrics.Family("nautilus_test_refresh_probe", "test", "gauge")

    def source():  # noqa: ANN202
        m = fam.metric()
        fam.add(m, 7.0)
        return [m]

    metrics.set_source("test-probe", source, broken)
    try:
        asyncio.run(metrics.refresh(0.5))
        body, _ = metrics.render()
    finally:
        metrics.drop_source("test-probe")
    assert b"nautilus_test_refresh_probe 7.0" in body
