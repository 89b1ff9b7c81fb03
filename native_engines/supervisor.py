"""Supervise only the native engine processes, e.g. on a GPU host beside Docker mode.

``python -m native_engines.supervisor`` is the platform supervisor
(``backend.launcher.supervisor``) limited to the ``native`` group: one process per native
engine, restarted with back-off, pid files and ``supervisor.json`` in the run directory.
"""

from __future__ import annotations

import os

from backend.launcher.supervisor import main

if __name__ == "__main__":
    os.environ["NAUTILUS_SUPERVISE"] = "native"
    main()
