"""A small client of the platform's public API, in JSON or in the binary encoding.

    from nautilus_client import Client
    with Client("http://127.0.0.1:8001", api_key) as c:                 # binary (msgpack) by default
        out = c.call("risk", "simulate_monte_carlo_var", {"positions": [...], "market": {"symbols": [...],
                     "covariance": np.eye(500) * 1e-4}, "n_scenarios": 1_000_000})
        out["levels"][0]["var"]

Numpy arrays in the request travel as typed binary arrays (no text, no Python floats on either
side); arrays in the response come back as numpy arrays. ``binary=False`` speaks JSON instead (arrays
become lists). Errors raise ``ApiError`` carrying the problem-JSON (status, code, errors by field).
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson

from backend.contract import binary

__all__ = ["ApiError", "Client"]


class ApiError(Exception):
    """A problem-JSON answer: ``status``, ``code``, ``detail`` and ``errors`` ([{field, reason}])."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(f"{problem.get('status')} {problem.get('code')}: {problem.get('detail')}")
        self.problem = problem
        self.status = problem.get("status")
        self.code = problem.get("code")
        self.errors = problem.get("errors", [])


def _jsonable(tree: Any) -> Any:
    if isinstance(tree, np.ndarray):
        return tree.tolist()
    if isinstance(tree, dict):
        return {k: _jsonable(v) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_jsonable(v) for v in tree]
    return tree


class Client:
    def __init__(self, base_url: str, api_key: str, *, binary: bool = True, timeout_s: float = 120.0) -> None:
        self.binary = binary
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                 headers={"X-API-Key": api_key})
        self.last_backend: str | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def call(self, engine: str, operation: str, body: dict[str, Any]) -> Any:
        """POST /api/v1/<engine>/<operation>; the response tree (arrays as numpy in binary mode)."""
        if self.binary:
            r = self.http.post(f"/api/v1/{engine}/{operation}", content=binary.encode(body),
                               headers={"content-type": binary.MEDIA_TYPE, "accept": binary.MEDIA_TYPE})
        else:
            r = self.http.post(f"/api/v1/{engine}/{operation}", content=orjson.dumps(_jsonable(body)),
                               headers={"content-type": "application/json"})
        self.last_backend = r.headers.get("x-backend")
        if r.status_code >= 400:
            raise ApiError(r.json())
        if r.headers.get("content-type", "").startswith(binary.MEDIA_TYPE):
            return binary.decode(r.content)
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        if r.status_code >= 400:
            raise ApiError(r.json())
        return r.json()
