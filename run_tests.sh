#!/usr/bin/env bash
# Run the full test suite, doing all set-up first (venv, dependencies).
# PostgreSQL and Redis: local servers on 5432/6379 when they answer, else embedded ones.
# Extra arguments go to pytest, e.g. ./run_tests.sh tests/unit -x
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh --test
# Prometheus' promtool and server for the monitoring tests: Debian's package when missing and installable
# (root with apt); elsewhere those tests skip and say why.
if { ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
        >/dev/null || echo "note: could not install prometheus; the monitoring tests that need it will skip"
fi
# Debian's Chromium for the dashboard's end-to-end tests (tests/e2e, driven by playwright-core; Playwright's own
# browser download cannot work here): installed as root with apt when missing; elsewhere those tests skip, saying why
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
        >/dev/null; } || echo "note: could not install chromium; the dashboard's end-to-end tests will skip"
fi
exec .venv/bin/python -m pytest "$@"
