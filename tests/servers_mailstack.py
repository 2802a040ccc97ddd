"""The stack self-hosted senders run, on 127.0.0.1: submission (aiosmtpd with AUTH) relaying over
LMTP into Dovecot (dovecot-lmtpd), where per-user Sieve scripts run in Pigeonhole (dovecot-sieve).

Sieve `redirect` sends through Dovecot's `submission_host`: a second aiosmtpd (the "elsewhere"
sink) that only records what it gets. Mailboxes have SPECIAL-USE Junk, Trash, Archive, Sent.
Reuses the Dovecot helpers of servers_dovecot.py (root or normal user, stop by process group).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import smtplib
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from servers import HOST, TlsFiles, free_port, make_workdir, wait_for_ports
from servers_dovecot import DOVECOT, _mode, _stop_group, _wait_for_greeting

SIEVE_PLUGIN = Path("/usr/lib/dovecot/modules/lib90_sieve_plugin.so")
LMTP_BINARY = Path("/usr/lib/dovecot/lmtp")
DOMAIN = "example.test"

_CONFIG = """\
instance_name = mailstack-test-{imaps_port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
debug_log_path = {d}/log/dovecot.log
protocols = imap lmtp
listen = {host}
{identity}
first_valid_uid = {uid}
first_valid_gid = {gid}
ssl = yes
ssl_cert = <{d}/tls/server.pem
ssl_key = <{d}/tls/server.key
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{no_chroot}}}
passdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = create
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
lda_mailbox_autocreate = yes
submission_host = {host}:{sink_port}
postmaster_address = postmaster@{domain}
protocol imap {{
  mail_max_userip_connections = 100
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = 0
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
{no_chroot}}}
service lmtp {{
  inet_listener lmtp {{
    address = {host}
    port = {lmtp_port}
  }}
}}
"""


class _Relay:
    """Submission: accepts mail from logged-in users and hands it to Dovecot over LMTP."""

    def __init__(self, stack: MailStack) -> None:
        self.stack = stack

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower() not in self.stack.users:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        await asyncio.to_thread(self._lmtp, envelope.mail_from, envelope.rcpt_tos, content)
        return "250 2.0.0 Ok: queued"

    def _lmtp(self, sender: str, recipients: list[str], content: bytes) -> None:
        with smtplib.LMTP(HOST, self.stack.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(sender, recipients, content)


class _Sink:
    """Where Sieve `redirect` sends mail: it is kept here, never delivered to a mailbox."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 2.0.0 Ok: forwarded"


@dataclass
class MailStack:
    directory: Path
    imaps_port: int
    lmtp_port: int
    submission_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]
    users: dict[str, str]
    sink: _Sink
    controllers: list[Controller] = field(default_factory=list)

    def password(self, user: str) -> str:
        return self.users[user.lower()]

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()
        self.controllers.clear()
        _stop_group(self.process)
        if not os.environ.get("MAILCONSOLE_KEEP_TEST_SERVERS"):
            shutil.rmtree(self.directory, ignore_errors=True)


def start_mailstack(tls: TlsFiles, sieve: dict[str, str | None]) -> MailStack:
    """Users `<name>@example.test` with the given Sieve script (None: no script)."""
    directory = make_workdir("mc-mailstack-")
    mode = _mode()
    for sub in ("run", "state", "log", "mail", "tls"):
        (directory / sub).mkdir()
    shutil.copyfile(tls.cert_file, directory / "tls" / "server.pem")
    shutil.copyfile(tls.key_file, directory / "tls" / "server.key")
    (directory / "tls" / "server.key").chmod(0o600)
    users: dict[str, str] = {}
    lines = []
    for name, script in sieve.items():
        user = f"{name}@{DOMAIN}"
        password = f"pw-{name}"
        users[user] = password
        home = directory / "mail" / user
        (home / "Maildir").mkdir(parents=True)
        if script is not None:
            (home / ".dovecot.sieve").write_text(script)
        encoded = base64.b64encode(password.encode()).decode()
        lines.append(f"{user}:{{PLAIN.B64}}{encoded}:{mode.uid}:{mode.gid}::{home}::")
    (directory / "users").write_text("\n".join(lines) + "\n")
    (directory / "users").chmod(0o644)
    if os.geteuid() == 0:
        for path in [directory / "mail", *(directory / "mail").rglob("*")]:
            os.chown(path, mode.uid, mode.gid)

    sink = _Sink()
    sink_controller = _controller(sink, plain=True)
    imaps_port, lmtp_port = free_port(), free_port()
    (directory / "dovecot.conf").write_text(
        _CONFIG.format(
            d=directory,
            host=HOST,
            identity=mode.identity,
            uid=mode.uid,
            gid=mode.gid,
            no_chroot=mode.no_chroot,
            imaps_port=imaps_port,
            lmtp_port=lmtp_port,
            sink_port=sink_controller.port,
            domain=DOMAIN,
        )
    )
    with (directory / "log" / "stdout.log").open("ab") as output:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(directory / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = MailStack(directory, imaps_port, lmtp_port, 0, tls.ca_file, process, users, sink)
    stack.controllers.append(sink_controller)
    try:
        if not wait_for_ports((imaps_port, lmtp_port), alive=lambda: process.poll() is None):
            log = (directory / "log" / "dovecot.log").read_text(errors="replace")
            raise RuntimeError(f"Dovecot (LMTP + Sieve) did not start:\n{log[-3000:]}")
        _wait_for_tls_greeting(imaps_port, tls.ca_file)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        submission = _controller(_Relay(stack), ssl_context=context, stack=stack)
        stack.controllers.append(submission)
        stack.submission_port = submission.port
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_for_tls_greeting(port: int, ca_file: Path) -> None:
    import socket

    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((HOST, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        greeting = sock.makefile("rb").readline()
    if not greeting.startswith(b"* OK"):
        raise RuntimeError(f"unexpected Dovecot greeting: {greeting!r}")


def _controller(
    handler: Any,
    *,
    plain: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    stack: Any = None,
) -> Controller:
    kwargs: dict[str, Any] = {"server_hostname": "localhost", "ident": "mailstack-test"}
    if not plain:

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and stack.users.get(
                data.login.decode("utf-8", "replace").lower()
            ) == data.password.decode("utf-8", "replace")
            return AuthResult(success=ok, handled=False)

        kwargs.update(
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=False,
            ssl_context=ssl_context,
        )
    for attempt in range(3):
        controller = Controller(handler, hostname=HOST, port=free_port(), **kwargs)
        try:
            controller.start()
            return controller
        except OSError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


__all__ = ["LMTP_BINARY", "SIEVE_PLUGIN", "MailStack", "_wait_for_greeting", "start_mailstack"]
