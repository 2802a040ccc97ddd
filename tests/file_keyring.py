"""A keyring backend in a JSON file, for subprocess tests that must keep a secret between
commands (`mailconsole login`, then `check`). Selected with
PYTHON_KEYRING_BACKEND=file_keyring.Keyring (tests/ on the PYTHONPATH); the file is
$MAILCONSOLE_TEST_KEYRING. Never used outside the tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
from keyring.compat import properties


def _path() -> Path:
    return Path(os.environ["MAILCONSOLE_TEST_KEYRING"])


def _load() -> dict[str, str]:
    path = _path()
    return json.loads(path.read_text()) if path.exists() else {}


class Keyring(keyring.backend.KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        return -10

    def get_password(self, service: str, username: str) -> str | None:
        return _load().get(f"{service}\t{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = _load()
        entries[f"{service}\t{username}"] = password
        _path().write_text(json.dumps(entries))

    def delete_password(self, service: str, username: str) -> None:
        entries = _load()
        entries.pop(f"{service}\t{username}", None)
        _path().write_text(json.dumps(entries))
