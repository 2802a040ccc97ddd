"""SIGTERM and SIGHUP end the program the way Ctrl+C (SIGINT) does.

`timeout 3 mailconsole check` sends SIGTERM and a dropped SSH session sends SIGHUP; both used to
kill the program outright, leaving password_command shells running and the demo's temporary
folders behind. Here both are turned into SIGINT, which asyncio answers by cancelling the running
work (every secret command is killed first, console/core/secrets.py) and which otherwise
raises KeyboardInterrupt, so every `finally` and context manager runs. The exit status is then the
conventional 128 + the signal's number (143 for SIGTERM, 129 for SIGHUP, 130 for SIGINT).
"""

from __future__ import annotations

import signal
from types import FrameType

from console.core.secrets import kill_secret_commands

HANDLED = (signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    kill_secret_commands()  # at once: one still being started would escape the cancellation
    signal.raise_signal(signal.SIGINT)


def note(signum: int) -> None:
    """Record a signal that the console handled itself (console/ui/app.py), for exit_status()."""
    _received.append(signum)


def install() -> None:
    """Handle SIGTERM and SIGHUP like SIGINT (call once, from the main thread)."""
    for signum in HANDLED:
        signal.signal(signum, _as_interrupt)


def exit_status() -> int:
    """The conventional status after an interruption: 128 + the first signal received."""
    return 128 + (_received[0] if _received else signal.SIGINT)
