"""Shared fixtures: a test CA, real Dovecot and aiosmtpd servers on 127.0.0.1, and keyrings.

No test may read or write the developer's real keyring: every test starts with the `fail`
backend (as on a headless box) and opts in to `memory_keyring` where it needs one.
"""

from __future__ import annotations

import asyncio
import gc
import os
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import keyring.backend
import keyring.backends.fail
import keyring.core
import keyring.errors
import pytest
import trustme
from keyring.compat import properties
from servers import TlsFiles, under_ci, write_server_tls
from servers_dovecot import DOVECOT, DovecotServer, start_dovecot
from servers_postfix import POSTFIX, PostfixServer, start_postfix
from servers_smtp import SmtpServers, start_smtpd

from console.lab import Lab

# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """The session's private CA; every test server's certificate comes from it."""
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_files(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return write_server_tls(tls_ca, tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def ca_file(tls_files: TlsFiles) -> Path:
    """PEM file of the test CA, for ServerSettings.tls_ca_file."""
    return tls_files.ca_file


@pytest.fixture
def client_tls_context(ca_file: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only the test CA."""
    return ssl.create_default_context(cafile=str(ca_file))


# --- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_binary() -> Path:
    """/usr/sbin/dovecot; skips the test where it is missing, except under CI, where that fails."""
    if not DOVECOT.exists():
        reason = f"{DOVECOT} is missing: install the Debian package dovecot-imapd"
        if under_ci():
            pytest.fail(f"{reason} (CI must run the Dovecot tests)")
        pytest.skip(reason)
    return DOVECOT


@pytest.fixture(scope="session")
def dovecot(dovecot_binary: Path, tls_files: TlsFiles) -> Iterator[DovecotServer]:
    """A private Dovecot on 127.0.0.1 (implicit TLS + STARTTLS ports), users from servers.py."""
    server = start_dovecot(tls_files)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postfix_binary() -> Path:
    """/usr/sbin/postfix as root; skips where either is missing, except under CI (fails there)."""
    reason = ""
    if not POSTFIX.exists():
        reason = f"{POSTFIX} is missing: install the Debian package postfix"
    elif os.geteuid() != 0:
        reason = "the Postfix test server runs as root"
    if reason:
        if under_ci():
            pytest.fail(f"{reason} (CI must run the Postfix tests)")
        pytest.skip(reason)
    return POSTFIX


@pytest.fixture(scope="session")
def postfix(
    postfix_binary: Path, tls_files: TlsFiles, tls_ca: trustme.CA, dovecot: DovecotServer
) -> Iterator[PostfixServer]:
    """A private Postfix on 127.0.0.1 (listeners in servers_postfix.py), SASL through `dovecot`.

    Accepted mail is discarded; for another next hop (e.g. Dovecot LMTP) call
    `start_postfix(tls_files, tls_ca, dovecot, next_hop="lmtp:inet:127.0.0.1:PORT")` in a fixture
    of your own and `stop()` it.
    """
    server = start_postfix(tls_files, tls_ca, dovecot)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtpd(tls_files: TlsFiles) -> Iterator[SmtpServers]:
    """aiosmtpd on 127.0.0.1: implicit TLS, STARTTLS-required, and plain without STARTTLS."""
    servers = start_smtpd(tls_files)
    try:
        yield servers
    finally:
        servers.stop()


# --- keyring ----------------------------------------------------------------------------------


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend in a dict. Negative priority: keyring never picks it by itself."""

    @properties.classproperty
    def priority(cls) -> float:
        return -10

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("No such password") from None


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> keyring.backends.fail.Keyring:
    """The backend of a headless box (every call raises NoKeyringError); on for every test.

    The environment variable keeps subprocesses (the CLI) away from the real keyring too.
    """
    backend = keyring.backends.fail.Keyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return backend


@pytest.fixture
def memory_keyring(
    no_keyring: keyring.backends.fail.Keyring, monkeypatch: pytest.MonkeyPatch
) -> MemoryKeyring:
    """An empty in-memory keyring selected for this test; `.store` holds what was saved."""
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    return backend


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The console remembers its theme here, never in the user's real state folder."""
    folder = tmp_path / "state"
    monkeypatch.setenv("MAILCONSOLE_STATE_DIR", str(folder))
    monkeypatch.setenv("MAILCONSOLE_KEYMAP", str(tmp_path / "no-keymap.toml"))  # nor its keys
    return folder


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    """Scripted servers on 127.0.0.1 (console.lab) with their own CA, stopped after the test."""
    async with Lab() as lab:
        yield lab


@pytest.fixture
async def no_leftovers() -> AsyncIterator[None]:
    """Every probe closes its sockets and tasks before it returns (servers stop first)."""
    threads = set(threading.enumerate())
    yield
    gc.collect()  # an unclosed socket or transport now raises ResourceWarning (-> error)
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()
    assert set(threading.enumerate()) - threads <= {
        t for t in threading.enumerate() if t.name.startswith("asyncio_")
    }


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """With MAILCONSOLE_TEST_GC=1, collect garbage after every test: a leaked socket or
    transport then raises its ResourceWarning in the test that leaked it, not in whichever test
    happens to run when the collector next runs (how a leak once failed an unrelated test)."""
    yield
    if os.environ.get("MAILCONSOLE_TEST_GC") == "1":
        gc.collect()
