"""The lab's own certificate authority: good, wrong-host, expired and untrusted server certificates.

Clients trust the lab by pointing `tls_ca_file` at `LabCA.ca_file`; every other certificate kind
fails verification with a known OpenSSL verify code (see `CertKind`).
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
import weakref
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

import trustme

LAB_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
"""The identities of a good lab certificate: clients connect to one of these."""


HOSTILE_SUBJECT = "Evil \x1b]52;c;Y2VydA==\x1b\\ Org \x1b]0;cert-title\x1b\\ \x9b2J"
"""The subject of a `HOSTILE_SUBJECT` certificate: OSC 52, OSC 0 and a C1 CSI."""


class CertKind(StrEnum):
    """Which certificate a lab server presents, and the verify code a verifying client gets."""

    GOOD = "good"  # localhost + 127.0.0.1, signed by the lab CA: verifies
    WRONG_HOST = "wrong_host"  # only "wrong.example": 62 (by name) / 64 (by IP)
    EXPIRED = "expired"  # not_after in the past: 10
    NOT_YET_VALID = "not_yet_valid"  # not_before in the future: 9
    UNKNOWN_CA = "unknown_ca"  # signed by a CA nobody trusts: 20
    SELF_SIGNED = "self_signed"  # a self-signed certificate: 18
    HOSTILE_SUBJECT = "hostile_subject"  # verifies, but its subject carries terminal escapes


VERIFY_CODES: dict[CertKind, tuple[int, ...]] = {
    CertKind.WRONG_HOST: (62, 64),
    CertKind.EXPIRED: (10,),
    CertKind.NOT_YET_VALID: (9,),
    CertKind.UNKNOWN_CA: (20,),
    CertKind.SELF_SIGNED: (18,),
}
"""`ssl.SSLCertVerificationError.verify_code` a client trusting the lab CA sees per kind."""


class LabCA:
    """A trustme CA plus cached server `SSLContext`s, one per `CertKind`.

    `ca_file` is written lazily; without `directory` it goes to a private temp directory that
    `close()` (or interpreter exit) removes.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._ca = trustme.CA(organization_name="mailconsole lab")
        self._directory = Path(directory) if directory is not None else None
        self._tempdir: Path | None = None
        self._finalizer: weakref.finalize[..., LabCA] | None = None
        self._ca_file: Path | None = None
        self._contexts: dict[CertKind, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    _default: ClassVar[LabCA | None] = None

    @classmethod
    def default(cls) -> LabCA:
        """A process-wide CA, for servers started without one (its files go at exit)."""
        if cls._default is None:
            cls._default = cls()
        return cls._default

    @property
    def ca_pem(self) -> bytes:
        return self._ca.cert_pem.bytes()

    @property
    def ca_file(self) -> Path:
        """Path of the CA certificate (PEM): what a client puts in `tls_ca_file`."""
        if self._ca_file is None:
            self._ca_file = self.write_ca_file(self._dir() / "lab-ca.pem")
        return self._ca_file

    def write_ca_file(self, path: str | Path) -> Path:
        """Write the CA certificate to `path` (for a config file the lab does not own)."""
        target = Path(path)
        self._ca.cert_pem.write_to_path(target)
        return target

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA (what tests connect with)."""
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))

    def server_context(self, kind: CertKind | str = CertKind.GOOD) -> ssl.SSLContext:
        """The server context presenting a certificate of `kind`; built once, then cached."""
        kind = CertKind(kind)
        ctx = self._contexts.get(kind)
        if ctx is None:
            with self._lock:
                ctx = self._contexts.get(kind)
                if ctx is None:
                    ctx = self._build(kind)
                    self._contexts[kind] = ctx
        return ctx

    def close(self) -> None:
        """Remove the temp directory holding `ca_file` (if the CA created one)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._tempdir = None
        self._ca_file = None

    def __enter__(self) -> LabCA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dir(self) -> Path:
        if self._directory is not None:
            return self._directory
        if self._tempdir is None:
            self._tempdir = Path(tempfile.mkdtemp(prefix="mailconsole-lab-"))
            self._finalizer = weakref.finalize(
                self, shutil.rmtree, str(self._tempdir), ignore_errors=True
            )
        return self._tempdir

    def _build(self, kind: CertKind) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        now = datetime.now(UTC)
        if kind is CertKind.SELF_SIGNED:
            lone = trustme.CA(organization_name="mailconsole lab self-signed")
            with lone.cert_pem.tempfile() as cert, lone.private_key_pem.tempfile() as key:
                ctx.load_cert_chain(cert, key)
            return ctx
        if kind is CertKind.GOOD:
            leaf = self._ca.issue_cert(*LAB_HOSTS)
        elif kind is CertKind.WRONG_HOST:
            leaf = self._ca.issue_cert("wrong.example")
        elif kind is CertKind.EXPIRED:
            leaf = self._ca.issue_cert(
                *LAB_HOSTS, not_before=now - timedelta(days=60), not_after=now - timedelta(days=1)
            )
        elif kind is CertKind.NOT_YET_VALID:
            leaf = self._ca.issue_cert(
                *LAB_HOSTS, not_before=now + timedelta(days=1), not_after=now + timedelta(days=60)
            )
        elif kind is CertKind.HOSTILE_SUBJECT:
            leaf = self._ca.issue_cert(
                *LAB_HOSTS, organization_name=HOSTILE_SUBJECT, common_name=HOSTILE_SUBJECT
            )
        else:  # UNKNOWN_CA
            leaf = trustme.CA(organization_name="mailconsole lab stranger").issue_cert(*LAB_HOSTS)
        leaf.configure_cert(ctx)
        return ctx
