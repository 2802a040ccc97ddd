"""A keyring backend that fails the way a corrupt store does: an unexpected ValueError.

Selected in a subprocess with PYTHON_KEYRING_BACKEND=broken_keyring.Keyring (tests/ on the
PYTHONPATH); only usernames starting with "broken" fail, the others get PASSWORD.
"""

from __future__ import annotations

import keyring.backend
from keyring.compat import properties

PASSWORD = "Kr-sentinel-PW-9"


class Keyring(keyring.backend.KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        return -10

    def get_password(self, service: str, username: str) -> str | None:
        if username.startswith("broken"):
            raise ValueError(f"corrupt keyring entry for {username}: bad padding")
        return PASSWORD

    def set_password(self, service: str, username: str, password: str) -> None:
        raise NotImplementedError

    def delete_password(self, service: str, username: str) -> None:
        raise NotImplementedError
