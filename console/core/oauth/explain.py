"""Why a token was refused: decode a JWT's claims or Gmail's XOAUTH2 challenge into a cause.

Nothing here verifies a signature (the server does that); the decoded claims only pick the most
precise explanation and fix. The token itself never appears in what is returned.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from console.core.diagnosis import policies
from console.core.model import Cause, CheckResult, Protocol, Status

EXCHANGE_AUDIENCES = frozenset(
    {
        "https://outlook.office.com",
        "https://outlook.office365.com",
        "00000002-0000-0ff1-ce00-000000000000",
    }
)
DELEGATED_SCOPE = {Protocol.IMAP: "IMAP.AccessAsUser.All", Protocol.SMTP: "SMTP.Send"}
APP_ROLE = {Protocol.IMAP: "IMAP.AccessAsApp", Protocol.SMTP: "SMTP.SendAsApp"}
FULL_SCOPE = {
    Protocol.IMAP: "https://outlook.office.com/IMAP.AccessAsUser.All",
    Protocol.SMTP: "https://outlook.office.com/SMTP.Send",
}
GMAIL_SCOPE = "https://mail.google.com/"
_TENANT_SMTP_OFF = re.compile(r"5\.7\.139\b.*SmtpClientAuthentication is disabled", re.I | re.S)
_BASIC_REFUSED = re.compile(r"\b5\.7\.30\b.*Basic authentication", re.I | re.S)
_MAX_TOKEN = 16_384


@dataclass(frozen=True)
class TokenFacts:
    """What an access token says about itself (no secret in here)."""

    audience: tuple[str, ...]
    scopes: frozenset[str]
    roles: frozenset[str]
    tenant: str | None
    expires: dt.datetime | None


@dataclass(frozen=True)
class TokenExplanation:
    cause: Cause
    reason: str  # expired, wrong_audience, missing_scope, app_only, tenant_smtp_off, ...
    explanation: str
    fix: tuple[str, ...]


def token_facts(token: str) -> TokenFacts | None:
    """The claims of a JWT access token, or None for an opaque token (Google's)."""
    claims = _jwt_claims(token)
    if claims is None:
        return None
    aud = claims.get("aud")
    audience = tuple(str(a) for a in aud) if isinstance(aud, list) else (str(aud),) if aud else ()
    exp = claims.get("exp")
    return TokenFacts(
        audience=audience,
        scopes=frozenset(scp.split() if isinstance(scp := claims.get("scp"), str) else ()),
        roles=frozenset(str(r) for r in claims.get("roles", []) if isinstance(r, str)),
        tenant=str(claims["tid"]) if isinstance(claims.get("tid"), str) else None,
        expires=dt.datetime.fromtimestamp(exp, dt.UTC) if isinstance(exp, int | float) else None,
    )


def gmail_challenge(reply: str) -> dict[str, str] | None:
    """Gmail's XOAUTH2 challenge (base64 JSON after "334 " or "+ "), decoded; None if absent."""
    for word in reversed(reply.split()):
        raw = _b64(word)
        if raw is None:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and "status" in data:
            return {str(k): str(v) for k, v in data.items()}
    return None


def explain(
    token: str | None,
    protocol: Protocol | str,
    *,
    now: dt.datetime,
    reply: str = "",
    email: str = "EMAIL",
    today: dt.date | None = None,
    skew: dt.timedelta = dt.timedelta(minutes=5),
) -> TokenExplanation | None:
    """The most precise cause of a refused OAuth2 login, or None when nothing stands out.

    `now` and `today` are parameters (tests pin them); `skew` is the clock difference tolerated
    before a token counts as expired.
    """
    protocol = Protocol(protocol)
    login = f"mailconsole login {email}"
    if _TENANT_SMTP_OFF.search(reply):
        return TokenExplanation(
            Cause.PROTOCOL_DISABLED,
            "tenant_smtp_off",
            "Microsoft 365 has SMTP AUTH switched off for the whole organisation (5.7.139); that "
            "refuses OAuth2 tokens too, however valid.",
            (
                "Ask the Microsoft 365 administrator: Set-TransportConfig "
                "-SmtpClientAuthenticationDisabled $false (or allow Authenticated SMTP for this "
                "mailbox only: Set-CASMailbox -Identity <address> "
                "-SmtpClientAuthenticationDisabled $false).",
            ),
        )
    if _BASIC_REFUSED.search(reply):
        dated = policies.notes("microsoft365", "basic_auth_disabled", "smtp", today or now.date())
        return TokenExplanation(
            Cause.BASIC_AUTH_DISABLED,
            "basic_refused",
            " ".join(
                ("Microsoft refused a password login (5.7.30): only OAuth2 is accepted.", *dated)
            ),
            (f'Set auth = "oauth2" for this account and sign in once: {login}',),
        )
    challenge = gmail_challenge(reply)
    if challenge is not None:
        return _explain_gmail(challenge, protocol, login)
    facts = token_facts(token) if token else None
    if facts is None:
        return None
    if facts.expires is not None and facts.expires <= now - skew:
        return TokenExplanation(
            Cause.AUTH_FAILED,
            "expired",
            f"The access token expired at {facts.expires:%Y-%m-%d %H:%M} UTC and the server "
            "refused it: either it could not be refreshed (the sign-in was revoked, expired or "
            "its password changed), or this computer's clock is behind, so the token still "
            "looked valid here.",
            (
                "Check this computer's clock (timedatectl on Linux): a clock minutes behind "
                "sends tokens the server already counts as expired.",
                f"Sign in again: {login}",
            ),
        )
    if facts.audience and not EXCHANGE_AUDIENCES & set(facts.audience):
        return TokenExplanation(
            Cause.AUTH_FAILED,
            "wrong_audience",
            f"The token is for {', '.join(facts.audience)}, not for Exchange Online "
            "(a Microsoft Graph token is refused by IMAP and SMTP).",
            (
                f"Request the token for the scope {FULL_SCOPE[protocol]} "
                f"(not a Graph scope), e.g. with {login}.",
            ),
        )
    if facts.roles and not facts.scopes:
        role = APP_ROLE[protocol]
        if role not in facts.roles:
            return _missing(protocol, f"the app-only permission {role}", login)
        return TokenExplanation(
            Cause.AUTH_FAILED,
            "app_only",
            f"This is an app-only token with {role}, but Exchange refused it: the app has no "
            "permission on this mailbox.",
            (
                "In Exchange Online PowerShell: New-ServicePrincipal -AppId <client id> "
                "-ObjectId <enterprise app object id>, then Add-MailboxPermission -Identity "
                "<address> -User <service principal id> -AccessRights FullAccess.",
                f"Or use a delegated sign-in as the mailbox's own user: {login}",
            ),
        )
    if DELEGATED_SCOPE[protocol] not in facts.scopes:
        return _missing(protocol, f"the scope {FULL_SCOPE[protocol]}", login)
    return None


def _missing(protocol: Protocol, what: str, login: str) -> TokenExplanation:
    return TokenExplanation(
        Cause.AUTH_FAILED,
        "missing_scope",
        f"The token lacks {what}, which {protocol.value.upper()} needs.",
        (
            "Add the delegated permissions IMAP.AccessAsUser.All and SMTP.Send (Office 365 "
            "Exchange Online) to the app registration, then sign in again: " + login,
        ),
    )


def _explain_gmail(challenge: dict[str, str], protocol: Protocol, login: str) -> TokenExplanation:
    scope = challenge.get("scope", "")
    if scope and GMAIL_SCOPE not in scope.split():
        return TokenExplanation(
            Cause.AUTH_FAILED,
            "missing_scope",
            f"Gmail wants the scope {GMAIL_SCOPE} for {protocol.value.upper()}.",
            (f"Sign in again with the scope {GMAIL_SCOPE}: {login}",),
        )
    if challenge.get("status") == "401":
        return TokenExplanation(
            Cause.AUTH_FAILED,
            "expired",
            "Gmail refused the access token (401): it expired or was revoked and could not be "
            "refreshed.",
            (f"Sign in again: {login}",),
        )
    return TokenExplanation(
        Cause.AUTH_FAILED,
        "bad_request",
        f"Gmail refused the XOAUTH2 login (status {challenge.get('status', '?')}): the user name "
        "must be the full address the token was issued for.",
        (f"Check the account's user name, then sign in again: {login}",),
    )


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.strip().split(".")
    if len(token) > _MAX_TOKEN or len(parts) != 3:
        return None
    raw = _b64(parts[1])
    if raw is None:
        return None
    try:
        claims = json.loads(raw)
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _b64(text: str) -> bytes | None:
    if not text or len(text) > _MAX_TOKEN or not re.fullmatch(r"[A-Za-z0-9+/_=-]+", text):
        return None
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        return None


TOKEN_TITLES = {
    "expired": "Token expired",
    "wrong_audience": "Token for another service",
    "missing_scope": "Token lacks mail permission",
    "app_only": "App token lacks mailbox right",
}
"""Short titles (the table's cause column) for the token problems that refine auth_failed."""

EXPLAINED_CAUSES = frozenset(
    {Cause.AUTH_FAILED, Cause.PROTOCOL_DISABLED, Cause.BASIC_AUTH_DISABLED}
)
"""The causes a refused OAuth2 login ends in before its token is looked at."""


def explain_result(result: CheckResult, token: str, email: str, *, now: dt.datetime) -> CheckResult:
    """A failed OAuth2 login with the most precise cause its token and reply give.

    The explanation and its fix go into facts (`oauth2_problem`, `oauth2_explanation`,
    `oauth2_fix`) for the detail pane, reports and JSON; nothing of the token does.
    """
    if result.status is not Status.FAILED or result.cause not in EXPLAINED_CAUSES:
        return result
    found = explain(token, result.protocol, now=now, reply=result.message or "", email=email)
    if found is None:
        return result
    facts = {
        **result.facts,
        "oauth2_problem": found.reason,
        "oauth2_explanation": found.explanation,
        "oauth2_fix": found.fix,
    }
    return replace(result, cause=found.cause, facts=facts)
