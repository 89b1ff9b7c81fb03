#!/usr/bin/env bash
# Apple Silicon beside Docker mode (docker-compose.m4max.yml): the native engines (torch on Metal)
# and the gateway on the host, under the platform's supervisor; everything else in containers.
# Reads .env for the credentials; run from the repository after `docker compose -f docker-compose.yml
# -f docker-compose.m4max.yml up -d`. Stop with Ctrl-C (the supervisor stops both, gateway first).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .env ] || { echo "no .env: cp .env.example .env and fill it in" >&2; exit 2; }
set -a; . ./.env; set +a
bash scripts/bootstrap.sh
ENGINES='{"analytics": ["http://127.0.0.1:8100"], "risk": ["http://127.0.0.1:8200"], "factor": ["http://127.0.0.1:8300"], "ml": ["http://127.0.0.1:8400"], "features": ["http://127.0.0.1:8500"], "websocket": ["http://127.0.0.1:8600"], "strategy": ["http://127.0.0.1:8700"], "marketdata": ["http://127.0.0.1:8800"], "portfolio": ["http://127.0.0.1:8900"]}'
export DATABASE_URL="postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@127.0.0.1:${POSTGRES_HOST_PORT:-5432}/${POSTGRES_DB:-nautilus}"
export REDIS_URL="redis://:${REDIS_PASSWORD}@127.0.0.1:${REDIS_HOST_PORT:-6379}/0"
export NAUTILUS_ENGINE_URLS="$ENGINES" NAUTILUS_DEVICE="${NAUTILUS_DEVICE:-mps}"
export NAUTILUS_INSTANCE_ID="${NAUTILUS_INSTANCE_ID:-docker}"
# Prometheus in the VM reaches the gateway through Docker Desktop's host address
export NAUTILUS_METRICS_ALLOW="${NAUTILUS_METRICS_ALLOW:-[\"127.0.0.0/8\", \"::1/128\", \"192.168.65.0/24\"]}"
export NAUTILUS_HOST="${NAUTILUS_HOST:-127.0.0.1}"
export NAUTILUS_SUPERVISE=native,gateway
exec .venv/bin/python -m backend.launcher.supervisor
