"""A private Postfix instance on 127.0.0.1 for the tests (Debian `postfix`, run as root).

Everything lives in one temporary directory: `etc/` is the instance's config_directory (main.cf,
master.cf, lookup tables), `queue/` its queue_directory (owned by the mail_owner `postfix`),
`data/` its data_directory and `log/postfix.log` its maillog_file (postlogd; no syslog needed).
The system's /etc/postfix is only read for `postfix-files` (meta_directory); the system service is
never started or touched.

SMTP AUTH goes through Dovecot's auth socket (`smtpd_sasl_type = dovecot`, the socket of the
private Dovecot from servers_dovecot.py), so the users of servers.py log in to both servers with
the same passwords. TLS uses the session's test CA.

Listeners (`PostfixServer.ports[name]`), every one an `smtpd` on 127.0.0.1 with its own
`-o` overrides in master.cf:

- `submission`: STARTTLS required (smtpd_tls_security_level = encrypt), AUTH only after STARTTLS.
- `submission_may`: STARTTLS offered, not required; AUTH only after STARTTLS
  (smtpd_tls_auth_only = yes): EHLO in plain text advertises no AUTH.
- `submissions`: implicit TLS (smtpd_tls_wrappermode = yes) with AUTH.
- `noauth`: STARTTLS offered, no SMTP AUTH at all (smtpd_sasl_auth_enable = no), before or after.
- `wrong_name`: implicit TLS with a certificate from the test CA for another host name.
- `untrusted`: implicit TLS with a certificate from a CA nobody trusts.
- `connection_limit`: implicit TLS, at most one connection per client at a time
  (smtpd_client_connection_count_limit = 1): the second gets `421 4.7.0 ... too many connections`.
- `connection_rate`: implicit TLS, at most CONNECTION_RATE connections per client per
  anvil_rate_time_unit (anvil): then `421 4.7.0 ... too many connections`.
- `auth_rate`: implicit TLS, at most AUTH_RATE AUTH commands per client per anvil_rate_time_unit.

Anvil exempts $mynetworks (which holds 127.0.0.1) unless smtpd_client_event_limit_exceptions is
emptied: main.cf empties it, so the limits apply to the tests' loopback clients.

Recipients: `virtual_mailbox_domains = example.test`; the users of servers.py have mailboxes
there (`alice@example.test`, `bob@example.test`, `carol@example.test`), any other address in the
domain is refused with `550 5.1.1 ... User unknown in virtual mailbox table`, REFUSED_RECIPIENT is
refused by policy (`554 5.7.1`), DEFERRED_RECIPIENT gets a temporary `452 4.2.2` and an address in
another domain is refused as relaying by an unauthenticated client (`554 5.7.1 ... Relay access
denied`); authenticated clients may relay (permit_sasl_authenticated).

Next hop for accepted mail (`next_hop`, the main.cf `virtual_transport`): by default `discard:`
(accepted and dropped). Pass e.g. `next_hop="lmtp:inet:127.0.0.1:2424"` to deliver into a Dovecot
LMTP listener; the recipient address is passed unchanged (`alice@example.test`), so the LMTP side's
userdb must accept that form (or strip the domain with username_format=%n). Mail to another domain
from an authenticated client goes to `relay_next_hop` (default `discard:` too).

Postfix must start as root (its master binds, then drops to `postfix`); without root the fixture
skips (fails under CI). Stop: SIGTERM to the master (running in the foreground, `start-fg`, in its
own process group), then SIGKILL to whatever is left of the group: nothing survives a test run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from servers import ALICE, HOST, TlsFiles, free_port, make_workdir, wait_for_ports
from servers_dovecot import DovecotServer

from console.core.model import Protocol, Security, ServerSettings

POSTFIX = Path("/usr/sbin/postfix")
MAIL_OWNER = "postfix"
DOMAIN = "example.test"
MAILBOX_USERS = ("alice", "bob", "carol")
REFUSED_RECIPIENT = f"refused@{DOMAIN}"
DEFERRED_RECIPIENT = f"deferred@{DOMAIN}"
CONNECTION_RATE = 3
AUTH_RATE = 2
STOP_GRACE_SECONDS = 5.0

LISTENERS = (
    "submission",
    "submission_may",
    "submissions",
    "noauth",
    "wrong_name",
    "untrusted",
    "connection_limit",
    "connection_rate",
    "auth_rate",
)
IMPLICIT_TLS = frozenset(
    {"submissions", "wrong_name", "untrusted", "connection_limit", "connection_rate", "auth_rate"}
)

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = {owner}
myhostname = mail.{domain}
mydomain = {domain}
myorigin = $mydomain
inet_interfaces = {host}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
relay_domains =
relayhost =
default_transport = {relay_next_hop}
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{d}/etc/mailboxes
virtual_transport = {next_hop}
maillog_file = {d}/log/postfix.log
maillog_file_prefixes = {d}/log
smtpd_banner = $myhostname ESMTP Postfix (mailconsole test)
biff = no
smtputf8_enable = no
smtpd_client_event_limit_exceptions =
anvil_rate_time_unit = 60s
smtpd_tls_chain_files = {d}/tls/server.key, {d}/tls/server.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth_socket}
smtpd_sasl_auth_enable = yes
smtpd_tls_auth_only = yes
smtpd_helo_required = yes
smtpd_recipient_restrictions =
  check_recipient_access texthash:{d}/etc/recipient_access,
  permit_sasl_authenticated,
  reject_unauth_destination
"""

# Every service runs without chroot (the sockets and files are outside the queue directory).
_MASTER_BASE = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_WRAPPER = "smtpd_tls_wrappermode=yes"
_LISTENER_OPTIONS: dict[str, tuple[str, ...]] = {
    "submission": ("smtpd_tls_security_level=encrypt",),
    "submission_may": (),
    "submissions": (_WRAPPER,),
    "noauth": ("smtpd_sasl_auth_enable=no",),
    "wrong_name": (_WRAPPER, "smtpd_tls_chain_files={d}/tls/wrong.key,{d}/tls/wrong.pem"),
    "untrusted": (_WRAPPER, "smtpd_tls_chain_files={d}/tls/untrusted.key,{d}/tls/untrusted.pem"),
    "connection_limit": (_WRAPPER, "smtpd_client_connection_count_limit=1"),
    "connection_rate": (_WRAPPER, f"smtpd_client_connection_rate_limit={CONNECTION_RATE}"),
    "auth_rate": (_WRAPPER, f"smtpd_client_auth_rate_limit={AUTH_RATE}"),
}


@dataclass
class PostfixServer:
    """A running Postfix: its listeners by name (see the module docstring) and its log."""

    directory: Path
    ports: dict[str, int]
    ca_file: Path
    process: subprocess.Popen[bytes]
    next_hop: str
    host: str = HOST
    domain: str = DOMAIN
    mailboxes: tuple[str, ...] = field(default=MAILBOX_USERS)

    @property
    def config_directory(self) -> Path:
        return self.directory / "etc"

    @property
    def log_path(self) -> Path:
        return self.directory / "log" / "postfix.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def security(self, listener: str) -> Security:
        return Security.TLS if listener in IMPLICIT_TLS else Security.STARTTLS

    def settings(self, listener: str = "submission", user: str = ALICE.name) -> ServerSettings:
        """SMTP settings for `user` on one listener that trust the test CA."""
        return ServerSettings(
            protocol=Protocol.SMTP,
            host=self.host,
            port=self.ports[listener],
            security=self.security(listener),
            username=user,
            tls_ca_file=str(self.ca_file),
        )

    def address(self, user: str) -> str:
        """The mailbox address of a servers.py user (its name before any @, in DOMAIN)."""
        return f"{user.split('@')[0]}@{self.domain}"

    def postfix(self, *args: str) -> str:
        """Run `postfix -c ETC ARGS` (e.g. `check`) against this instance."""
        done = subprocess.run(
            [str(POSTFIX), "-c", str(self.config_directory), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout + done.stderr

    def stop(self) -> None:
        _stop_group(self.process, self.directory)
        if not os.environ.get("MAILCONSOLE_KEEP_TEST_SERVERS"):
            shutil.rmtree(self.directory, ignore_errors=True)


def start_postfix(
    tls: TlsFiles,
    ca: trustme.CA,
    dovecot: DovecotServer,
    *,
    next_hop: str = "discard:",
    relay_next_hop: str = "discard:",
    attempts: int = 3,
) -> PostfixServer:
    """Start an instance whose SASL is `dovecot`'s auth socket; `next_hop` takes accepted mail."""
    if os.geteuid() != 0:
        raise PermissionError("the Postfix test server runs as root (as CI does)")
    directory = make_workdir("mc-postfix-")
    try:
        _prepare(directory, tls, ca)
        for _ in range(attempts):
            server = _launch(directory, tls, dovecot, next_hop, relay_next_hop)
            if server is not None:
                return server
        raise RuntimeError(f"Postfix did not start; see {directory}/log")
    except BaseException:
        if not os.environ.get("MAILCONSOLE_KEEP_TEST_SERVERS"):
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _prepare(directory: Path, tls: TlsFiles, ca: trustme.CA) -> None:
    owner = pwd.getpwnam(MAIL_OWNER)
    for sub in ("etc", "queue", "data", "log", "tls"):
        (directory / sub).mkdir()
    # The queue directory belongs to root, its subdirectories (postfix creates them at start) and
    # the data directory to the mail_owner: `postfix check` insists on both.
    os.chown(directory / "data", owner.pw_uid, owner.pw_gid)
    tls_dir = directory / "tls"
    shutil.copyfile(tls.cert_file, tls_dir / "server.pem")
    shutil.copyfile(tls.key_file, tls_dir / "server.key")
    wrong = ca.issue_cert("wrong-name.example.test")
    _write_leaf(wrong, tls_dir / "wrong.pem", tls_dir / "wrong.key")
    untrusted = trustme.CA().issue_cert("localhost", HOST)
    _write_leaf(untrusted, tls_dir / "untrusted.pem", tls_dir / "untrusted.key")
    for key in tls_dir.glob("*.key"):
        key.chmod(0o600)
    etc = directory / "etc"
    (etc / "mailboxes").write_text("".join(f"{u}@{DOMAIN} OK\n" for u in MAILBOX_USERS))
    (etc / "recipient_access").write_text(
        f"{REFUSED_RECIPIENT} 554 5.7.1 Recipient refused by local policy\n"
        f"{DEFERRED_RECIPIENT} 452 4.2.2 Mailbox full, try again later\n"
    )


def _write_leaf(leaf: trustme.LeafCert, cert_file: Path, key_file: Path) -> None:
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))


def _launch(
    directory: Path,
    tls: TlsFiles,
    dovecot: DovecotServer,
    next_hop: str,
    relay_next_hop: str,
) -> PostfixServer | None:
    """One start attempt on fresh ports; None if a port was taken (the caller tries again)."""
    ports = {name: free_port() for name in LISTENERS}
    etc = directory / "etc"
    (etc / "main.cf").write_text(
        _MAIN_CF.format(
            d=directory,
            owner=MAIL_OWNER,
            domain=DOMAIN,
            host=HOST,
            next_hop=next_hop,
            relay_next_hop=relay_next_hop,
            auth_socket=dovecot.auth_socket,
        )
    )
    master = [_MASTER_BASE]
    for name, port in ports.items():
        master.append(f"{HOST}:{port} inet n - n - - smtpd\n  -o syslog_name=postfix/{name}\n")
        master.extend(f"  -o {option.format(d=directory)}\n" for option in _LISTENER_OPTIONS[name])
    (etc / "master.cf").write_text("".join(master))
    log = directory / "log" / "postfix.log"
    log.unlink(missing_ok=True)
    with (directory / "log" / "stdout.log").open("ab") as output:
        process = subprocess.Popen(
            [str(POSTFIX), "-c", str(etc), "start-fg"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one killpg stops the master and every child
        )
    try:
        started = wait_for_ports(
            [ports["noauth"]], alive=lambda: process.poll() is None, timeout=20
        )
        if started:
            _wait_for_greeting(ports["noauth"])
    except BaseException:
        _stop_group(process, directory)
        raise
    if started:
        return PostfixServer(directory, ports, tls.ca_file, process, next_hop)
    _stop_group(process, directory)
    text = log.read_text(errors="replace") if log.exists() else ""
    text += (directory / "log" / "stdout.log").read_text(errors="replace")
    if "Address already in use" in text:
        return None
    raise RuntimeError(f"Postfix exited at start (rc {process.returncode}):\n{text[-3000:]}")


def _wait_for_greeting(port: int, timeout: float = 10.0) -> None:
    """The master's listeners open before an smtpd is ready; "started" means "greets"."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        greeting = sock.makefile("rb").readline()
    if not greeting.startswith(b"220 "):
        raise RuntimeError(f"unexpected Postfix greeting: {greeting!r}")


def _stop_group(process: subprocess.Popen[bytes], directory: Path) -> None:
    """SIGTERM the master, then SIGKILL its process group and the starter's.

    The master calls setsid(): its process group (its pid, from queue/pid/master.pid) holds every
    smtpd, qmgr, ... it started; the Popen process is the postfix-script that waits for it.
    """
    groups = [process.pid]
    pid_file = directory / "queue" / "pid" / "master.pid"
    with contextlib.suppress(OSError, ValueError):
        groups.append(int(pid_file.read_text().strip()))
    for pid in groups[1:]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_SECONDS)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 5
    for group in groups:
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


def tls_client(ca_file: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only the test CA."""
    return ssl.create_default_context(cafile=str(ca_file))
