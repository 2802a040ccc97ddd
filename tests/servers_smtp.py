"""aiosmtpd on 127.0.0.1: implicit TLS, STARTTLS, and a plain port without STARTTLS.

Each Controller runs its own event loop in a thread; `stop()` joins them all.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from servers import ALICE, HOST, USERS, TlsFiles, free_port

from console.core.model import Protocol, Security, ServerSettings

IDENT = "test-smtpd"


class RecordingHandler:
    """Accepts every message and keeps its envelope, so a test can see what was sent."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.messages.append(envelope)
        return "250 2.0.0 OK: queued"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """AUTH PLAIN and LOGIN against USERS; handled=False gives aiosmtpd's standard 535 reply."""
    ok = isinstance(auth_data, LoginPassword) and USERS.get(
        auth_data.login.decode("utf-8", "replace")
    ) == auth_data.password.decode("utf-8", "replace")
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServers:
    """Three aiosmtpd listeners sharing one handler and the same users as Dovecot."""

    smtps_port: int  # implicit TLS
    submission_port: int  # STARTTLS required before AUTH/MAIL
    plain_port: int  # no TLS offered at all; AUTH allowed in the clear
    ca_file: Path
    handler: RecordingHandler
    controllers: list[Controller]
    host: str = HOST
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))

    @property
    def messages(self) -> list[Envelope]:
        return self.handler.messages

    def port_for(self, security: Security) -> int:
        return {
            Security.TLS: self.smtps_port,
            Security.STARTTLS: self.submission_port,
            Security.NONE: self.plain_port,
        }[security]

    def settings(self, user: str = ALICE.name, security: Security = Security.TLS) -> ServerSettings:
        """SMTP settings for `user` that trust this server's CA."""
        return ServerSettings(
            protocol=Protocol.SMTP,
            host=self.host,
            port=self.port_for(security),
            security=security,
            username=user,
            tls_ca_file=str(self.ca_file),
        )

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()
        self.controllers.clear()


def start_smtpd(tls: TlsFiles) -> SmtpServers:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    handler = RecordingHandler()
    common: dict[str, Any] = {
        "authenticator": authenticate,
        "auth_required": True,
        "server_hostname": "localhost",
        "ident": IDENT,
    }
    started: list[Controller] = []
    try:
        # aiosmtpd counts only STARTTLS as TLS: implicit TLS needs auth_require_tls=False.
        smtps = _start(handler, ssl_context=context, auth_require_tls=False, **common)
        started.append(smtps)
        submission = _start(handler, tls_context=context, require_starttls=True, **common)
        started.append(submission)
        plain = _start(handler, auth_require_tls=False, **common)
        started.append(plain)
    except BaseException:
        for controller in started:
            controller.stop()
        raise
    return SmtpServers(
        smtps_port=smtps.port,
        submission_port=submission.port,
        plain_port=plain.port,
        ca_file=tls.ca_file,
        handler=handler,
        controllers=started,
    )


def _start(handler: RecordingHandler, *, attempts: int = 3, **kwargs: Any) -> Controller:
    """Start one Controller on a free port, trying again if the port was taken meanwhile."""
    for attempt in range(attempts):
        controller = Controller(handler, hostname=HOST, port=free_port(), **kwargs)
        try:
            controller.start()
        except OSError:
            # A failed bind leaves the controller's loop open; close it to avoid a leak warning.
            with contextlib.suppress(Exception):
                controller.loop.close()
            if attempt == attempts - 1:
                raise
        else:
            return controller
    raise AssertionError("unreachable")
