"""A private Dovecot instance on 127.0.0.1 for the tests, as root (CI) or as a normal user.

The instance never reads /etc/dovecot; everything lives in one temporary directory
(test-servers.md sections 2-4 explain each setting).
"""

from __future__ import annotations

import base64
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from servers import (
    ALICE,
    BOB,
    CAROL,
    HOST,
    USERS,
    TlsFiles,
    free_port,
    make_workdir,
    wait_for_ports,
)

from console.core.model import Protocol, Security, ServerSettings

DOVECOT = Path("/usr/sbin/dovecot")
DOVEADM = Path("/usr/bin/doveadm")
NOBODY_UID = NOBODY_GID = 65534
STOP_GRACE_SECONDS = 2.5
QUOTA_LIMIT_KIB = 64  # CAROL's quota; her INBOX is filled to about 94%

# service_count = 0 + process_min_avail = 1: one long-lived login process, about twice the login
# rate of the default (test-servers.md section 4), for tests that check many accounts at once.
_CONFIG = """\
instance_name = mailconsole-test-{port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
debug_log_path = {d}/log/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
protocols = imap
listen = {host}
{identity}
first_valid_uid = {uid}
first_valid_gid = {gid}
ssl = yes
ssl_cert = <{d}/tls/server.pem
ssl_key = <{d}/tls/server.key
ssl_min_protocol = TLSv1.2
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login{oauth2_mechanisms}
auth_verbose = yes
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{no_chroot}}}
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins quota
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
  mail_max_userip_connections = 100
}}
plugin {{
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=10M
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 1
{no_chroot}}}
service imap {{
  process_limit = 1024
}}
# Postfix's smtpd asks this socket (smtpd_sasl_type = dovecot): one user database for both.
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
"""

# Dovecot's oauth2 passdb asks an RFC 7662 introspection endpoint about every token; the token is
# good when the answer says "active": true and names the user who logs in. Password mechanisms
# keep using the users file (the passdb's `mechanisms` line keeps them apart).
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
"""
_OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
tls_ca_cert_file = {ca}
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


@dataclass(frozen=True)
class OAuth2Introspection:
    """Where Dovecot's oauth2 passdb checks tokens: the URL (with the resource's credentials in
    it) and the CA that signed that server's certificate."""

    url: str
    ca_file: Path


@dataclass
class DovecotServer:
    """A running Dovecot: where it listens, who may log in, and where it logs."""

    directory: Path
    imaps_port: int  # implicit TLS
    imap_port: int  # plain, offers STARTTLS
    ca_file: Path
    process: subprocess.Popen[bytes]
    host: str = HOST
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    quota_user: str = CAROL.name
    inbox_counts: dict[str, int] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.directory / "log" / "dovecot.log"

    @property
    def config_path(self) -> Path:
        return self.directory / "dovecot.conf"

    @property
    def auth_socket(self) -> Path:
        """Dovecot's SASL auth socket for Postfix (servers_postfix.py)."""
        return self.directory / "run" / "auth-postfix"

    def settings(self, user: str = ALICE.name, security: Security = Security.TLS) -> ServerSettings:
        """IMAP settings for `user` that trust this server's CA."""
        port = self.imaps_port if security is Security.TLS else self.imap_port
        return ServerSettings(
            protocol=Protocol.IMAP,
            host=self.host,
            port=port,
            security=security,
            username=user,
            tls_ca_file=str(self.ca_file),
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def doveadm(self, *args: str) -> str:
        """Run doveadm against this instance (e.g. `quota get -u carol`)."""
        done = subprocess.run(
            [str(DOVEADM), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def stop(self) -> None:
        """SIGTERM the master, then SIGKILL whatever is left of its process group."""
        _stop_group(self.process)
        if not os.environ.get("MAILCONSOLE_KEEP_TEST_SERVERS"):
            shutil.rmtree(self.directory, ignore_errors=True)


def start_dovecot(
    tls: TlsFiles, *, oauth2: OAuth2Introspection | None = None, attempts: int = 3
) -> DovecotServer:
    """Start an instance with ALICE, BOB and CAROL; retries if a picked port was taken meanwhile.

    With `oauth2`, XOAUTH2 and OAUTHBEARER logins are checked against that introspection
    endpoint (the passwords keep working)."""
    directory = make_workdir("mc-dovecot-")
    try:
        counts = _prepare(directory, tls)
        if oauth2 is not None:  # the auth process (user dovecot) must read the CA
            ca = directory / "tls" / "oauth2-ca.pem"
            shutil.copyfile(oauth2.ca_file, ca)
            ca.chmod(0o644)
            (directory / "oauth2.conf.ext").write_text(_OAUTH2_CONF.format(url=oauth2.url, ca=ca))
        for _ in range(attempts):
            server = _launch(directory, tls, counts, oauth2 is not None)
            if server is not None:
                return server
        raise RuntimeError(f"Dovecot did not start; see {directory}/log")
    except BaseException:
        if not os.environ.get("MAILCONSOLE_KEEP_TEST_SERVERS"):
            shutil.rmtree(directory, ignore_errors=True)
        raise


class _Mode(NamedTuple):
    """Who Dovecot's processes run as: root mode (as CI runs) or the current user."""

    identity: str  # config lines
    uid: int  # owner of the mail, in the users file
    gid: int
    no_chroot: str  # a normal user cannot chroot: config line for anvil and imap-login


def _mode() -> _Mode:
    if os.geteuid() == 0:
        identity = "default_internal_user = dovecot\ndefault_login_user = dovenull"
        return _Mode(identity, NOBODY_UID, NOBODY_GID, "")
    # test-servers.md, root vs non-root table: everything runs as this user, without chroot.
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    identity = (
        f"default_internal_user = {user}\ndefault_login_user = {user}\n"
        f"default_internal_group = {group}"
    )
    return _Mode(identity, os.geteuid(), os.getegid(), "  chroot =\n")


def _prepare(directory: Path, tls: TlsFiles) -> dict[str, int]:
    """Write the users file, TLS files and mailboxes; return each user's INBOX message count."""
    mode = _mode()
    for sub in ("run", "state", "log", "mail", "tls"):
        (directory / sub).mkdir()
    shutil.copyfile(tls.cert_file, directory / "tls" / "server.pem")
    shutil.copyfile(tls.key_file, directory / "tls" / "server.key")
    (directory / "tls" / "server.key").chmod(0o600)

    lines = []
    for name, password in USERS.items():
        # {PLAIN.B64} takes any bytes, so no password needs quoting in this file.
        encoded = base64.b64encode(password.encode()).decode()
        extra = f"userdb_quota_rule=*:storage={QUOTA_LIMIT_KIB}K" if name == CAROL.name else ""
        home = directory / "mail" / name
        lines.append(f"{name}:{{PLAIN.B64}}{encoded}:{mode.uid}:{mode.gid}::{home}::{extra}")
    users_file = directory / "users"
    users_file.write_text("\n".join(lines) + "\n")
    users_file.chmod(0o644)

    counts = {
        ALICE.name: _write_maildir(directory / "mail" / ALICE.name, _small_messages(3)),
        BOB.name: _write_maildir(directory / "mail" / BOB.name, []),
        CAROL.name: _write_maildir(directory / "mail" / CAROL.name, _big_messages(3, 20 * 1024)),
    }
    if os.geteuid() == 0:
        for path in [directory / "mail", *(directory / "mail").rglob("*")]:
            os.chown(path, mode.uid, mode.gid)
    return counts


def _small_messages(count: int) -> list[bytes]:
    return [
        (
            f"From: Sender {i} <sender{i}@example.test>\n"
            f"To: {ALICE.name}@example.test\n"
            f"Subject: Test message {i}\n"
            f"Message-ID: <test-{i}@example.test>\n"
            "Date: Mon, 01 Jan 2024 10:00:00 +0000\n\n"
            f"Body of message {i}.\n"
        ).encode()
        for i in range(1, count + 1)
    ]


def _big_messages(count: int, size: int) -> list[bytes]:
    """Messages of about `size` bytes each: fills a small quota."""
    line = "x" * 75 + "\n"
    body = line * (size // len(line))
    return [
        (f"From: bulk@example.test\nSubject: Bulk {i}\n\n{body}").encode()
        for i in range(1, count + 1)
    ]


def _write_maildir(home: Path, messages: list[bytes]) -> int:
    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for i, message in enumerate(messages, start=1):
        (maildir / "cur" / f"1700000000.M{i}P1.mailconsole-test:2,S").write_bytes(message)
    return len(messages)


def _launch(
    directory: Path, tls: TlsFiles, counts: dict[str, int], oauth2: bool
) -> DovecotServer | None:
    """One start attempt on fresh ports; None if a port was taken (the caller tries again)."""
    mode = _mode()
    imap_port, imaps_port = free_port(), free_port()
    config = _CONFIG.format(
        d=directory,
        host=HOST,
        port=imaps_port,
        identity=mode.identity,
        uid=mode.uid,
        gid=mode.gid,
        no_chroot=mode.no_chroot,
        imap_port=imap_port,
        imaps_port=imaps_port,
        oauth2_mechanisms=" xoauth2 oauthbearer" if oauth2 else "",
        oauth2_passdb=_OAUTH2_PASSDB.format(d=directory) if oauth2 else "",
    )
    (directory / "dovecot.conf").write_text(config)
    log = directory / "log" / "dovecot.log"
    log.unlink(missing_ok=True)
    with (directory / "log" / "stdout.log").open("ab") as output:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(directory / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one killpg stops every child
        )
    try:
        started = wait_for_ports((imaps_port, imap_port), alive=lambda: process.poll() is None)
        if started:
            _wait_for_greeting(imap_port)
    except BaseException:
        _stop_group(process)
        raise
    if started:
        return DovecotServer(
            directory, imaps_port, imap_port, tls.ca_file, process, inbox_counts=counts
        )
    _stop_group(process)
    text = log.read_text(errors="replace") if log.exists() else ""
    text += (directory / "log" / "stdout.log").read_text(errors="replace")
    if "Address already in use" in text:
        return None
    raise RuntimeError(f"Dovecot exited at start (rc {process.returncode}):\n{text[-3000:]}")


def _wait_for_greeting(port: int) -> None:
    """The listeners open before the master is fully up; the greeting waits for auth too.

    Stopping a half-started master can take 5 s, so "started" means "greets".
    """
    with socket.create_connection((HOST, port), timeout=10) as sock:
        greeting = sock.makefile("rb").readline()
    if not greeting.startswith(b"* OK"):
        raise RuntimeError(f"unexpected Dovecot greeting: {greeting!r}")


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        # A clean stop takes about 1.1 s; a login process caught starting up can hold the
        # master for 5 s more (its stats handshake never completes), so do not wait for that.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE_SECONDS)
    # Children (the log process lingers about a second) share the master's process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
