"""Knowledge: every cause explained for both protocols, provider advice first, data validated."""

from __future__ import annotations

import copy
import re
import tomllib
from importlib import resources
from typing import Any

import pytest

from console.core.diagnosis import REPLY_TRACKING_CHECKLIST, STATE_MEANING, advise
from console.core.diagnosis.advice import (
    CAUSES_FILE,
    PROVIDER_FIXES_FILE,
    TITLE_MAX,
    KnowledgeDataError,
    knowledge,
    parse_knowledge,
    provider_name,
)
from console.core.model import (
    NO_AUTO_RETRY_CAUSES,
    TRANSIENT_CAUSES,
    Cause,
    Protocol,
    State,
)

C = Cause
IMAP = Protocol.IMAP
SMTP = Protocol.SMTP

TYPICAL: dict[str, tuple[Cause, ...]] = {
    "gmail": (
        C.AUTH_FAILED,
        C.APP_PASSWORD_REQUIRED,
        C.WEB_LOGIN_REQUIRED,
        C.PROTOCOL_DISABLED,
        C.RATE_LIMITED,
    ),
    "google_workspace": (C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED, C.PROTOCOL_DISABLED),
    "outlook": (C.BASIC_AUTH_DISABLED, C.AUTH_FAILED, C.PROTOCOL_DISABLED),
    "microsoft365": (C.BASIC_AUTH_DISABLED, C.AUTH_FAILED, C.PROTOCOL_DISABLED),
    "yahoo": (C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED),
    "aol": (C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED),
    "icloud": (C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED),
    "zoho": (C.PROTOCOL_DISABLED, C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED),
    "fastmail": (C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED),
    "yandex": (C.PROTOCOL_DISABLED, C.AUTH_FAILED, C.APP_PASSWORD_REQUIRED),
    "mailru": (C.APP_PASSWORD_REQUIRED, C.AUTH_FAILED),
    "gmx": (C.PROTOCOL_DISABLED, C.AUTH_FAILED),
    "webde": (C.PROTOCOL_DISABLED, C.AUTH_FAILED),
    "cpanel": (C.AUTH_FAILED, C.CERTIFICATE_INVALID, C.MAILBOX_UNAVAILABLE),
    "generic": (C.AUTH_FAILED, C.CERTIFICATE_INVALID, C.TLS_FAILED),
}
"""The causes each provider's users actually meet; each must have its own advice."""

AMBIGUOUS_AUTH = (
    "gmail",
    "google_workspace",
    "yahoo",
    "aol",
    "icloud",
    "zoho",
    "fastmail",
    "mailru",
    "yandex",
)
"""Providers that answer a missing app password like a wrong password (DESIGN section 5)."""

APP_PASSWORD = re.compile(
    r"app(lication)?[- ]?(specific )?password|password for external applications", re.I
)


def _all_text(cause: Cause, protocol: Protocol, provider: str | None) -> str:
    a = advise(cause, protocol, provider)
    return "\n".join([a.title, a.explanation, *a.consequences, *a.fix, *a.links])


# -- every cause, both protocols --------------------------------------------------------------


@pytest.mark.parametrize("protocol", list(Protocol))
@pytest.mark.parametrize("cause", list(Cause))
def test_every_cause_is_explained(cause: Cause, protocol: Protocol) -> None:
    a = advise(cause, protocol)
    assert a.cause is cause and a.protocol is protocol and a.provider is None
    assert 0 < len(a.title) <= TITLE_MAX
    assert len(a.explanation) > 40
    assert len(a.consequences) >= 2 and all(a.consequences)
    assert a.fix and all(len(step) > 10 for step in a.fix)
    assert a.transient is (cause in TRANSIENT_CAUSES)
    assert a.retry_later_may_help is a.transient
    assert a.auto_retry is (cause not in NO_AUTO_RETRY_CAUSES)
    assert all(link.startswith("https://") for link in a.links)


@pytest.mark.parametrize("cause", list(Cause))
def test_consequences_name_what_breaks(cause: Cause) -> None:
    smtp = " ".join(advise(cause, SMTP).consequences).lower()
    imap = " ".join(advise(cause, IMAP).consequences).lower()
    assert "campaigns" in smtp and "do not go out" in smtp
    for words in ("replies are not detected", '"replied"', "follow-ups", "statistics", "warm-up"):
        assert words in imap, words


def test_titles_are_distinct_and_protocol_words_are_filled() -> None:
    titles = {advise(cause, IMAP).title for cause in Cause}
    assert len(titles) == len(Cause)
    assert advise(C.PROTOCOL_DISABLED, IMAP).title == "IMAP access is off"
    assert advise(C.PROTOCOL_DISABLED, SMTP).title == "SMTP access is off"


@pytest.mark.parametrize("provider", [None, *sorted(knowledge().providers)])
def test_no_placeholder_or_duplicate_is_left_anywhere(provider: str | None) -> None:
    for cause in Cause:
        for protocol in Protocol:
            a = advise(cause, protocol, provider)
            assert not re.search(r"\{\w*\}", _all_text(cause, protocol, provider))
            assert len(set(a.fix)) == len(a.fix) and len(set(a.links)) == len(a.links)


def test_advise_accepts_plain_strings_and_ignores_unknown_providers() -> None:
    assert advise("auth_failed", "imap", " Gmail ") == advise(C.AUTH_FAILED, IMAP, "gmail")
    unknown = advise(C.AUTH_FAILED, IMAP, "some-isp")
    assert unknown == advise(C.AUTH_FAILED, IMAP, None) and unknown.provider is None
    assert "the provider" in advise(C.APP_PASSWORD_REQUIRED, IMAP).explanation
    assert provider_name("microsoft365") == "Microsoft 365" and provider_name("nope") is None


# -- provider advice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "cause"), [(p, c) for p, causes in TYPICAL.items() for c in causes]
)
def test_providers_have_their_own_first_steps(provider: str, cause: Cause) -> None:
    generic = set(advise(cause, IMAP).fix)
    a = advise(cause, IMAP, provider)
    assert a.provider == provider
    assert a.fix[0] not in generic
    assert set(a.fix) > generic  # the generic steps follow


@pytest.mark.parametrize("provider", AMBIGUOUS_AUTH)
def test_ambiguous_auth_failure_names_both_app_password_first(provider: str) -> None:
    a = advise(C.AUTH_FAILED, IMAP, provider)
    assert APP_PASSWORD.search(a.fix[0]), a.fix[0]
    later = [step.lower() for step in a.fix[1:]]
    assert any("password" in s and ("check" in s or "wrong" in s) for s in later)
    assert "wrong password" in a.explanation


def test_gmail_app_password_steps_and_links() -> None:
    a = advise(C.APP_PASSWORD_REQUIRED, IMAP, "gmail")
    text = "\n".join(a.fix)
    assert "https://myaccount.google.com/apppasswords" in text
    assert "2-Step Verification" in text
    assert "https://support.google.com/accounts/answer/185833" in a.links
    auth = advise(C.AUTH_FAILED, SMTP, "gmail")
    assert auth.fix[0].startswith("Most likely: Gmail wants an app password")
    assert "https://myaccount.google.com/apppasswords" in auth.links


def test_workspace_admin_can_switch_imap_and_app_passwords_off() -> None:
    imap_off = _all_text(C.PROTOCOL_DISABLED, IMAP, "google_workspace")
    assert "Admin console" in imap_off and "POP and IMAP access" in imap_off
    auth = advise(C.AUTH_FAILED, IMAP, "google_workspace")
    assert "administrator" in auth.fix[0]
    assert "https://myaccount.google.com/apppasswords" in "\n".join(auth.fix)  # inherited


def test_microsoft_wants_oauth2_and_smtp_auth_is_a_separate_switch() -> None:
    for provider in ("microsoft365", "outlook"):
        imap = advise(C.BASIC_AUTH_DISABLED, IMAP, provider)
        assert "OAuth2" in imap.fix[0] and 'auth = "oauth2"' in imap.fix[0]
        assert "mailconsole login EMAIL" in imap.fix[0]  # the console's own sign-in first
        assert "wrong password" in _all_text(C.BASIC_AUTH_DISABLED, IMAP, provider)
    smtp = "\n".join(advise(C.BASIC_AUTH_DISABLED, SMTP, "microsoft365").fix)
    assert "Set-CASMailbox" in smtp and "-SmtpClientAuthenticationDisabled $false" in smtp
    assert "Manage email apps" in smtp
    login_failed = advise(C.AUTH_FAILED, IMAP, "microsoft365")
    assert "OAuth2" in login_failed.fix[0]


def test_zoho_imap_access_switch_and_region_hosts() -> None:
    a = advise(C.PROTOCOL_DISABLED, IMAP, "zoho")
    assert "IMAP Access" in a.fix[0] and "Settings > Mail Accounts" in a.fix[0]
    assert any("zoho.eu" in step for step in advise(C.AUTH_FAILED, IMAP, "zoho").fix)


@pytest.mark.parametrize(
    ("provider", "cause", "expected"),
    [
        ("gmx", C.PROTOCOL_DISABLED, "POP3 und IMAP Zugriff erlauben"),
        ("webde", C.PROTOCOL_DISABLED, "POP3 und IMAP Zugriff erlauben"),
        ("gmx", C.AUTH_FAILED, "off by default"),
        ("yahoo", C.APP_PASSWORD_REQUIRED, "https://login.yahoo.com/account/security"),
        ("aol", C.APP_PASSWORD_REQUIRED, "https://login.aol.com/account/security"),
        ("icloud", C.APP_PASSWORD_REQUIRED, "appleid.apple.com"),
        ("icloud", C.AUTH_FAILED, "App-Specific Passwords"),
        ("fastmail", C.AUTH_FAILED, "Mail (IMAP/POP/SMTP)"),
        ("yandex", C.PROTOCOL_DISABLED, "Email clients"),
        ("yandex", C.AUTH_FAILED, "app password"),
        ("mailru", C.APP_PASSWORD_REQUIRED, "external applications"),
        ("cpanel", C.MAILBOX_UNAVAILABLE, "INBOX."),
        ("amazon_ses", C.AUTH_FAILED, "SMTP credentials"),
        ("sendgrid", C.AUTH_FAILED, '"apikey"'),
    ],
)
def test_provider_specific_content(provider: str, cause: Cause, expected: str) -> None:
    assert expected in _all_text(cause, IMAP, provider)


def test_wrong_service_on_the_imap_port_names_the_smtp_banner() -> None:
    imap = advise(C.WRONG_SERVICE, IMAP)
    assert "220" in imap.explanation and "ESMTP" in imap.explanation
    assert "993" in imap.fix[0] and "465, 587 and 25 are SMTP ports" in imap.fix[0]
    smtp = advise(C.WRONG_SERVICE, SMTP)
    assert "* OK" in smtp.explanation and "465" in smtp.fix[0]


def test_port_pairs_follow_the_protocol() -> None:
    assert "993" in advise(C.TLS_MISMATCH, IMAP).fix[0]
    assert "465" in advise(C.TLS_MISMATCH, SMTP).fix[0]
    assert "587" in advise(C.TLS_MISMATCH, SMTP, "icloud").fix[0]


# -- reply tracking checklist and state meanings ---------------------------------------------


def test_reply_tracking_checklist() -> None:
    assert isinstance(REPLY_TRACKING_CHECKLIST, tuple) and len(REPLY_TRACKING_CHECKLIST) == 4
    enabled, forwarding, inbox, reply_mailbox = REPLY_TRACKING_CHECKLIST
    assert "IMAP access is enabled" in enabled
    assert "No forwarding" in forwarding
    assert "INBOX" in inbox and "15-20 minutes" in inbox
    assert "moves" in inbox and "archives" in inbox and "deletes" in inbox
    assert "different mailbox" in reply_mailbox and "reply_address" in reply_mailbox


def test_state_meaning() -> None:
    assert set(STATE_MEANING) == set(State)
    assert all(isinstance(text, str) and text for text in STATE_MEANING.values())
    assert "replies are not tracked" in STATE_MEANING[State.CONDITIONAL]
    assert "do not go out" in STATE_MEANING[State.DISCONNECTED]
    assert "Sends and tracks replies" in STATE_MEANING[State.CONNECTED]


# -- the data files are checked when loaded ---------------------------------------------------


def _data(name: str) -> dict[str, Any]:
    text = resources.files("console.core.diagnosis").joinpath(name).read_text("utf-8")
    return tomllib.loads(text)


def test_the_shipped_data_loads_once() -> None:
    assert knowledge() is knowledge()
    assert parse_knowledge(_data(CAUSES_FILE), _data(PROVIDER_FIXES_FILE)) == knowledge()


def _broken(edit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    causes = copy.deepcopy(_data(CAUSES_FILE))
    providers = copy.deepcopy(_data(PROVIDER_FIXES_FILE))
    cause = causes["cause"]
    if edit == "missing-cause":
        del cause["rate_limited"]
    elif edit == "unknown-cause":
        cause["rate_limitted"] = cause["rate_limited"]
    elif edit == "missing-field":
        del cause["timeout"]["consequence"]
    elif edit == "unknown-field":
        cause["timeout"]["fixes"] = ["x"]
    elif edit == "transient":
        cause["auth_failed"]["transient"] = True
    elif edit == "placeholder":
        cause["timeout"]["fix"] = ["Use {protocl} port {tls_port}"]
    elif edit == "title":
        cause["timeout"]["title"] = "x" * (TITLE_MAX + 1)
    elif edit == "link":
        cause["timeout"]["links"] = ["http://example.com/plain"]
    elif edit == "state":
        del causes["state_meaning"]["checking"]
    elif edit == "unknown-provider":
        providers["hotmale"] = {"name": "Hotmale"}
    elif edit == "provider-cause":
        providers["gmail"]["app_pasword_required"] = {"fix": ["x"]}
    elif edit == "provider-no-fix":
        providers["gmail"]["timeout"] = {"note": "only a note"}
    elif edit == "inherits-unknown":
        providers["aol"]["inherits"] = "yahooo"
    elif edit == "inherits-cycle":
        providers["gmail"]["inherits"] = "google_workspace"
    elif edit == "provider-name":
        del providers["zoho"]["name"]
    return causes, providers


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("missing-cause", "missing"),
        ("unknown-cause", "unknown keys"),
        ("missing-field", "missing"),
        ("unknown-field", "unknown keys"),
        ("transient", "transient must be False"),
        ("placeholder", "unknown placeholders"),
        ("title", "title longer"),
        ("link", "https://"),
        ("state", "missing"),
        ("unknown-provider", "unknown keys"),
        ("provider-cause", "unknown keys"),
        ("provider-no-fix", "no fix step"),
        ("inherits-unknown", "inherits unknown provider"),
        ("inherits-cycle", "circle"),
        ("provider-name", "name must be"),
    ],
)
def test_a_typo_in_the_data_fails_at_load(edit: str, message: str) -> None:
    with pytest.raises(KnowledgeDataError, match=re.escape(message)):
        parse_knowledge(*_broken(edit))
