"""Refused OAuth2 logins explained from the token's claims and Gmail's XOAUTH2 challenge."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from console.core.model import Cause
from console.core.oauth.explain import explain, gmail_challenge, token_facts

NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
TID = "11111111-2222-3333-4444-555555555555"


def _jwt(**claims: object) -> str:
    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _ms(**over: object) -> str:
    claims: dict[str, object] = {
        "aud": "https://outlook.office.com",
        "scp": "IMAP.AccessAsUser.All SMTP.Send",
        "tid": TID,
        "exp": int((NOW + dt.timedelta(hours=1)).timestamp()),
    }
    claims.update(over)
    return _jwt(**claims)


def test_claims_are_decoded_without_verification() -> None:
    facts = token_facts(_ms())
    assert facts is not None
    assert facts.audience == ("https://outlook.office.com",)
    assert facts.scopes == {"IMAP.AccessAsUser.All", "SMTP.Send"}
    assert facts.tenant == TID
    assert facts.expires == NOW + dt.timedelta(hours=1)
    assert token_facts("ya29.opaque-google-token") is None
    assert token_facts("a.b.c") is None


def test_a_good_token_has_nothing_to_explain() -> None:
    assert explain(_ms(), "imap", now=NOW) is None
    assert explain(_ms(), "smtp", now=NOW) is None


@pytest.mark.parametrize(
    ("token", "protocol", "reason", "words"),
    [
        (_ms(exp=int((NOW - dt.timedelta(hours=1)).timestamp())), "imap", "expired",
         "mailconsole login ann@example.com"),
        (_ms(aud="https://graph.microsoft.com"), "imap", "wrong_audience",
         "https://outlook.office.com/IMAP.AccessAsUser.All"),
        (_ms(scp="SMTP.Send"), "imap", "missing_scope", "IMAP.AccessAsUser.All"),
        (_ms(scp="IMAP.AccessAsUser.All"), "smtp", "missing_scope", "SMTP.Send"),
        (_ms(scp=None, roles=["IMAP.AccessAsApp"]), "imap", "app_only", "Add-MailboxPermission"),
        (_ms(scp=None, roles=["IMAP.AccessAsApp"]), "smtp", "missing_scope", "SMTP.SendAsApp"),
    ],
)  # fmt: skip
def test_microsoft_token_causes(token: str, protocol: str, reason: str, words: str) -> None:
    found = explain(token, protocol, now=NOW, email="ann@example.com")
    assert found is not None
    assert (found.cause, found.reason) == (Cause.AUTH_FAILED, reason)
    assert words in " ".join((found.explanation, *found.fix))
    assert token not in repr(found)


def test_clock_skew_within_tolerance_is_not_expiry() -> None:
    token = _ms(exp=int((NOW - dt.timedelta(minutes=2)).timestamp()))
    assert explain(token, "imap", now=NOW) is None
    late = explain(token, "imap", now=NOW, skew=dt.timedelta(0))
    assert late is not None and late.reason == "expired"


def test_tenant_with_smtp_auth_off_and_basic_auth_refused() -> None:
    off = explain(
        _ms(),
        "smtp",
        now=NOW,
        reply="535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
        "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
    )
    assert off is not None and off.cause is Cause.PROTOCOL_DISABLED
    assert "Set-TransportConfig" in off.fix[0]
    reply = "550 5.7.30 Basic authentication is not supported for Client Submission."
    before = explain(None, "smtp", now=NOW, reply=reply)
    after = explain(None, "smtp", now=NOW, reply=reply, today=dt.date(2027, 1, 5))
    assert before is not None and before.cause is Cause.BASIC_AUTH_DISABLED
    assert after is not None
    assert "at the end of December 2026" in before.explanation  # dated note from policies.toml
    assert "Since the end of December 2026" in after.explanation


def _challenge(**data: str) -> str:
    return "334 " + base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}, "expired"),
        ({"status": "400", "schemes": "Bearer", "scope": "https://www.googleapis.com/auth/gmail.readonly"},
         "missing_scope"),
        ({"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"},
         "bad_request"),
    ],
)  # fmt: skip
def test_gmail_challenge(data: dict[str, str], reason: str) -> None:
    reply = _challenge(**data)
    assert gmail_challenge(reply) == data
    found = explain("ya29.opaque", "imap", now=NOW, reply=reply)
    assert found is not None and found.reason == reason
    assert gmail_challenge("535 5.7.8 Username and Password not accepted.") is None
