"""Helpers shared by the OAuth2 tests (no tests here): lab mail servers that check tokens at a
lab authorization server, and the environment for `mailconsole` subprocesses with a file keyring."""

from __future__ import annotations

import os
from pathlib import Path

from console.core.model import Security
from console.lab import IMAP_CAPABILITIES, ImapScenario, SmtpScenario
from console.lab.oauth_server import LabAuthServer

TESTS = Path(__file__).parent


def token_checking(auth: LabAuthServer) -> tuple[ImapScenario, SmtpScenario]:
    """IMAP and SMTP over TLS offering XOAUTH2, each introspecting tokens at `auth`."""
    imap = ImapScenario(
        security=Security.TLS,
        capabilities=(*IMAP_CAPABILITIES, "AUTH=XOAUTH2"),
        token_introspection=auth.introspection_for("imap"),
    )
    smtp = SmtpScenario(
        security=Security.TLS,
        extensions=("AUTH LOGIN PLAIN XOAUTH2",),
        token_introspection=auth.introspection_for("smtp"),
    )
    return imap, smtp


def keyring_env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment whose keyring is a file in `tmp_path` (tests/file_keyring.py)."""
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    env["PYTHON_KEYRING_BACKEND"] = "file_keyring.Keyring"
    env["MAILCONSOLE_TEST_KEYRING"] = str(tmp_path / "keyring.json")
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env
