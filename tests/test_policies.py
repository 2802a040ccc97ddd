"""The dated provider-policy table: advice changes on the day an announced policy takes effect."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from importlib import resources

import pytest

from console.core.diagnosis import policies
from console.core.diagnosis.advice import advise, knowledge
from console.core.diagnosis.failure import PROVIDER_IDS

BEFORE_MS_SMTP = date(2026, 12, 30)
AFTER_MS_SMTP = date(2026, 12, 31)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE_WORDS = re.compile(rf"\b(19|20)\d\d\b|\b({_MONTHS})\b")


def test_table_is_valid_and_names_known_providers() -> None:
    text = resources.files("console.core.diagnosis").joinpath("policies.toml").read_text("utf-8")
    table = policies.parse_policies(tomllib.loads(text), PROVIDER_IDS)
    assert table == policies.policies()
    causes = {c.value for c in knowledge().causes}
    for p in table:
        assert p.causes <= causes
        assert p.protocols <= {"imap", "smtp"}
        assert p.after and p.source


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"policy": [{"provider": "gmail"}]}, "missing"),
        ({"policy": [{"provider": "gmail", "colour": "red"}]}, "unknown keys"),
    ],
)
def test_bad_tables_fail_loudly(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policies.parse_policies(raw)


def test_microsoft365_smtp_advice_changes_when_the_date_passes() -> None:
    before = advise("basic_auth_disabled", "smtp", "microsoft365", today=BEFORE_MS_SMTP)
    after = advise("basic_auth_disabled", "smtp", "microsoft365", today=AFTER_MS_SMTP)
    assert "switches password SMTP AUTH off by default" in before.explanation
    assert "at the end of December 2026" in before.explanation
    assert "Since the end of December 2026" in after.explanation
    assert "Since the end" not in before.explanation
    assert policies.allowed("microsoft365", "smtp", BEFORE_MS_SMTP) == "password"
    assert policies.allowed("microsoft365", "smtp", AFTER_MS_SMTP) == "oauth2"
    assert [p.provider for p in policies.upcoming(BEFORE_MS_SMTP)] == ["microsoft365"]
    assert policies.upcoming(AFTER_MS_SMTP) == ()


@pytest.mark.parametrize(
    ("provider", "day", "allowed", "words"),
    [
        ("outlook", date(2024, 9, 15), None, "From 16 September 2024"),
        ("outlook", date(2024, 9, 16), "oauth2", "Since 16 September 2024,"),
        ("google_workspace", date(2024, 9, 29), None, "From 30 September 2024"),
        ("google_workspace", date(2024, 9, 30), "app_password", "Since 30 September 2024"),
        ("gmail", date(2026, 12, 3), "app_password", "Since 30 May 2022"),
    ],
)
def test_dated_notes_for_password_logins(
    provider: str, day: date, allowed: str | None, words: str
) -> None:
    advice = advise("basic_auth_disabled", "imap", provider, today=day)
    assert words in advice.explanation
    assert policies.allowed(provider, "imap", day) == allowed


def test_no_note_for_other_causes_or_providers() -> None:
    day = AFTER_MS_SMTP
    assert policies.notes("microsoft365", "tls_failed", "smtp", day) == ()
    assert policies.notes("fastmail", "basic_auth_disabled", "smtp", day) == ()
    assert policies.notes(None, "basic_auth_disabled", "smtp", day) == ()


def test_fix_texts_of_login_policy_causes_take_their_dates_from_the_table() -> None:
    """provider_fixes.toml states no date for the causes the table covers."""
    data = knowledge()
    for p in policies.policies():
        for provider in (p.provider,):
            info = data.providers[provider]
            for cause, entry in info.causes.items():
                if cause.value not in p.causes:
                    continue
                parts = [entry.common, *entry.per_protocol.values()]
                for part in parts:
                    for text in (part.note, *part.fix):
                        assert not _DATE_WORDS.search(text), (provider, cause, text)
