"""What the console remembers between runs (the theme): a tiny TOML file in the user state dir.

Never the account file: that one is the user's, and UI whims do not belong in it.
`MAILCONSOLE_STATE_DIR` moves the file (tests, portable installs).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs
import tomli_w

STATE_FILE = "ui.toml"


def state_dir() -> Path:
    override = os.environ.get("MAILCONSOLE_STATE_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_state_dir("mailconsole"))


@dataclass(frozen=True)
class Prefs:
    theme: str | None = None

    def with_theme(self, theme: str) -> Prefs:
        return replace(self, theme=theme)


def load_prefs(folder: Path | None = None) -> Prefs:
    """A missing or unreadable file means defaults: preferences are never worth a crash."""
    path = (folder or state_dir()) / STATE_FILE
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return Prefs()
    theme = data.get("theme")
    return Prefs(theme=theme if isinstance(theme, str) else None)


def save_prefs(prefs: Prefs, folder: Path | None = None) -> None:
    """Atomic write; failures are swallowed (a read-only home must not break the console)."""
    folder = folder or state_dir()
    data = {"theme": prefs.theme} if prefs.theme else {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ui-", suffix=".toml")
        try:
            with os.fdopen(fd, "wb") as fh:
                tomli_w.dump(data, fh)
            os.replace(tmp, folder / STATE_FILE)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        return
