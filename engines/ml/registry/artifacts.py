"""Model artifacts: files under ``<run_dir>/models/<name>/``, written atomically, named by the training
job, and read back only when their sha256 equals the registry's. Formats are data, never code: JSON for
the parameters of arch, HAR-RV and EWMA models (nothing is unpickled, ever).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from backend.core.errors import Conflict

FORMAT_VOLATILITY = "nautilus-ml/volatility-1"


def models_dir(run_dir: Path | str) -> Path:
    return Path(run_dir) / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, payload: dict[str, Any]) -> str:
    """Write ``payload`` to ``path`` atomically (temp file + rename); returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    data = json.dumps(payload, allow_nan=False).encode()  # key order kept: arch parameters are positional
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def read_verified(path: str | Path, expected_sha256: str, what: str) -> bytes:
    """The artifact's bytes; a missing file or a hash that differs from the registry's is a 409."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise Conflict(f"the artifact of {what} is missing from disk ({path}); retrain or delete the version",
                       field="name") from None
    got = hashlib.sha256(data).hexdigest()
    if got != expected_sha256:
        raise Conflict(f"the artifact of {what} does not match its registered sha256 (corrupted or replaced): "
                       f"expected {expected_sha256[:12]}…, found {got[:12]}…", field="name",
                       expected_sha256=expected_sha256, found_sha256=got)
    return data


def remove(path: str | Path) -> bool:
    try:
        Path(path).unlink()
        return True
    except FileNotFoundError:
        return False
