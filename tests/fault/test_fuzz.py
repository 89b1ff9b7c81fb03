"""The public API under schemathesis, with a key, as in issue 9: 0 server errors, 0 responses that
break their documented status code, content type, headers or schema, and auth enforced everywhere.
Bounded in CI (3 examples per operation, no stateful phase); the long run is ``scripts/fuzz.sh``,
whose last results are committed in benchmarks/results/fuzz.md."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.procs import REPO

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def test_api_when_fuzzed_with_a_key_then_no_server_error_and_every_response_as_documented():
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAUTILUS_") and k not in
           ("DATABASE_URL", "REDIS_URL")}
    examples = "20" if os.environ.get("NAUTILUS_SLOW") == "1" else "3"
    done = subprocess.run([sys.executable, "scripts/fuzz.py", "--examples", examples, "--no-write",
                           "--phases", "examples,coverage,fuzzing"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=580)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert '"failure_count": 0' in done.stdout
