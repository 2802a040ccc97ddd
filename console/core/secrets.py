"""Where a login's secret comes from: a command, an OAuth2 token command, or the system keyring.

Every failure becomes a `SecretError` whose message says what went wrong and what to do; the
secret itself (and a command's stdout, which may hold it) never appears in any message or log.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import threading
from collections.abc import Awaitable, Callable, Mapping

import keyring
import keyring.errors

from console.core.model import AuthMethod, ServerSettings, SignIn
from console.core.oauth.store import SignIns
from console.core.redact import untrusted_excerpt
from console.core.safe_text import visible

KEYRING_SERVICE = "mailconsole"

SecretProvider = Callable[[ServerSettings], Awaitable[str]]
"""What the runner calls to get a login's secret; `fetch_secret` and `MemorySecrets` fit it."""

_OUTPUT_LIMIT = 64 * 1024  # bytes kept per stream; the rest is read and dropped
_STDERR_LINES = 3
_REAP_SECONDS = 2.0  # after SIGKILL, how long to wait for the process and its pipes to close

_NO_BACKEND_ADVICE = (
    "No keyring backend is available on this machine (on a server or in a container there is "
    "usually no Secret Service). Install and unlock one (for example gnome-keyring or "
    "KeePassXC with its Secret Service integration), or set password_command for this "
    "server in the account file, or choose a backend knowingly with PYTHON_KEYRING_BACKEND "
    "(for example keyrings.alt.file.PlaintextKeyring, which stores passwords in a plain file)."
)


class SecretError(Exception):
    """A secret could not be obtained; the message is meant for the user and holds no secret."""


class LocalResourceError(Exception):
    """This computer ran out of something (file descriptors, processes): not the account's fault."""


RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})
"""OSError numbers that mean this computer is out of file descriptors or memory."""

OUT_OF_FDS = (
    "this computer ran out of file descriptors or processes ({reason}): lower --concurrency "
    "(or concurrency in the account file) or raise `ulimit -n`; the account is not at fault"
)


async def fetch_secret(settings: ServerSettings, *, timeout: float = 10.0) -> str:
    """The secret for one server login within about `timeout` seconds; nothing blocks the loop."""
    who = f"{settings.protocol.value} login {settings.keyring_key}"
    if settings.auth is AuthMethod.OAUTH2:
        if settings.oauth2_token_command:  # the user's own helper wins over a stored sign-in
            return await run_secret_command(
                settings.oauth2_token_command,
                timeout=timeout,
                what=f"oauth2_token_command for {who}",
            )
        if settings.sign_in is not None:
            return await signed_in_token(settings.sign_in)
        raise SecretError(
            f"{who} uses auth = oauth2 but has no oauth2_token_command: add the command that "
            "prints a fresh access token to the account file."
        )
    if settings.password_command:
        return await run_secret_command(
            settings.password_command, timeout=timeout, what=f"password_command for {who}"
        )
    return await _keyring_password(settings, timeout=timeout)


async def signed_in_token(sign_in: SignIn, sign_ins: SignIns | None = None) -> str:
    """An access token from a stored sign-in (refreshed when due; console/core/oauth), from
    `sign_ins` or else the process's own store."""
    from console.core.oauth.microsoft import SignInError  # MSAL loads only when needed
    from console.core.oauth.session import SIGN_INS, client_for

    login = f"press L in the console, or run mailconsole login {sign_in.email}"
    try:
        return await (sign_ins or SIGN_INS).access_token(sign_in)
    except LookupError:
        try:  # no registered app to sign in with: its error says what to register
            client_for(sign_in).close()
        except SignInError as exc:
            raise SecretError(f"{sign_in.email} is not signed in. {exc} Then {login}.") from None
        raise SecretError(f"{sign_in.email} is not signed in yet: {login}") from None
    except SignInError as exc:
        raise SecretError(f"{exc} Sign in again: {login}") from None


# --- commands -----------------------------------------------------------------------------------


class _Capture(asyncio.SubprocessProtocol):
    """Collects a child's stdout and stderr (bounded) and tells when it is completely done."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.finished: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self.stdout if fd == 1 else self.stderr
        room = _OUTPUT_LIMIT - len(buffer)
        if room > 0:
            buffer += data[:room]

    def connection_lost(self, exc: Exception | None) -> None:
        # asyncio calls this once the process has exited *and* both pipes are closed.
        if not self.finished.done():
            self.finished.set_result(None)


async def run_secret_command(command: str, *, timeout: float, what: str) -> str:
    """Run `command` with /bin/sh -c and return the first line of its stdout.

    The command runs in its own session so that a timeout kills everything it started.
    `what` names the command in messages (e.g. "password_command for imap login a@b");
    the command text itself is never shown, as it may contain a secret.
    """
    loop = asyncio.get_running_loop()
    try:
        transport, capture = await loop.subprocess_exec(
            lambda: _Capture(loop),
            "/bin/sh",
            "-c",
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, MARKER: str(os.getpid())},
        )
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS or exc.errno == errno.EAGAIN:  # EAGAIN: fork refused
            reason = exc.strerror or str(exc)
            raise LocalResourceError(OUT_OF_FDS.format(reason=reason)) from None
        raise SecretError(f"The {what} could not be started: {exc.strerror or exc}.") from None
    pid = transport.get_pid()
    _running.add(pid)
    try:
        done, _ = await asyncio.wait({capture.finished}, timeout=timeout)
    finally:
        _running.discard(pid)
        # Also on cancellation: nothing the command started may outlive this call.
        if not capture.finished.done():
            _kill_group(transport.get_pid())
            try:
                await asyncio.wait({capture.finished}, timeout=_REAP_SECONDS)
            finally:
                transport.close()
        else:
            transport.close()
    if not done:
        raise SecretError(
            f"The {what} did not finish within {timeout:g} s and was stopped. Run it in a "
            "terminal to see whether it waits for input (a passphrase prompt, an unlock), "
            "and make it print the secret without asking."
        )
    code = transport.get_returncode()
    if code != 0:
        raise SecretError(f"The {what} failed ({_describe_exit(code)}){_stderr_hint(capture)}")
    return _first_line(bytes(capture.stdout), what)


_running: set[int] = set()
"""Process groups of the secret commands running now (each command leads its own session)."""


MARKER = "MAILCONSOLE_SECRET_COMMAND_OF"
"""Set in every secret command's environment (to our pid): its children inherit it, so
`kill_secret_commands` finds them all, even those whose shell asyncio already killed."""


def kill_secret_commands() -> None:
    """Kill every secret command still running, with everything it started: for SIGTERM/SIGHUP
    and ctrl+c (console/signals.py), so none outlives mailconsole however the unwinding goes.

    The commands this module knows are killed by process group; on Linux, every process whose
    environment carries our `MARKER` is found in /proc too: a command still being started when
    the signal came is not known here yet, and cancelling a half-started one kills only its
    shell, not what the shell started.
    """
    for pid in _running:
        _kill_group(pid)
    for pid in _marked_processes():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _marked_processes() -> set[int]:
    mark = f"{MARKER}={os.getpid()}".encode()
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if mark in environ.split(b"\0"):
            found.add(int(entry))
    return found


def _kill_group(pid: int | None) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pid, signal.SIGKILL)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _stderr_hint(capture: _Capture) -> str:
    """What the failed command said on stderr: a bounded excerpt with anything secret-looking
    hidden (a helper may print the token it could not use); its stdout is never shown."""
    text = bytes(capture.stderr).decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()][:_STDERR_LINES]
    if not lines:
        return ". It printed nothing on stderr; run it in a terminal to see what is wrong."
    # whatever it printed on stdout may be the secret it failed to deliver: hide that too
    printed = bytes(capture.stdout).decode("utf-8", errors="replace").splitlines()[:_STDERR_LINES]
    known = [line.strip() for line in printed if line.strip()]
    shown = visible(untrusted_excerpt(" | ".join(lines), *known))
    return f": {shown}. Run it in a terminal to see what is wrong."


def _first_line(stdout: bytes, what: str) -> str:
    if b"\n" not in stdout and len(stdout) >= _OUTPUT_LIMIT:
        raise SecretError(f"The {what} printed a first line longer than {_OUTPUT_LIMIT} bytes.")
    line = stdout.split(b"\n", 1)[0]
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line:
        raise SecretError(
            f"The {what} printed nothing on its first line: it must print the secret on the "
            "first line of its output."
        )
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"The {what} printed a first line that is not UTF-8 text.") from None


# --- keyring ------------------------------------------------------------------------------------

# Serialises backend detection and every call, so that one unlock prompt is shown at a time.
_keyring_lock = threading.Lock()
_KEYRING_ERRORS = (keyring.errors.KeyringError, RuntimeError, ImportError)
"""What a keyring call raises; plain RuntimeError/ImportError come from a forced backend."""


def _keyring_get(key: str) -> str | None:
    with _keyring_lock:
        return keyring.get_keyring().get_password(KEYRING_SERVICE, key)


async def _keyring_password(settings: ServerSettings, *, timeout: float) -> str:
    key = settings.keyring_key
    try:
        password = await asyncio.wait_for(_in_daemon_thread(_keyring_get, key), timeout)
    except TimeoutError:
        raise SecretError(
            f"The keyring did not answer within {timeout:g} s for {key}. It may be locked and "
            "waiting for you to unlock it: unlock it, then check again."
        ) from None
    except _KEYRING_ERRORS as exc:
        raise _keyring_failure(exc, key, "read the password for") from None
    if not password:
        raise SecretError(
            f"No password is stored for {key} (keyring service {KEYRING_SERVICE!r}). Store it "
            f"in mailconsole's edit pane or with `keyring set {KEYRING_SERVICE} {key}`, or set "
            "password_command for this server in the account file."
        )
    return password


async def _in_daemon_thread(function: Callable[[str], str | None], arg: str) -> str | None:
    """Run a blocking keyring call in a daemon thread.

    Not the loop's executor: an unlock prompt nobody answers would hold one of its few workers
    (which also resolve DNS) and keep the program from exiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if future.done():  # the caller gave up (timeout or cancellation)
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def run() -> None:
        value, error = None, None
        try:
            value = function(arg)
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=run, name="mailconsole-keyring", daemon=True).start()
    return await future


def _keyring_failure(
    exc: Exception, key: str, action: str, secret: str | None = None
) -> SecretError:
    """Turn a keyring exception into a message that says what to do."""
    if isinstance(exc, keyring.errors.NoKeyringError):
        return SecretError(f"Cannot {action} {key}. {_NO_BACKEND_ADVICE}")
    if isinstance(exc, keyring.errors.KeyringLocked):
        return SecretError(
            f"Cannot {action} {key}: the keyring is locked. Unlock it (log in to the desktop "
            "session or open your keyring application), then try again."
        )
    return SecretError(
        f"Cannot {action} {key}: the keyring failed ({type(exc).__name__}: "
        f"{visible(untrusted_excerpt(str(exc), secret))}). Check that "
        "the keyring is running and unlocked, or check PYTHON_KEYRING_BACKEND; "
        "password_command in the account file avoids the keyring."
    )


def store_password(settings: ServerSettings, password: str) -> None:
    """Save a password in the keyring (blocking: call it from a thread)."""
    key = settings.keyring_key
    if not password:
        raise SecretError(f"Not storing an empty password for {key}.")
    try:
        with _keyring_lock:
            keyring.get_keyring().set_password(KEYRING_SERVICE, key, password)
    except _KEYRING_ERRORS as exc:
        if password in str(exc):  # a backend that echoes its input: keep only the advice
            exc = keyring.errors.KeyringError("the backend rejected the password")
        raise _keyring_failure(exc, key, "store the password for", password) from None


def delete_password(settings: ServerSettings) -> None:
    """Remove a stored password (blocking); removing one that is not there is not an error."""
    key = settings.keyring_key
    try:
        with _keyring_lock:
            backend = keyring.get_keyring()
            if backend.get_password(KEYRING_SERVICE, key) is not None:
                backend.delete_password(KEYRING_SERVICE, key)
    except _KEYRING_ERRORS as exc:
        raise _keyring_failure(exc, key, "delete the password for") from None


# --- in memory ----------------------------------------------------------------------------------


class MemorySecrets:
    """Secrets held in a dict keyed by `keyring_key`: for the demo and tests, never the keyring.

    Servers with a built-in sign-in get their token from `sign_ins` (a store that keeps
    nothing in the keyring either) when one is given."""

    def __init__(
        self, secrets: Mapping[str, str] | None = None, *, sign_ins: SignIns | None = None
    ) -> None:
        self._secrets: dict[str, str] = dict(secrets or {})
        self.sign_ins = sign_ins

    def set(self, settings_or_key: ServerSettings | str, value: str) -> None:
        self._secrets[_key(settings_or_key)] = value

    def delete(self, settings_or_key: ServerSettings | str) -> None:
        self._secrets.pop(_key(settings_or_key), None)

    def __contains__(self, settings_or_key: object) -> bool:
        if not isinstance(settings_or_key, ServerSettings | str):
            return False
        return _key(settings_or_key) in self._secrets

    async def __call__(self, settings: ServerSettings) -> str:
        own_sign_in = settings.auth is AuthMethod.OAUTH2 and not settings.oauth2_token_command
        if self.sign_ins is not None and settings.sign_in is not None and own_sign_in:
            return await signed_in_token(settings.sign_in, self.sign_ins)
        try:
            return self._secrets[settings.keyring_key]
        except KeyError:
            raise SecretError(
                f"No password is stored for {settings.keyring_key} in this session; enter it "
                "in the edit pane."
            ) from None

    def __repr__(self) -> str:  # never the values
        return f"<MemorySecrets with {len(self._secrets)} secret(s)>"


def _key(settings_or_key: ServerSettings | str) -> str:
    if isinstance(settings_or_key, ServerSettings):
        return settings_or_key.keyring_key
    return settings_or_key
