"""TLS client contexts and what a finished handshake tells us about the server's certificate.

Contexts verify against the system trust store (which honours `SSL_CERT_FILE`) plus an optional
per-server CA file; they are cached because building one per check costs tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CERT_WARNING_DAYS = 14
"""A certificate that expires within this many days earns a warning."""

_contexts: dict[tuple[str | None, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A verifying client context: system CAs plus `ca_file` when set (cached, thread-safe).

    The cache key includes the trust-store environment and the CA file's modification time, so
    a renewed CA file or a changed `SSL_CERT_FILE` is picked up without a restart.
    Raises OSError / ssl.SSLError when `ca_file` cannot be read or parsed.
    """
    key = (
        ca_file,
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("SSL_CERT_DIR"),
        _mtime(ca_file),
    )
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            context = ssl.create_default_context()
            if ca_file:
                context.load_verify_locations(cafile=ca_file)
            _contexts[key] = context
        return context


def _mtime(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return str(os.stat(path).st_mtime_ns)
    except OSError:
        return None  # loading will raise the real error


@dataclass(frozen=True)
class TlsInfo:
    """The negotiated TLS session and the server certificate, as facts for the result."""

    version: str
    cipher: str
    subject: str
    issuer: str
    not_after: str | None  # ISO 8601, UTC
    days_left: int | None

    def facts(self) -> dict[str, str | int]:
        facts: dict[str, str | int] = {
            "tls_version": self.version,
            "cipher": self.cipher,
            "cert_subject": self.subject,
            "cert_issuer": self.issuer,
        }
        if self.not_after is not None:
            facts["cert_not_after"] = self.not_after
        if self.days_left is not None:
            facts["cert_days_left"] = self.days_left
        return facts

    def describe(self) -> str:
        """One line for the step detail: version, cipher and certificate subject."""
        parts = [self.version, self.cipher]
        if self.subject:
            parts.append(f"certificate {self.subject}")
        if self.not_after:
            parts.append(f"valid until {self.not_after}")
        return ", ".join(p for p in parts if p)

    def warnings(self) -> tuple[str, ...]:
        if self.days_left is None or self.days_left > CERT_WARNING_DAYS:
            return ()
        if self.days_left < 0:
            return (f"The server's TLS certificate expired on {self.not_after}.",)
        return (
            f"The server's TLS certificate expires in {self.days_left} day(s) "
            f"({self.not_after}); mail clients will start refusing the connection then.",
        )


def tls_info(transport: asyncio.BaseTransport) -> TlsInfo:
    """Read the TLS facts of a connected TLS transport (empty strings where unknown)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return TlsInfo("", "", "", "", None, None)
    cipher = ssl_object.cipher()
    cert: Any = ssl_object.getpeercert()
    subject = _name(cert.get("subject", ())) if cert else ""
    alt = _alt_names(cert.get("subjectAltName", ())) if cert else ""
    if alt:
        subject = f"{subject} ({alt})" if subject else alt
    issuer = _name(cert.get("issuer", ())) if cert else ""
    not_after: str | None = None
    days_left: int | None = None
    if cert and cert.get("notAfter"):
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(cert["notAfter"]), tz=UTC)
        not_after = expires.isoformat().replace("+00:00", "Z")
        days_left = (expires - datetime.now(tz=UTC)).days
    return TlsInfo(
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        subject=subject,
        issuer=issuer,
        not_after=not_after,
        days_left=days_left,
    )


def _name(rdns: Any) -> str:
    """`((('commonName', 'x'),), ...)` -> `CN=x, O=y` (the common short names)."""
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
    }
    parts = []
    for rdn in rdns:
        for key, value in rdn:
            parts.append(f"{short.get(key, key)}={value}")
    return ", ".join(parts)


def _alt_names(entries: Any) -> str:
    return ", ".join(f"{kind}:{value}" for kind, value in entries)
