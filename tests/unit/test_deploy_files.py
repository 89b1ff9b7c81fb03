"""Docker-mode and monitoring files, validated without a Docker engine or Prometheus."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backend.core.settings import ENGINE_PORTS, GATEWAY_PORT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.m4max.yml"])
def test_compose_file_when_checked_against_compose_spec_then_valid(name):
    exe = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(ROOT / name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_when_parsed_then_depends_on_names_existing_services_and_every_engine_runs():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on missing service {dep}"
    for engine, port in ENGINE_PORTS.items():
        assert services[engine]["command"] == ["python", "-m", f"engines.{engine}"]
        assert f"{port}:{port}" in services[engine]["ports"]
    assert f"{GATEWAY_PORT}:{GATEWAY_PORT}" in services["gateway"]["ports"]
    override = yaml.safe_load((ROOT / "docker-compose.m4max.yml").read_text())
    assert set(override["services"]) <= set(services)


def test_prometheus_config_when_parsed_then_scrapes_gateway_and_every_engine_port():
    cfg = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in cfg["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert f"gateway:{GATEWAY_PORT}" in targets
    assert {f"{e}:{p}" for e, p in ENGINE_PORTS.items()} <= targets
    for rule_file in cfg["rule_files"]:
        assert (ROOT / "deploy/prometheus" / rule_file).exists()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt install prometheus)")
def test_prometheus_files_when_checked_by_promtool_then_valid():
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"], ["check", "rules",
                 "deploy/prometheus/alerts.yml"]):
        done = subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_when_parsed_then_reference_metrics_the_platform_exports():
    from backend.core import metrics

    exported = {m.describe()[0].name for m in (metrics.GATEWAY_REQUESTS, metrics.GATEWAY_LATENCY,
                                                metrics.GATEWAY_FALLBACKS, metrics.CIRCUIT_STATE)}
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    text = " ".join(r["expr"] for r in rules)
    for name in ("nautilus_gateway_circuit_state", "nautilus_gateway_requests_total",
                 "nautilus_gateway_fallbacks_total", "nautilus_gateway_request_seconds"):
        assert name in text and any(name.startswith(e) for e in exported)


def test_grafana_dashboard_when_parsed_then_every_panel_queries_prometheus():
    dash = json.loads((ROOT / "deploy/grafana/dashboards/nautilus-overview.json").read_text())
    assert dash["uid"] and dash["panels"]
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "prometheus" and panel["targets"][0]["expr"].strip()
