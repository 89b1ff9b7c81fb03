"""The dashboard's typed API client, generated from the gateway's OpenAPI.

    python scripts/api_client.py           write frontend/openapi.json and frontend/src/api/schema.d.ts
    python scripts/api_client.py --check   exit 1 naming each file that differs from a fresh generation

The OpenAPI document comes from the gateway app itself (no server started); the TypeScript types
come from it through ``openapi-typescript`` (the dashboard's pinned dev dependency), which
``openapi-fetch`` uses to type every call. Run it after changing any route or model.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRONTEND = REPO / "frontend"
OPENAPI = FRONTEND / "openapi.json"
SCHEMA = FRONTEND / "src" / "api" / "schema.d.ts"


def openapi_text() -> str:
    """The gateway's OpenAPI document as stable, diff-friendly JSON."""
    sys.path.insert(0, str(REPO))
    from backend.core.settings import Settings
    from backend.gateway.app import make_gateway_app

    app = make_gateway_app(Settings(native_enabled=False, database_url=None, redis_url=None))
    return json.dumps(app.openapi(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def typescript_text(openapi_path: Path) -> str:
    """``openapi-typescript``'s output for ``openapi_path`` (Node from scripts/node_env.sh)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "schema.d.ts"
        cmd = (f'source "{REPO}/scripts/node_env.sh" && '
               f'cd "{FRONTEND}" && npx --no-install openapi-typescript "{openapi_path}" -o "{out}" '
               "--default-non-nullable false")  # a field with a default is optional in a request
        subprocess.run(["bash", "-c", cmd], check=True, env={**os.environ, "NO_COLOR": "1"})
        return out.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    spec = openapi_text()
    if not args.check:
        OPENAPI.write_text(spec)
        SCHEMA.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA.write_text(typescript_text(OPENAPI))
        print(f"wrote {OPENAPI.relative_to(REPO)} and {SCHEMA.relative_to(REPO)}")
        return 0
    stale = []
    if not OPENAPI.exists() or OPENAPI.read_text() != spec:
        stale.append(str(OPENAPI.relative_to(REPO)))
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "openapi.json"
        fresh.write_text(spec)
        if not SCHEMA.exists() or SCHEMA.read_text() != typescript_text(fresh):
            stale.append(str(SCHEMA.relative_to(REPO)))
    if stale:
        print("stale: " + ", ".join(stale) + " (run: python scripts/api_client.py)")
        return 1
    print("the dashboard's API client is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
