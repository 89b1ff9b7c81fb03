"""The strategies directory: one strategy per Python file, found by name, versioned by content hash.

As freqtrade's ``user_data/strategies``: the directory is ``NAUTILUS_STRATEGY_DIR`` (default: the
repository's ``strategies/``). A file ``<name>.py`` defines exactly one ``Strategy`` subclass; its
name is the file's stem (lower case, digits, underscores) and its version the first 16 hex digits of
the SHA-256 of the file's bytes, so any edit is a new version and the same bytes are the same version
on every machine. Code is never accepted over HTTP: the API lists, describes and validates what is
in the directory. A file that fails to import is listed with its error instead of breaking the list.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.errors import InvalidInput, NotFound
from engines.strategy.api import SignalStrategy, Strategy

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
REPO = Path(__file__).resolve().parents[2]
#: Largest strategy file read (bytes): a strategy is code, not data.
MAX_FILE_BYTES = 256 * 1024


def strategy_dir() -> Path:
    return Path(os.environ.get("NAUTILUS_STRATEGY_DIR") or REPO / "strategies")


@dataclass(frozen=True)
class LoadedStrategy:
    name: str
    version: str
    path: Path
    cls: type[Strategy]

    def describe(self) -> dict[str, Any]:
        own = self.cls.__dict__.get("__doc__") or getattr(sys.modules.get(self.cls.__module__), "__doc__", None)
        doc = inspect.cleandoc(own or "")
        return {"name": self.name, "version": self.version, "class_name": self.cls.__name__,
                "description": self.cls.description or doc.split("\n\n")[0], "doc": doc,
                "vectorised": self.cls.vectorised,
                "kind": "signal" if issubclass(self.cls, SignalStrategy) else "event",
                "params": {k: p.describe() for k, p in self.cls.params_spec.items()}}


_CACHE: dict[tuple[str, str], LoadedStrategy] = {}


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _path(name: str, field: str = "strategy") -> Path:
    if not NAME_RE.match(name):
        raise InvalidInput("a strategy name is lower case letters, digits and underscores", field=field)
    p = strategy_dir() / f"{name}.py"
    if not p.is_file():
        raise NotFound(f"no strategy {name!r} in {strategy_dir()}", field=field)
    return p


def load(name: str, version: str | None = None, field: str = "strategy") -> LoadedStrategy:
    """The strategy ``name`` as its file is now; with ``version``, refuse any other content (409-free: 422)."""
    path = _path(name, field)
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"{path.name} is larger than {MAX_FILE_BYTES} bytes", field=field)
    ver = version_of(data)
    if version is not None and version != ver:
        raise InvalidInput(f"strategy {name!r} is at version {ver}, not {version}", field="version")
    hit = _CACHE.get((name, ver))
    if hit is not None:
        return hit
    module_name = f"nautilus_strategies.{name}_{ver}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[module_name] = module  # dataclasses and pickling by reference need it registered
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as e:  # a user's file: report what broke, as a bad request naming it
        sys.modules.pop(module_name, None)
        where = next((f" (line {tb.lineno})" for tb in reversed(traceback.extract_tb(e.__traceback__))
                      if tb.filename == str(path)), "")
        raise InvalidInput(f"strategy {name!r} does not load{where}: {e}", field=field) from e
    found = [v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, Strategy)
             and v.__module__ == module_name]
    if len(found) != 1:
        raise InvalidInput(f"{path.name} must define exactly one Strategy subclass, found {len(found)}", field=field)
    loaded = LoadedStrategy(name, ver, path, found[0])
    _CACHE[(name, ver)] = loaded
    return loaded


def load_source(name: str, version: str, source: str) -> LoadedStrategy:
    """A stored version of a strategy (``strategy_versions``), loaded from its source text; its content hash
    must be its version."""
    data = source.encode()
    if version_of(data) != version:
        raise InvalidInput(f"the stored source of {name!r} does not hash to {version}", field="version")
    hit = _CACHE.get((name, version))
    if hit is not None:
        return hit
    module_name = f"nautilus_strategies.{name}_{version}"
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(module_name, loader=None))
    sys.modules[module_name] = module
    try:
        exec(compile(data, f"<{name}@{version}>", "exec"), module.__dict__)  # a stored strategy file
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise InvalidInput(f"stored strategy {name!r}@{version} does not load: {e}", field="version") from e
    found = [v for v in vars(module).values() if inspect.isclass(v) and issubclass(v, Strategy)
             and v.__module__ == module_name]
    if len(found) != 1:
        raise InvalidInput(f"stored {name}@{version} must define exactly one Strategy subclass", field="version")
    loaded = LoadedStrategy(name, version, strategy_dir() / f"{name}.py", found[0])
    _CACHE[(name, version)] = loaded
    return loaded


def source_of(s: LoadedStrategy) -> str | None:
    """The file text of a loaded version, if the file still holds that version."""
    try:
        data = s.path.read_bytes()
    except OSError:
        return None
    return data.decode() if version_of(data) == s.version else None


def names() -> list[str]:
    d = strategy_dir()
    return sorted(p.stem for p in d.glob("*.py") if NAME_RE.match(p.stem)) if d.is_dir() else []


def catalog() -> list[dict[str, Any]]:
    """Every strategy of the directory, described; a broken file is listed with its error."""
    out = []
    for n in names():
        try:
            out.append(load(n).describe())
        except InvalidInput as e:
            data = (strategy_dir() / f"{n}.py").read_bytes()
            out.append({"name": n, "version": version_of(data), "error": e.detail})
    return out
