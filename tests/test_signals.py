"""SIGTERM and SIGHUP end `mailconsole check` (and the demo) like Ctrl+C: real signals to a real
subprocess whose password_command sleeps; no child survives and no temporary folder is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


def _alive(pid: int) -> bool:
    """Running (a zombie that init has not reaped yet holds nothing and counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(_alive(int(p)) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == pgid)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _wait_for(path: Path, count: int, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(p) for p in path.read_text().split()] if path.exists() else []
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"only {path.read_text() if path.exists() else ''!r} started")


def _config(tmp_path: Path, pids: Path, accounts: int) -> Path:
    # the helper records its pid, then starts a grandchild that sleeps (both must be killed)
    command = f"echo $$ >> {pids}; sleep 60 & echo $! >> {pids}; wait"
    parts = ["[settings]\ntimeout = 30\nconcurrency = 8\n"]
    for n in range(accounts):
        parts.append(
            f'[[account]]\nemail = "a{n}@acme.example"\n'
            '[account.smtp]\nhost = "127.0.0.1"\nport = 1\nsecurity = "tls"\n'
            f"password_command = '''{command}'''\n"
        )
    path = tmp_path / "accounts.toml"
    path.write_text("\n".join(parts))
    return path


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_signal_kills_every_secret_command(tmp_path: Path, signum: int, status: int) -> None:
    pids = tmp_path / "pids"
    config = _config(tmp_path, pids, accounts=3)
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["MAILCONSOLE_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "check", "--config", str(config), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        started = _wait_for(pids, 6)  # 3 shells and 3 sleeps
        groups = {g for g in (_pgid(p) for p in started) if g is not None}
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err.decode()
    assert b"Traceback" not in err, err.decode()
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in started if _alive(p)]
    assert not [g for g in groups if _group_alive(g)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_demo_removes_its_temporary_folders_on_a_signal(tmp_path: Path, signum: int) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["TMPDIR"] = str(temp)
    env["MAILCONSOLE_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "--demo", "canary", "--hold", "10m", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while not any(temp.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(temp.iterdir()), "the demo made no temporary folder"
        time.sleep(1.0)  # let it get going
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err.decode()[-2000:]
    assert list(temp.iterdir()) == []


def _run_tui_in_pty(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    return proc, master


def _drain(master: int, stop: list[bool]) -> None:
    while not stop:
        try:
            if not os.read(master, 65536):
                return
        except OSError:
            return


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_the_console_cleans_up_on_a_signal(tmp_path: Path, signum: int, status: int) -> None:
    """The TUI (on a pseudo-terminal) with checks whose password_command hangs: the signal ends
    it with the conventional status, and no secret command survives."""
    import threading

    pids = tmp_path / "pids"
    config = _config(tmp_path, pids, accounts=2)
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["MAILCONSOLE_STATE_DIR"] = str(tmp_path / "state")
    proc, master = _run_tui_in_pty(["--config", str(config)], env)
    stop: list[bool] = []
    reader = threading.Thread(target=_drain, args=(master, stop), daemon=True)
    reader.start()
    try:
        started = _wait_for(pids, 4)
        proc.send_signal(signum)
        proc.wait(timeout=20)
    finally:
        stop.append(True)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == status
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [p for p in started if _alive(p)]
    assert not survivors, [_state(p) for p in survivors]


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return f"{pid} gone"
    return f"{pid} " + " ".join(
        line for line in status.splitlines() if line.startswith(("State", "PPid", "Name"))
    )


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_the_demo_console_removes_its_folders_on_a_signal(
    tmp_path: Path, signum: int, status: int
) -> None:
    import threading

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["TMPDIR"] = str(temp)
    env["MAILCONSOLE_STATE_DIR"] = str(tmp_path / "state")
    proc, master = _run_tui_in_pty(["--demo"], env)
    stop: list[bool] = []
    threading.Thread(target=_drain, args=(master, stop), daemon=True).start()
    try:
        deadline = time.monotonic() + 20
        while len(list(temp.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(temp.iterdir()), "the demo made no temporary folder"
        time.sleep(2.0)  # the console is up and checking
        proc.send_signal(signum)
        proc.wait(timeout=20)
    finally:
        stop.append(True)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == status
    assert list(temp.iterdir()) == []
