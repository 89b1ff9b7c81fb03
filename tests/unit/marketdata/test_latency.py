import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engines.marketdata.latency import LatencyHistogram

pytestmark = pytest.mark.timeout(30)


def test_latency_histogram_when_batches_observed_then_exposition_matches_numpy_cumulative_counts():
    h = LatencyHistogram("t_latency_seconds", "test", ("stream",), buckets=(0.001, 0.01, 0.1))
    reg = CollectorRegistry()
    reg.register(h)
    x = np.random.default_rng(0).exponential(0.02, 5000)
    h.observe_many(("s",), x[:1234])
    h.observe_many(("s",), x[1234:])
    text = generate_latest(reg).decode()
    fam = next(f for f in text_string_to_metric_families(text) if f.name == "t_latency_seconds")
    got = {s.labels["le"]: s.value for s in fam.samples if s.name.endswith("_bucket")}
    for le in (0.001, 0.01, 0.1):
        assert got[repr(le)] == np.sum(x <= le)
    assert got["+Inf"] == 5000
    total = next(s.value for s in fam.samples if s.name.endswith("_sum"))
    assert total == pytest.approx(x.sum())


def test_latency_summary_when_observed_then_quantiles_equal_numpy_percentiles():
    h = LatencyHistogram("t2_seconds", "test", ("stream", "group"))
    x = np.random.default_rng(1).uniform(0, 0.05, 1000)
    h.observe_many(("a", "g"), x)
    h.observe_many(("b", "other"), np.full(10, 9.0))
    s = h.summary({"group": "g"})
    assert s["count"] == 1000
    assert s["p50_ms"] == pytest.approx(np.percentile(x, 50) * 1e3)
    assert s["p99_ms"] == pytest.approx(np.percentile(x, 99) * 1e3)
