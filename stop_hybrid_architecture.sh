#!/usr/bin/env bash
# Stop every platform process gracefully (SIGKILL after a timeout), stop embedded
# servers, remove pid files, sockets and shared memory. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    echo "nothing to stop (no .venv)"; exit 0
fi
exec .venv/bin/python -m backend.launcher stop
