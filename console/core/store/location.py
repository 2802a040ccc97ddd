"""Where the results store lives: the user's state directory, unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

STORE_FILE = "results.sqlite3"
DEMO_STORE_FILE = "demo-results.sqlite3"
"""The demo keeps its own store, so its results never mix with real ones."""


def state_dir(override: Path | None = None) -> Path:
    """`override` (the --state-dir option), else `$MAILCONSOLE_STATE_DIR`, else platformdirs'."""
    if override is not None:
        return override
    env = os.environ.get("MAILCONSOLE_STATE_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_state_dir("mailconsole"))


def results_path(*, demo: bool = False, folder: Path | None = None) -> Path:
    return state_dir(folder) / (DEMO_STORE_FILE if demo else STORE_FILE)
