"""Diagnosis classes that wording alone used to get wrong (issue 11), each with its wrong reading.

Every reply names its source in the rule's `why` (rules.toml); the ids of the rules that decide
are asserted, so a precedence change shows up here.
"""

from __future__ import annotations

import pytest

from console.core.diagnosis import advise
from console.core.diagnosis.classify import diagnose
from console.core.diagnosis.failure import Failure
from console.core.model import Cause, Protocol, Stage

IMAP, SMTP = Protocol.IMAP, Protocol.SMTP


@pytest.mark.parametrize(
    ("protocol", "text", "rule"),
    [
        # RFC 5530 section 3
        (
            IMAP,
            "c1 NO [AUTHORIZATIONFAILED] No such authorization-ID",
            "phrase-authorization-failed",
        ),
        (IMAP, "c1 NO [AUTHORIZATIONFAILED] Denied", "imap-authorizationfailed"),
        # Cyrus SASL SASL_NOAUTHZ as Postfix passes it on; Cyrus imapd's own login reply
        (
            SMTP,
            "535 5.7.8 Error: authentication failed: authorization failure",
            "phrase-authorization-failed",
        ),
        (IMAP, "a NO Login failed: authorization failure", "phrase-authorization-failed"),
        (
            IMAP,
            "a NO Login failed: SASL(-14): authorization failure: not allowed",
            "phrase-authorization-failed",
        ),
    ],
)
def test_sasl_authorization_is_not_a_wrong_password(
    protocol: Protocol, text: str, rule: str
) -> None:
    found = diagnose(Failure(protocol, Stage.AUTH, text))
    assert (found.cause, found.rule) == (Cause.ACCOUNT_UNAVAILABLE, rule)
    fixes = " ".join(advise(found.cause, protocol).fix)
    assert "authorization failed" in fixes and "retyping the password will not help" in fixes


def test_wrong_password_stays_auth_failed() -> None:
    text = "535 5.7.8 Error: authentication failed: authentication failure"  # DV-05
    assert diagnose(Failure(SMTP, Stage.AUTH, text)).cause is Cause.AUTH_FAILED


@pytest.mark.parametrize(
    ("greeting", "expected"),
    [
        ("* NO Service unavailable", Cause.SERVER_UNAVAILABLE),
        ("* NO [UNAVAILABLE] Too many connections", Cause.RATE_LIMITED),
        ("* NO Server is shutting down", Cause.SERVER_UNAVAILABLE),
        ("* NO nope", Cause.SERVER_UNAVAILABLE),  # evidence-imap-greeting-no
    ],
)
def test_an_imap_greeting_with_no_is_an_imap_server_refusing(
    greeting: str, expected: Cause
) -> None:
    found = diagnose(Failure(IMAP, Stage.GREETING, greeting=greeting))
    assert found.cause is expected, found
    assert found.rule != "banner-not-imap"


def test_a_pop3_or_smtp_banner_on_the_imap_port_is_still_wrong_service() -> None:
    for banner in ("+OK POP3 ready", "220 mail.example.test ESMTP"):
        assert diagnose(Failure(IMAP, Stage.GREETING, greeting=banner)).cause is (
            Cause.WRONG_SERVICE
        )


@pytest.mark.parametrize(
    "text",
    [
        "a NO Your account is temporarily restricted for security reasons",
        "535 5.7.8 Account temporarily suspended due to suspicious activity",
        "a NO Sign-in temporarily blocked: unusual activity on this account",
    ],
)
def test_an_account_held_temporarily_for_security_is_an_account_problem(text: str) -> None:
    protocol = SMTP if text[0].isdigit() else IMAP
    found = diagnose(Failure(protocol, Stage.AUTH, text))
    assert (found.cause, found.rule) == (
        Cause.ACCOUNT_UNAVAILABLE,
        "phrase-account-held-for-security",
    )


def test_too_many_failed_logins_stays_rate_limited() -> None:
    text = "a NO [ALERT] Account temporarily locked due to too many failed login attempts"
    assert diagnose(Failure(IMAP, Stage.AUTH, text)).cause is Cause.RATE_LIMITED


@pytest.mark.parametrize(
    "text",
    [
        # Dovecot 2.3 (strings of its imap binary)
        "a NO Internal error occurred. Refer to server log for more information. [2024-01-01]",
        "a NO [SERVERBUG] Internal error occurred. Refer to server log for more information.",
        "a NO Mailbox is temporarily unavailable, try again later",
        # Cyrus IMAP IMAP_IOERROR
        "a NO System I/O error",
        # YA-07
        "a NO [UNAVAILABLE] Server error - Please try again later",
    ],
)
def test_a_server_error_on_select_is_not_a_missing_mailbox(text: str) -> None:
    found = diagnose(Failure(IMAP, Stage.MAILBOX, text))
    assert found.cause is Cause.SERVER_UNAVAILABLE, found


@pytest.mark.parametrize(
    "text",
    [
        "A3 NO Mailbox doesn't exist: Apple",  # SEL-03
        "A3 NO [NONEXISTENT] No such mailbox",
        "A3 NO Mailbox `inbox` not found",  # SEL-04
    ],
)
def test_a_missing_mailbox_is_still_mailbox_unavailable(text: str) -> None:
    assert diagnose(Failure(IMAP, Stage.MAILBOX, text)).cause is Cause.MAILBOX_UNAVAILABLE
