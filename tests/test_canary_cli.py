"""`mailconsole canary`: arguments, consent, the demo's outcomes, JSON, recording and exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from console.cli import main
from console.cli_canary import hold_minutes
from console.core.store import ResultsStore, results_path


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("20", 20.0), ("0.1", 0.1), ("45s", 0.75), ("20m", 20.0), ("1h", 60.0), (".5", 0.5)],
)
def test_hold_takes_fractions_and_units(text: str, minutes: float) -> None:
    assert hold_minutes(text) == pytest.approx(minutes)


@pytest.mark.parametrize("text", ["", "soon", "-1", "5d", "1e3"])
def test_a_bad_hold_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        hold_minutes(text)


def test_headless_needs_yes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "accounts.toml"
    config.write_text(
        '[[account]]\nemail = "a@example.test"\n'
        '[account.smtp]\nhost = "127.0.0.1"\nport = 9\nsecurity = "tls"\n'
        '[account.imap]\nhost = "127.0.0.1"\nport = 9\nsecurity = "tls"\n'
    )
    assert main(["canary", "--config", str(config)]) == 3
    assert "--yes" in capsys.readouterr().err


def test_the_demo_shows_every_outcome_and_records_it(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    code = main(["canary", "--demo", "--tag", "canary", "--format", "json", "--hold", "3s"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # some canaries failed: those accounts are conditional
    canaries = {a["email"]: a["canary"] for a in doc["accounts"]}
    assert canaries["kim@initech.example"]["status"] == "ok"
    assert canaries["kim@initech.example"]["phase"] == "cleaned"
    assert canaries["kim@initech.example"]["cleaned"] is True
    assert canaries["lou@initech.example"]["cause"] == "reply_in_spam"
    assert canaries["max@initech.example"]["cause"] == "reply_moved"
    assert canaries["max@initech.example"]["folder"] == "Receipts"
    assert canaries["ned@initech.example"]["cause"] == "reply_not_received"
    assert canaries["ola@initech.example"]["cause"] == "reply_removed_later"
    assert canaries["lou@initech.example"]["fix"]  # cpanel's steps and the generic ones
    assert any("cPanel" in step for step in canaries["max@initech.example"]["fix"])
    assert {a["state"] for a in doc["accounts"]} == {"connected", "conditional"}
    with ResultsStore.open(results_path(demo=True)) as store:
        known = store.last_known(["lou@initech.example"])
    assert known["lou@initech.example"].check.canary["cause"] == "reply_in_spam"
    assert known["lou@initech.example"].check.state.value == "conditional"


def test_check_json_carries_the_recorded_canary(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    assert main(["canary", "--demo", "--account", "lou@initech.example", "--format", "json"]) == 1
    capsys.readouterr()
    main(["check", "--demo", "--tag", "canary", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    accounts = {a["email"]: a for a in doc["accounts"]}
    lou = accounts["lou@initech.example"]
    assert lou["canary"]["cause"] == "reply_in_spam" and lou["canary"]["recorded_at"]
    assert lou["state"] == "conditional"  # it connects, but its replies land in spam
    assert "canary" not in accounts["kim@initech.example"]  # never ran: no canary key
    assert doc["summary"]["conditional"] >= 1
