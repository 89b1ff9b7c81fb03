"""Docker-mode and monitoring files, validated without a Docker engine or a Grafana server:
compose files against the compose spec and cross-checked (depends_on, volumes, networks, ports,
images, health checks, credentials); the Dockerfile's stages; the Prometheus files with promtool
(config, rules, rule unit tests) and against the generator; every metric a rule or a panel names is
declared in backend/core/metrics.py; the dashboards are the builder's output and type-check against
Grafana's published schema (@grafana/schema + tsc)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backend.core import metrics
from backend.core.settings import ENGINE_PORTS, GATEWAY_PORT
from backend.launcher import prometheus as prom_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ["docker-compose.yml", "docker-compose.m4max.yml"]
SCHEMA_CHECK = ROOT / "deploy/grafana/schema-check"
PUBLISHED = {"gateway", "grafana", "dashboard"}  # grafana only with --profile monitoring
PROMTOOL = pytest.mark.skipif(shutil.which("promtool") is None,
                              reason="promtool not installed (run_tests.sh installs Debian's prometheus as root)")


def _compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", COMPOSE)
def test_compose_file_when_checked_against_compose_spec_then_valid(name):
    exe = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(ROOT / name)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_when_cross_checked_then_dependencies_volumes_and_networks_exist():
    base, override = _compose(), _compose("docker-compose.m4max.yml")
    services = base["services"]
    assert set(override["services"]) <= set(services), "the override names a service the base lacks"
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on missing service {dep}"
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in base["volumes"], f"{name} uses undeclared volume {source}"
        for net in svc.get("networks", []):
            assert net in base["networks"], f"{name} joins undeclared network {net}"
        ipc = svc.get("ipc", "")
        if ipc.startswith("service:"):
            target = ipc.split(":", 1)[1]
            assert target in svc["depends_on"] and services[target].get("ipc") == "shareable"
    assert base["networks"]["backend"]["internal"] is True  # PostgreSQL, Redis, engines: no route out


def test_compose_when_read_then_every_service_pinned_checked_and_only_gateway_published_on_loopback():
    services = _compose()["services"]
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image} is not pinned"
        assert "healthcheck" in svc, f"{name} has no health check"
        for port in svc.get("ports", []):
            assert name in PUBLISHED, f"{name} publishes {port}"
            assert port.startswith("${NAUTILUS_BIND:-127.0.0.1}:"), f"{name} publishes beyond loopback: {port}"
        if name not in {"gateway", "grafana"}:
            assert "ports" not in svc
    assert {s for s, svc in services.items() if "monitoring" in svc.get("profiles", [])} >= {"grafana", "prometheus"}
    for engine, port in ENGINE_PORTS.items():
        assert services[engine]["command"] == ["python", "-m", f"engines.{engine}"]
        assert f"127.0.0.1:{port}/health" in " ".join(services[engine]["healthcheck"]["test"])
    assert services["gateway"]["ports"] == [f"${{NAUTILUS_BIND:-127.0.0.1}}:${{NAUTILUS_GATEWAY_PORT:-{GATEWAY_PORT}}}:"
                                             f"{GATEWAY_PORT}"]
    assert services["gateway"]["ipc"] == "service:native"  # the same /dev/shm as the native processes


def test_compose_when_read_then_credentials_come_from_the_env_file_and_grafana_is_not_anonymous():
    text = (ROOT / "docker-compose.yml").read_text()
    services = _compose()["services"]
    env = services["risk"]["environment"]
    assert env["NAUTILUS_INTERNAL_TOKEN"] == "${NAUTILUS_INTERNAL_TOKEN:?set in .env}"
    assert "${POSTGRES_PASSWORD:?set in .env}" in env["DATABASE_URL"] and "${REDIS_PASSWORD:?" in env["REDIS_URL"]
    assert services["gateway"]["environment"]["NAUTILUS_ADMIN_API_KEY"] == "${NAUTILUS_ADMIN_API_KEY:?set in .env}"
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert required <= set(example), f".env.example lacks {required - set(example)}"
    assert "postgres:postgres" not in text and "GF_AUTH_ANONYMOUS_ENABLED: 'true'" not in text
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked.strip() == "", ".env must not be committed"


def test_dockerfile_when_read_then_multi_stage_non_root_without_build_tools_in_final_image():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) >= 2
    final = stages[-1]
    assert "build-essential" not in final and "apt-get install" not in final
    assert re.search(r"^USER nautilus", final, flags=re.M) and "useradd" in final
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim", text, flags=re.M)


@pytest.mark.parametrize(("mode", "name"), [("docker", "prometheus.yml"), ("m4max", "prometheus.m4max.yml")])
def test_prometheus_config_when_compared_then_is_the_generators_output(mode, name, tmp_path):
    from backend.core.settings import Settings

    out = tmp_path / name
    prom_config.write(Settings(), out, mode, "5s")
    assert (ROOT / "deploy/prometheus" / name).read_text() == out.read_text()
    cfg = yaml.safe_load(out.read_text())
    targets = {t for job in cfg["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {f"{e}:{p}" for e, p in ENGINE_PORTS.items()} <= targets


@PROMTOOL
def test_prometheus_files_when_checked_by_promtool_then_valid_and_rule_tests_pass(tmp_path):
    from backend.core.settings import Settings

    local = tmp_path / "local.yml"
    prom_config.write(Settings(), local, "local", "1s")
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"],
                 ["check", "config", "deploy/prometheus/prometheus.m4max.yml"],
                 ["check", "config", str(local)],
                 ["check", "rules", "deploy/prometheus/alerts.yml"],
                 ["test", "rules", "deploy/prometheus/tests/alerts_test.yml"]):
        done = subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def _declared() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, metrics.Family):
            names.add(value.name + ("_total" if value.type == "counter" else ""))
        elif hasattr(value, "_name") and hasattr(value, "_type"):
            base = value._name
            names |= {base + "_total"} if value._type == "counter" else {base}
            if value._type == "histogram":
                names |= {base + "_bucket", base + "_count", base + "_sum"}
    return names


def _names(expr: str) -> set[str]:
    return set(re.findall(r"\bnautilus_[a-z0-9_]+", expr))


def _dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")}


def test_rules_and_panels_when_parsed_then_name_only_declared_metrics():
    declared = _declared()
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    used = {n for g in rules for r in g["rules"] for n in _names(r["expr"])}
    for dash in _dashboards().values():
        used |= {n for p in dash["panels"] for t in p["targets"] for n in _names(t["expr"])}
    assert used - declared == set()
    for needed in ("nautilus_trading_orders_total", "nautilus_native_calls_total", "nautilus_gateway_circuit_state",
                   "nautilus_trading_outbox_lag_seconds", "nautilus_process_restarts_total",
                   "nautilus_risk_account_var", "nautilus_native_device_memory_bytes"):
        assert needed in used


def test_dashboards_when_compared_then_are_the_builders_output_linked_and_typed():
    sys.path.insert(0, str(ROOT / "deploy/grafana"))
    try:
        import build
    finally:
        sys.path.pop(0)
    files = _dashboards()
    assert {k: json.dumps(v, indent=2) + "\n" for k, v in files.items()} == build.render()
    uids = {d["uid"] for d in files.values()}
    assert uids == {"nautilus-platform", "nautilus-trading", "nautilus-risk", "nautilus-native"}
    provisioning = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert provisioning["datasources"][0]["uid"] == "prometheus"
    for dash in files.values():
        for p in dash["panels"]:
            assert p["datasource"]["uid"] == "prometheus" and p["fieldConfig"]["defaults"]["unit"]
            for link in p["fieldConfig"]["defaults"]["links"]:
                assert link["url"].split("?")[0].removeprefix("/d/") in uids
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    for r in (r for g in rules for r in g["rules"]):
        if "dashboard" in r["annotations"]:
            assert r["annotations"]["dashboard"].removeprefix("/d/") in uids


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_dashboards_when_type_checked_against_grafana_schema_then_no_error():
    tsc = SCHEMA_CHECK / "node_modules/.bin/tsc"
    if not tsc.exists():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SCHEMA_CHECK, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    gen = SCHEMA_CHECK / ".generated"
    shutil.rmtree(gen, ignore_errors=True)
    gen.mkdir()
    template = (SCHEMA_CHECK / "dashboard.ts.in").read_text()
    for name, dash in _dashboards().items():
        (gen / f"{Path(name).stem}.ts").write_text(template.replace("__DASHBOARD__", json.dumps(dash)))
    bad = dict(next(iter(_dashboards().values())))
    bad["panels"] = [{**bad["panels"][0], "gridPos": {"h": 4, "w": 4, "x": 0, "y": 0, "width": 3}}]
    (gen / "zz_must_fail.ts").write_text(template.replace("__DASHBOARD__", json.dumps(bad)))
    done = subprocess.run([str(tsc), "-p", str(SCHEMA_CHECK)], capture_output=True, text=True, timeout=120)
    errors = done.stdout + done.stderr
    assert done.returncode != 0 and "zz_must_fail.ts" in errors and "'\"width\"' does not exist" in errors
    others = [line for line in errors.splitlines() if line.strip() and "zz_must_fail.ts" not in line]
    assert others == [], "\n".join(others)
