#!/usr/bin/env bash
# Run the full test suite, doing all set-up first (venv, dependencies).
# PostgreSQL and Redis: local servers on 5432/6379 when they answer, else embedded ones.
# Extra arguments go to pytest, e.g. ./run_tests.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh --test
exec .venv/bin/python -m pytest "$@"
