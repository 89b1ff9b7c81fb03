"""Factories for risk tests: seeded return panels and request payloads."""

from __future__ import annotations

import numpy as np


def covariance(n: int, seed: int = 0, scale: float = 1e-4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return (A @ A.T / n + np.eye(n)) * scale


def symbols(n: int) -> list[str]:
    return [f"S{i}" for i in range(n)]


def positions(values) -> list[dict]:  # noqa: ANN001
    return [{"symbol": f"S{i}", "value": float(v)} for i, v in enumerate(values)]


def gaussian_market(n: int, seed: int = 0, mean: float = 2e-4) -> tuple[dict, np.ndarray, np.ndarray]:
    C = covariance(n, seed)
    mu = np.full(n, mean)
    return {"symbols": symbols(n), "covariance": C.tolist(), "mean": mu.tolist()}, mu, C


def returns_market(T: int, n: int, seed: int = 0, dist: str = "normal") -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(covariance(n, seed))
    z = rng.normal(size=(T, n)) if dist == "normal" else rng.standard_t(4, size=(T, n)) / np.sqrt(2.0)
    R = 1e-4 + z @ L.T
    return {"symbols": symbols(n), "returns": R.tolist()}, R
