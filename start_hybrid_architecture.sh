#!/usr/bin/env bash
# Start the whole platform: environment, PostgreSQL/Redis (local or embedded),
# migrations, the dashboard's build, every engine, the gateway and the dashboard under a supervisor;
# waits until all are healthy.
#   ./start_hybrid_architecture.sh                    start (or report, if already running)
#   ./start_hybrid_architecture.sh --status           print the table of processes and access points
#   ./start_hybrid_architecture.sh --rotate-admin-key revoke the admin key and print a new one (once)
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in
    --status) exec .venv/bin/python -m backend.launcher status ;;
    --rotate-admin-key) bash scripts/bootstrap.sh && exec .venv/bin/python -m backend.launcher rotate-admin-key ;;
esac
bash scripts/bootstrap.sh
# the dashboard (frontend/dist), rebuilt only when its sources changed; without Node or the npm registry the
# platform still starts and the dashboard's /health says it is not built
bash scripts/build_frontend.sh || echo "warning: the dashboard could not be built; the API works without it" >&2
exec .venv/bin/python -m backend.launcher start
