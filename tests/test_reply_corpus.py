"""The reply corpus (tests/data/replies/, docs/reply-corpus.md): real server replies, each with the
cause a careful admin would name. Every entry is diagnosed as its cause (or an accepted
alternative), and every rule that decides on words or codes was written for, and matches, at
least one entry: a rule that fits no real reply has not earned its place.

How well the rules do on families they were not written from is measured, not tested:
benchmarks/diagnosis_corpus.py (leave-one-family-out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.diagnosis.classify import diagnose, matches, read_evidence
from console.core.diagnosis.rules import rule_table
from console.core.model import Cause
from tests.reply_corpus import CorpusError, Entry, load_corpus

CORPUS = load_corpus()
BY_ID = {entry.id: entry for entry in CORPUS}

KNOWN_MISSES: dict[str, str] = {
    "aiosmtpd-smtp-500-auth-not-recognized": (
        "aiosmtpd says this to AUTH in a HELO session (a client bug); the same words from a server "
        "without AUTH mean no password login at all, which is what the rules answer. The console "
        "always sends EHLO, so it never meets the first case."
    ),
}
"""Entries the rules get wrong today, with why (xfail, strict: a fix must remove the entry)."""

WORDLESS_TIERS = frozenset({"stage", "exception"})
"""Tiers that decide on the rung or the exception, not on a server's words."""

NOT_YET_EARNED = frozenset(
    {
        "banner-garbage",
        "banner-not-smtp",
        "banner-imap-on-smtp-text",
        "banner-smtp-on-imap-text",
        "microsoft-locked",
        "phrase-no-auth-even-after-starttls",
        "phrase-auth-not-offered-before-tls",
        "phrase-account-held-for-security",
        "imap-nonexistent-user",
        "imap-noperm",
        "imap-corruption",
        "smtp-mechanism-before-tls",
        "words-contact-admin",
        "words-oauth",
        "reply-534",
        "reply-5xx-auth-before-tls",
        "evidence-imap-greeting-no",
    }
)
"""Rules written (round 1) from the research catalog's descriptions, the RFCs or wording seen in
client libraries, for which the corpus holds no real reply yet. The list only shrinks: a new
rule must come with the entries it was written for, and a rule that gains entries leaves it."""


def _params() -> list[object]:
    return [
        pytest.param(
            entry,
            id=entry.id,
            marks=[pytest.mark.xfail(reason=KNOWN_MISSES[entry.id], strict=True)]
            if entry.id in KNOWN_MISSES
            else [],
        )
        for entry in CORPUS
    ]


@pytest.mark.parametrize("entry", _params())
def test_each_reply_gets_its_cause(entry: Entry) -> None:
    found = diagnose(entry.failure(), entry.provider)
    assert found.cause in entry.accepted, (entry.text, found)


def test_the_corpus_is_real_sized_and_sourced() -> None:
    families = {entry.family for entry in CORPUS}
    assert len(CORPUS) >= 60 and len(families) >= 10
    assert all(entry.source.startswith(("https://", "http://")) for entry in CORPUS)
    texts = [(entry.protocol, entry.text) for entry in CORPUS]
    repeated = {text for text in texts if texts.count(text) > 1}
    assert not repeated, "the same reply twice is not a new entry"


def test_known_misses_name_real_entries() -> None:
    assert set(KNOWN_MISSES) <= set(BY_ID)


def test_every_rule_that_reads_words_was_written_for_real_replies() -> None:
    table = rule_table()
    unearned, wrong_refs = [], []
    for rule in table.rules:
        if rule.tier in WORDLESS_TIERS:
            continue
        if not rule.corpus:
            unearned.append(rule.id)
            continue
        for rid in rule.corpus:
            entry = BY_ID.get(rid)
            if entry is None or not matches(
                rule, read_evidence(entry.failure(), entry.provider, table)
            ):
                wrong_refs.append(f"{rule.id} -> {rid}")
    assert not set(unearned) - NOT_YET_EARNED, "rules with no corpus entry"
    assert not NOT_YET_EARNED - set(unearned), (
        "these rules have entries now: drop them from the list"
    )
    assert not wrong_refs, f"corpus entries a rule lists but does not match: {wrong_refs}"


def test_every_cause_a_server_can_say_is_in_the_corpus() -> None:
    said = {entry.cause for entry in CORPUS} | {c for entry in CORPUS for c in entry.also}
    # Causes no server reply can carry: found before any server speaks (settings, secrets,
    # DNS, connect), from the TLS layer, or by the reply canary after delivery.
    not_in_replies = {
        Cause.SETTINGS_MISSING,
        Cause.SETTINGS_INVALID,
        Cause.SECRET_UNAVAILABLE,
        Cause.DNS_FAILED,
        Cause.TIMEOUT,
        Cause.TLS_MISMATCH,
        Cause.CERTIFICATE_INVALID,
        Cause.TLS_FAILED,
        Cause.WRONG_SERVICE,
        Cause.UNKNOWN,
        Cause.REPLY_NOT_RECEIVED,
        Cause.REPLY_IN_SPAM,
        Cause.REPLY_MOVED,
        Cause.REPLY_REMOVED_LATER,
        Cause.RECIPIENT_REFUSED,
    }
    assert set(Cause) - not_in_replies - said == set()


# -- the loader ------------------------------------------------------------------------------


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text)
    return directory


GOOD = """family = "lab"
kind = "software"
name = "Lab"

[[reply]]
id = "lab-1"
protocol = "imap"
stage = "auth"
text = "A1 NO [AUTHENTICATIONFAILED] Authentication failed."
cause = "auth_failed"
source = "https://example.org/issue/1"
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('family = "lab"', 'family = "other"'), "family 'other' must be the file name"),
        (('cause = "auth_failed"', 'cause = "bad_password"'), "'bad_password' is not a Cause"),
        (('stage = "auth"', 'stage = "dns"'), "not one where a server replies"),
        (('id = "lab-1"', 'id = "x-1"'), "must start with the family"),
        (('source = "https://example.org/issue/1"', 'source = "a forum"'), "must be an address"),
        (('protocol = "imap"', 'protocol = "imap"\ncode = 535'), "code is an SMTP reply code"),
        (('text = "A1', 'txet = "A1'), "missing ['text']"),
        (("[[reply]]", "[[reply]\n"), "lab.toml:"),
    ],
)
def test_a_broken_file_is_named_with_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    directory = _write(tmp_path / "replies", "lab.toml", GOOD.replace(*change))
    with pytest.raises(CorpusError, match=r"lab\.toml") as info:
        load_corpus.__wrapped__(directory)
    assert message in str(info.value)


def test_ids_are_unique_across_files(tmp_path: Path) -> None:
    directory = _write(tmp_path / "replies", "lab.toml", GOOD)
    _write(directory, "lab.more.toml", GOOD)
    with pytest.raises(CorpusError, match=r"'lab-1' is also in lab(\.more)?\.toml"):
        load_corpus.__wrapped__(directory)
    (directory / "lab.more.toml").unlink()
    (entry,) = load_corpus.__wrapped__(directory)
    assert (entry.family, entry.kind, entry.cause) == ("lab", "software", Cause.AUTH_FAILED)
