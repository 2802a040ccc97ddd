"""`mailconsole login`: a client's roster signed in one after another, and what it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _login(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "console", "login", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )


def test_a_tag_signs_in_every_account_that_signs_in_then_checks_them() -> None:
    """The demo's Fabrikam tag: Sam uses a password (skipped); Ines, Omar and Pia sign in."""
    done = _login("--demo", "--tag", "fabrikam", "--format", "json")
    assert done.returncode == 0, done.stderr
    for number, name in enumerate(("ines", "omar", "pia"), 1):
        assert f"[{number}/3] {name}@fabrikam.example" in done.stderr
    assert done.stderr.count("enter the code") == 3
    report = json.loads(done.stdout)
    assert {a["email"]: a["state"] for a in report["accounts"]} == {
        "ines@fabrikam.example": "connected",
        "omar@fabrikam.example": "connected",
        "pia@fabrikam.example": "connected",
    }


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "name the accounts to sign in"),
        (("sam@fabrikam.example",), "does not use a built-in sign-in"),
        (("--tag", "tyrell"), "no account with these tags uses a built-in sign-in"),
    ],
)
def test_what_cannot_sign_in_is_named(args: tuple[str, ...], words: str) -> None:
    done = _login("--demo", *args)
    assert done.returncode == 3
    assert words in done.stderr and done.stdout == ""
