"""File descriptor limits: the runner stays under the process's limit, and running out of
descriptors is reported as this computer's problem, never as the account's (real limits set with
`resource.setrlimit` in a subprocess, real sockets and secret commands)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.core.fdlimit import HEADROOM, capped_pools

pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


def test_pools_fit_the_budget() -> None:
    assert capped_pools(200, available=256 - HEADROOM) == (104, 26)
    assert capped_pools(8, available=10_000) == (8, 8)
    assert capped_pools(50, available=0) == (1, 1)


def _run(script: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_many_secret_commands_under_a_low_limit_are_not_secret_unavailable(
    tmp_path: Path,
) -> None:
    """100 accounts at --concurrency 100 with `ulimit -n 64`: the runner caps its pools, so no
    check fails for lack of descriptors (the server port is closed: every check is refused)."""
    result = _run(
        """
        import asyncio, json, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        from console.core.model import Account, ServerSettings, Protocol, Security, Settings
        from console.core.runner import Runner

        def account(n):
            smtp = ServerSettings(protocol=Protocol.SMTP, host="127.0.0.1", port=1,
                security=Security.TLS, username=f"u{n}@x.example",
                password_command="sleep 0.1; echo pw-{n}")
            return Account(email=f"u{n}@x.example", smtp=smtp, send_only=True)

        async def main():
            runner = Runner(Settings(concurrency=100, per_host=100, timeout=10))
            results = await runner.check_accounts([account(n) for n in range(100)])
            causes = {}
            for r in results:
                causes[str(r.smtp.cause)] = causes.get(str(r.smtp.cause), 0) + 1
            print(json.dumps(causes))

        asyncio.run(main())
        """
    )
    assert result == {"connection_refused": 100}, result


def test_running_out_of_descriptors_is_a_local_problem() -> None:
    """With every descriptor taken, secret commands and sockets fail with EMFILE: cause
    `unknown` and a message naming this computer, never `secret_unavailable`."""
    result = _run(
        """
        import asyncio, json, os, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
        from console.core.model import Account, ServerSettings, Protocol, Security, Settings
        from console.core.runner import Runner

        def account(n, command):
            smtp = ServerSettings(protocol=Protocol.SMTP, host="127.0.0.1", port=1,
                security=Security.TLS, username=f"u{n}@x.example", password_command=command)
            return Account(email=f"u{n}@x.example", smtp=smtp, send_only=True)

        async def main():
            runner = Runner(Settings(concurrency=4, per_host=4, timeout=5))
            hog = []
            try:
                while True:
                    hog.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                pass
            for fd in hog[-2:]:  # room for the command's first pipe, not for the rest
                os.close(fd)
            results = await runner.check_accounts([account(0, "echo pw")])
            for fd in hog[:-2]:
                os.close(fd)
            r = results[0].smtp
            print(json.dumps({"cause": str(r.cause), "message": r.message}))

        asyncio.run(main())
        """
    )
    assert result["cause"] == "unknown", result
    assert "ran out of file descriptors" in str(result["message"]), result


def test_no_descriptor_for_the_socket_is_a_local_problem() -> None:
    """The secret is in memory; the probe's socket() fails with EMFILE: `unknown`, this computer."""
    result = _run(
        """
        import asyncio, json, os, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
        from console.core.model import Account, ServerSettings, Protocol, Security, Settings
        from console.core.runner import Runner
        from console.core.secrets import MemorySecrets

        smtp = ServerSettings(protocol=Protocol.SMTP, host="127.0.0.1", port=1,
            security=Security.TLS, username="u@x.example")
        secrets = MemorySecrets({smtp.keyring_key: "pw"})

        async def main():
            runner = Runner(Settings(concurrency=4, per_host=4, timeout=5), secrets=secrets)
            account = Account(email="u@x.example", smtp=smtp, send_only=True)
            await runner.check_accounts([account])  # warm up: resolver threads, imports
            hog = []
            try:
                while True:
                    hog.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                pass
            results = await runner.check_accounts([account])
            for fd in hog:
                os.close(fd)
            r = results[0].smtp
            print(json.dumps({"cause": str(r.cause), "message": r.message}))

        asyncio.run(main())
        """
    )
    assert result["cause"] == "unknown", result
    assert "ran out of file descriptors" in str(result["message"]), result
