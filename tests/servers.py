"""What the loopback test servers share: their users, TLS files and port helpers.

Dovecot and aiosmtpd accept the same users, so one account's SMTP and IMAP logins can both be
checked against real servers (test-servers.md has the verified details).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import trustme

HOST = "127.0.0.1"
"""Every test server listens here only."""


@dataclass(frozen=True)
class User:
    name: str
    password: str


ALICE = User("alice", "Secret123")
"""Has a few messages in INBOX."""
BOB = User("bob@example.test", "p\"a s\\s'wörd€ ünï")
"""A password with a double quote, a backslash, spaces and non-ASCII: the quoting test."""
CAROL = User("carol", "Quota-9-full")
"""Her INBOX uses more than 90% of her quota."""
USERS: dict[str, str] = {user.name: user.password for user in (ALICE, BOB, CAROL)}


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate for localhost/127.0.0.1 issued by the session's test CA."""

    ca_file: Path
    cert_file: Path  # leaf + chain, PEM
    key_file: Path


def write_server_tls(ca: trustme.CA, directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1")
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_file))
    files.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files.key_file))
    files.key_file.chmod(0o600)
    return files


def make_workdir(prefix: str) -> Path:
    """A fresh directory that unprivileged server processes can traverse.

    Not pytest's tmp_path: its parents are mode 0700, which Dovecot's auth process (running as
    user `dovecot`) cannot enter.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def free_port() -> int:
    """A port on HOST that was free a moment ago (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_ports(
    ports: Iterable[int], *, alive: Callable[[], bool], timeout: float = 10.0
) -> bool:
    """True once every port accepts a TCP connection; False if `alive()` turns False first.

    A listening socket gives no event to await, so this polls (every 10 ms).
    """
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if not alive():
            return False
        try:
            with socket.create_connection((HOST, pending[0]), timeout=1.0):
                pass
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"port {pending[0]} on {HOST} did not open") from None
            time.sleep(0.01)
        else:
            pending.pop(0)
    return True


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
