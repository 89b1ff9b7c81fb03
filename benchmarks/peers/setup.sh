#!/usr/bin/env bash
# Virtual environments for benchmark peers whose pins clash with the platform's own (.venv has pandas 3;
# NautilusTrader needs pandas < 3). Idempotent: an environment that already imports its peer is kept.
#   bash benchmarks/peers/setup.sh [nautilus]      # default: every peer below
# Location: $NAUTILUS_PEER_VENVS (default /work/venvs). Exit status non-zero when a peer cannot be installed;
# the benchmark that calls this records the peer as missing with the pip output's last lines as the reason.
set -euo pipefail

VENVS="${NAUTILUS_PEER_VENVS:-/work/venvs}"
PYTHON="${PEER_PYTHON:-python3.11}"
NAUTILUS_TRADER_VERSION="1.221.0"

setup_nautilus() {
    local venv="$VENVS/nautilus"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import nautilus_trader" 2>/dev/null; then
        echo "nautilus: ready in $venv"
        return 0
    fi
    mkdir -p "$VENVS"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "nautilus_trader==$NAUTILUS_TRADER_VERSION" "pandas<3"
    "$venv/bin/python" -c "import nautilus_trader; print('nautilus: installed', nautilus_trader.__version__)"
}

for peer in "${@:-nautilus}"; do
    case "$peer" in
        nautilus) setup_nautilus ;;
        *) echo "unknown peer: $peer" >&2; exit 2 ;;
    esac
done
