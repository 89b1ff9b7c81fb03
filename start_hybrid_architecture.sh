#!/usr/bin/env bash
# Start the whole platform: environment, PostgreSQL/Redis (local or embedded),
# migrations, every engine and the gateway; waits until all are healthy.
#   ./start_hybrid_architecture.sh            start (or report, if already running)
#   ./start_hybrid_architecture.sh --status   print the table of processes and access points
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--status" ]; then
    exec .venv/bin/python -m backend.launcher status
fi
bash scripts/bootstrap.sh
exec .venv/bin/python -m backend.launcher start
