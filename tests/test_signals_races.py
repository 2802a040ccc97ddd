"""SIGTERM and SIGHUP at the worst moments (tests/test_signals.py has the plain cases).

The signal arrives while secret commands are still being started, or the console's terminal goes
away under it (an SSH drop: the pty closes and the kernel sends SIGHUP). Real processes:
`mailconsole check` and the console in a pseudo-terminal whose password commands sleep.
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SLEEP = "47.31"  # a marker: the secret commands' `sleep` is found by it in /proc


def _sleepers() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if SLEEP.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _wait(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _config(path: Path, accounts: int = 4) -> Path:
    command = f"sleep {SLEEP}; printf pw"
    parts = ["[settings]\ntimeout = 60\n"]
    for n in range(accounts):
        parts.append(
            f'[[account]]\nemail = "u{n}@acme.example"\n'
            f'[account.smtp]\nhost = "127.0.0.1"\nport = 1\npassword_command = "{command}"\n'
            f'[account.imap]\nhost = "127.0.0.1"\nport = 1\npassword_command = "{command}"\n'
        )
    path.write_text("\n".join(parts))
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCONSOLE")}
    env["MAILCONSOLE_STATE_DIR"] = str(tmp_path / "state")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    return env


@pytest.fixture(autouse=True)
def _no_sleepers_left() -> object:
    yield
    for pid in _sleepers():  # a failing test must not leave them behind either
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_commands_start_kills_them_all(tmp_path: Path, signum: int) -> None:
    config = _config(tmp_path / "accounts.toml")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "check", "--config", str(config), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
    )
    try:
        assert _wait(lambda: len(_sleepers()) >= 4), "the secret commands never started"
        proc.send_signal(signum)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == 128 + signum
    assert _wait(lambda: not _sleepers(), timeout=5), "secret commands outlived mailconsole"


def test_console_quits_when_its_terminal_goes_away(tmp_path: Path) -> None:
    """An SSH drop: the pty's master side closes, the kernel sends SIGHUP to the console."""
    config = _config(tmp_path / "accounts.toml")
    env = _env(tmp_path) | {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    pid, master = pty.fork()
    if pid == 0:  # the child: the console, with the pty as its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "console", "--config", str(config)], env)

    def drain() -> None:  # a terminal reads what the console writes
        with contextlib.suppress(OSError):
            while os.read(master, 65536):
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert _wait(lambda: len(_sleepers()) >= 4, timeout=30), "the checks never started"
        os.close(master)
        status: list[int] = []

        def exited() -> bool:
            done, code = os.waitpid(pid, os.WNOHANG)
            status.append(code)
            return done != 0

        assert _wait(exited, timeout=20), "the console did not quit"
        assert os.waitstatus_to_exitcode(status[-1]) == 128 + signal.SIGHUP
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert _wait(lambda: not _sleepers(), timeout=5), "secret commands outlived the console"
