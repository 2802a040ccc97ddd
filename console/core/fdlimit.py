"""File descriptors: raise the soft limit at start and keep the runner's concurrency under it.

Each check in flight holds one socket; a secret command holds about four descriptors while it
runs (three pipes and a process handle). With `ulimit -n 256` and `--concurrency 200` the process
ran out of descriptors and every check that hit the wall looked like the account's fault. So the
soft limit is raised to the hard limit at start (bounded), and the runner sizes its pools to what
is left after `HEADROOM` descriptors for everything else (the store, logs, the terminal, TLS).
"""

from __future__ import annotations

import os

try:
    import resource
except ImportError:  # pragma: no cover  (not POSIX)
    resource = None  # type: ignore[assignment]

MAX_SOFT_LIMIT = 65536
"""We never ask for more than this, even when the hard limit is unlimited."""
HEADROOM = 48
"""Descriptors left for everything that is not a check (files, logs, the terminal, threads)."""
PER_CONNECTION = 1
PER_SECRET_COMMAND = 4


def raise_soft_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (at most `MAX_SOFT_LIMIT`); the result."""
    if resource is None:  # pragma: no cover
        return MAX_SOFT_LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_SOFT_LIMIT if hard == resource.RLIM_INFINITY else min(hard, MAX_SOFT_LIMIT)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # not allowed here: keep what we have
            pass
    return MAX_SOFT_LIMIT if soft == resource.RLIM_INFINITY else int(soft)


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc: assume a few
        return 16


def budget() -> int:
    """Descriptors available to checks now: the soft limit minus what is open and the headroom."""
    if resource is None:  # pragma: no cover
        return MAX_SOFT_LIMIT
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = MAX_SOFT_LIMIT if soft == resource.RLIM_INFINITY else int(soft)
    return max(0, limit - open_descriptors() - HEADROOM)


def capped_pools(concurrency: int, available: int | None = None) -> tuple[int, int]:
    """(connections, secret commands) at once, each at most `concurrency`, together within the
    descriptor budget: half of it for connections, half for secret commands (at least 1 each)."""
    available = budget() if available is None else available
    connections = min(concurrency, (available // 2) // PER_CONNECTION)
    commands = min(concurrency, (available // 2) // PER_SECRET_COMMAND)
    return max(1, connections), max(1, commands)
