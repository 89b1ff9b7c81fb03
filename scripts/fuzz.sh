#!/usr/bin/env bash
# The long fuzzing run of the public API (scripts/fuzz.py --help); results in benchmarks/results/fuzz.*
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
exec .venv/bin/python scripts/fuzz.py "$@"
