"""Diagnosis: real server replies (catalog rows and replies from servers not in it) -> cause.

The catalog (research/error-catalog.md) is only a sample: the VARIANT tables hold replies of
other servers, rewordings, other codes and other languages, to show the rules generalise.
Exceptions are real ones where practical (sockets on 127.0.0.1), else built with the attributes
the ssl module and the mail libraries set.
"""

# ruff: noqa: E501  (the case tables quote server replies verbatim, one case per line)

from __future__ import annotations

import asyncio
import errno
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aioimaplib
import aiosmtplib
import pytest
import trustme

from console.core.diagnosis import (
    Failure,
    classify,
    diagnose,
    port_protocol_mismatch,
    port_security_mismatch,
    provider_hint,
)
from console.core.diagnosis.rules import TIERS, RuleDataError, parse_rule_table, rule_table
from console.core.model import CANARY_CAUSES, AuthMethod, Cause, Protocol, Security, Stage

C = Cause
S = Stage
IMAP = Protocol.IMAP
SMTP = Protocol.SMTP


def cause_of(failure: Failure, provider: str | None = None) -> Cause:
    """`diagnose` raises on a matcher bug (classify would hide it); both must agree."""
    found = diagnose(failure, provider).cause
    assert classify(failure, provider) is found
    return found


# -- IMAP replies ----------------------------------------------------------------------------
# Real replies seen in a source (the research catalog among them) are in the reply corpus,
# tests/data/replies/, checked by tests/test_reply_corpus.py. The rows here are rewordings,
# other codes and languages written for these tests: they pin the rules' behaviour on shapes the
# corpus does not hold, and are not evidence of what servers say.

# fmt: off
VARIANT_IMAP = [
    ("dovecot-tempfail", S.AUTH, "a1 NO [UNAVAILABLE] Temporary authentication failure. [mx1:2024-05-01 10:00:00]", None, C.SERVER_UNAVAILABLE),
    ("dovecot-maxconn", S.AUTH, "* BYE Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)", None, C.RATE_LIMITED),
    ("dovecot-internal", S.MAILBOX, "a2 NO [SERVERBUG] Internal error occurred. Refer to server log for more information. [2024-05-01 10:00:00]", None, C.SERVER_UNAVAILABLE),
    ("dovecot-nonexistent", S.MAILBOX, "a3 NO [NONEXISTENT] Mailbox doesn't exist: Replies", None, C.MAILBOX_UNAVAILABLE),
    ("dovecot-shutdown", S.MAILBOX, "* BYE Server shutting down.", None, C.SERVER_UNAVAILABLE),
    ("dovecot-inactivity", S.MAILBOX, "* BYE Disconnected for inactivity.", None, C.PROTOCOL_ERROR),
    ("dovecot-quota", S.MAILBOX, "a4 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)", None, C.MAILBOX_UNAVAILABLE),
    ("cyrus-login", S.AUTH, "A01 NO Login failed: authentication failure", None, C.AUTH_FAILED),
    ("cyrus-layer", S.AUTH, "A01 NO Login only available under a layer", None, C.PLAINTEXT_DISABLED),
    ("cyrus-nomailbox", S.MAILBOX, "A02 NO Mailbox does not exist", None, C.MAILBOX_UNAVAILABLE),
    ("cyrus-perm", S.MAILBOX, "A02 NO Permission denied", None, C.MAILBOX_UNAVAILABLE),
    ("courier-login", S.AUTH, "A1 NO Login failed.", None, C.AUTH_FAILED),
    ("courier-locked", S.MAILBOX, "A2 NO Mailbox is locked by POP server", None, C.SERVER_UNAVAILABLE),
    ("zimbra-login", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] LOGIN failed", None, C.AUTH_FAILED),
    ("zimbra-plain", S.AUTH, "A1 NO LOGIN failed", None, C.AUTH_FAILED),
    ("locked-beats-code", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] Account is temporarily locked.", None, C.ACCOUNT_UNAVAILABLE),
    ("suspended", S.AUTH, "A1 NO [ALERT] Your account has been suspended", None, C.ACCOUNT_UNAVAILABLE),
    ("contactadmin-text", S.AUTH, "A1 NO [CONTACTADMIN] Account disabled", None, C.ACCOUNT_UNAVAILABLE),
    ("expired-text", S.AUTH, "A1 NO [EXPIRED] Password expired", None, C.AUTH_FAILED),
    ("trycreate", S.MAILBOX, "A4 NO [TRYCREATE] Mailbox does not exist", None, C.MAILBOX_UNAVAILABLE),
    ("gmail-weblogin", S.AUTH, "A1 NO [ALERT] Web login required: https://support.google.com/mail/answer/78754 (Failure)", "gmail", C.WEB_LOGIN_REQUIRED),
    ("gmail-webalert", S.AUTH, "A1 NO [WEBALERT https://accounts.google.com/signin/continue?sarp=1&scc=1] Web login required.", None, C.WEB_LOGIN_REQUIRED),
    ("gmail-browser", S.AUTH, "A1 NO [ALERT] Please log in via your web browser: https://support.google.com/mail/accounts/answer/78754 (Failure)", None, C.WEB_LOGIN_REQUIRED),
    ("gmail-connections", S.AUTH, "A1 NO [ALERT] Too many simultaneous connections. (Failure)", "gmail", C.RATE_LIMITED),
    ("gmail-alert-creds", S.AUTH, "A1 NO [ALERT] Invalid credentials (Failure)", "gmail", C.AUTH_FAILED),
    ("workspace-imap-off", S.AUTH, "A1 NO [ALERT] IMAP access is disabled for your domain. Please contact your domain administrator for questions about this feature. (Failure)", "google_workspace", C.PROTOCOL_DISABLED),
    ("gmail-bye-unavailable", S.MAILBOX, "* BYE [UNAVAILABLE] Temporary System Error", "gmail", C.SERVER_UNAVAILABLE),
    ("yahoo-unavailable", S.AUTH, "A1 NO [UNAVAILABLE] LOGIN Server error - Please try again later", "yahoo", C.SERVER_UNAVAILABLE),
    ("yahoo-limit", S.AUTH, "A1 NO [LIMIT] LOGIN Rate limit hit.", "yahoo", C.RATE_LIMITED),
    ("yandex-both", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] LOGIN Invalid credentials or IMAP is disabled sc=aB3dE5", "yandex", C.AUTH_FAILED),
    ("yandex-app", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] LOGIN Application password is REQUIRED. sc=aB3dE5", None, C.APP_PASSWORD_REQUIRED),
    ("mailru-app", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] Authentication failed: NEOBHODIM parol prilozheniya https://help.mail.ru/mail/security/protection/external / Application password is REQUIRED", None, C.APP_PASSWORD_REQUIRED),
    ("zoho-imap-off", S.AUTH, "A1 NO [ALERT] You are yet to enable IMAP for your account. Please contact your administrator (Failure)", "zoho", C.PROTOCOL_DISABLED),
    ("icloud-verify", S.AUTH, "A1 NO [ALERT] Account is blocked. Login to your account via a web browser to verify your identity.", "icloud", C.WEB_LOGIN_REQUIRED),
    ("gmx-german-switch", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] Zugriff über IMAP ist nicht erlaubt", "gmx", C.PROTOCOL_DISABLED),
    ("outlook-imap-off", S.AUTH, "A1 NO [ALERT] IMAP is not enabled for this account", "outlook", C.PROTOCOL_DISABLED),
    ("russian-creds", S.AUTH, "A1 NO Неверный логин или пароль", "mailru", C.AUTH_FAILED),
    ("german-creds", S.AUTH, "A1 NO Authentifizierung fehlgeschlagen", "gmx", C.AUTH_FAILED),
    ("french-creds", S.AUTH, "A1 NO Identifiants invalides", None, C.AUTH_FAILED),
    ("lowercase-code", S.AUTH, "a1 no [authenticationfailed] invalid credentials", None, C.AUTH_FAILED),
    ("no-tag-no-code", S.AUTH, "Invalid login or password", None, C.AUTH_FAILED),
    ("untagged-alert-first", S.AUTH, "* OK [ALERT] Maintenance on Sunday\nA1 NO [AUTHENTICATIONFAILED] Authentication failed.", None, C.AUTH_FAILED),
    ("capability-noise", S.AUTH, "* CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=OAUTHBEARER ID ENABLE\nA1 NO [AUTHENTICATIONFAILED] failed", None, C.AUTH_FAILED),
    ("unknown-no-reason", S.AUTH, "A1 NO sorry", None, C.AUTH_FAILED),
    ("mailbox-no-reason", S.MAILBOX, "A3 NO cannot do that", None, C.MAILBOX_UNAVAILABLE),
    ("bad-at-login", S.AUTH, "A1 BAD Error in IMAP command LOGIN: Invalid arguments.", None, C.PROTOCOL_ERROR),
    ("busy-beats-login-failed", S.AUTH, "A1 NO Login failed: Server is too busy", None, C.SERVER_UNAVAILABLE),
    ("maintenance-mode", S.AUTH, "A1 NO [ALERT] account is in maintenance mode", None, C.SERVER_UNAVAILABLE),
    ("no-imap-access", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] Your account does not have IMAP access.", None, C.PROTOCOL_DISABLED),
    ("imap-access-denied", S.AUTH, "A1 NO [AUTHENTICATIONFAILED] IMAP access denied", None, C.PROTOCOL_DISABLED),
    ("use-app-password", S.AUTH, "A1 NO authentication failed (2FA enabled, use application password)", None, C.APP_PASSWORD_REQUIRED),
    ("french-failure", S.AUTH, "A1 NO \u00c9chec de l'authentification", None, C.AUTH_FAILED),
    ("spanish-failure", S.AUTH, "A1 NO Autenticaci\u00f3n fallida", None, C.AUTH_FAILED),
    ("chinese-failure", S.AUTH, "A1 NO \u767b\u5f55\u5931\u8d25", None, C.AUTH_FAILED),
]
# fmt: on


@pytest.mark.parametrize(("row", "stage", "text", "provider", "expected"), VARIANT_IMAP)
def test_imap_replies(
    row: str, stage: Stage, text: str, provider: str | None, expected: Cause
) -> None:
    assert cause_of(Failure(IMAP, stage, text), provider) is expected, row


# -- SMTP replies: (row id, stage, code, reply, provider, cause); real ones are in the corpus --

# fmt: off
VARIANT_SMTP: list[tuple[str, Stage, int | None, str, str | None, Cause]] = [
    ("postfix-b64", S.AUTH, 535, "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6", None, C.AUTH_FAILED),
    ("postfix-noauth", S.AUTH, 503, "503 5.5.1 Error: authentication not enabled", None, C.BASIC_AUTH_DISABLED),
    ("postfix-tls-local", S.STARTTLS, 454, "454 4.7.0 TLS not available due to local problem", None, C.STARTTLS_UNAVAILABLE),
    ("postfix-too-many", S.GREETING, 421, "421 4.7.0 mail.example.com Error: too many connections from 203.0.113.5", None, C.RATE_LIMITED),
    ("postfix-host-rejected", S.GREETING, 554, "554 5.7.1 <unknown[203.0.113.5]>: Client host rejected: Access denied", None, C.CONNECTION_REFUSED),
    ("exim-auth", S.AUTH, 535, "535 Incorrect authentication data", "cpanel", C.AUTH_FAILED),
    ("exim-at-present", S.AUTH, 435, "435 Unable to authenticate at present", None, C.SERVER_UNAVAILABLE),
    ("exim-too-many", S.GREETING, 421, "421 Too many concurrent SMTP connections from this IP address; please try again later.", None, C.RATE_LIMITED),
    ("gmail-attempts", S.AUTH, 454, "454 4.7.0 Too many login attempts, please try again later. d9-20020a05 - gsmtp", None, C.RATE_LIMITED),
    ("gmail-421", S.EHLO, 421, "421-4.7.0 Try again later, closing connection. (EHLO)\n421 4.7.0  For more information, go to https://support.google.com/a/answer/3221692 - gsmtp", None, C.SERVER_UNAVAILABLE),
    ("ms-tenant", S.AUTH, 535, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [SN4PR0501CA0054.namprd05.prod.outlook.com 2024-01-01T00:00:00.000Z 08DC1A]", None, C.BASIC_AUTH_DISABLED),
    ("ms-mailbox", S.AUTH, 535, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", None, C.BASIC_AUTH_DISABLED),
    ("ms-criteria", S.AUTH, 535, "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.", None, C.BASIC_AUTH_DISABLED),
    ("ms-security-defaults", S.AUTH, 535, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.", None, C.BASIC_AUTH_DISABLED),
    ("ms-locked", S.AUTH, 535, "535 5.7.139 Authentication unsuccessful, account is locked due to too many failed sign-in attempts.", None, C.ACCOUNT_UNAVAILABLE),
    ("ms-5-7-139-bare", S.AUTH, 535, "535 5.7.139 Authentication unsuccessful [AM0PR02CA0001.eurprd02.prod.outlook.com]", None, C.BASIC_AUTH_DISABLED),
    ("ms-retired", S.AUTH, 550, "550 5.7.30 Basic authentication is not supported for Client Submission.", None, C.BASIC_AUTH_DISABLED),
    ("ms-spam", S.AUTH, 554, "554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to process message due to a permanent exception", None, C.ACCOUNT_UNAVAILABLE),
    ("yahoo-auth005", S.AUTH, 535, "535 5.7.0 (#AUTH005) Too many bad auth attempts.", "yahoo", C.RATE_LIMITED),
    ("yahoo-spamhaus", S.GREETING, 553, "553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html", None, C.CONNECTION_REFUSED),
    ("ses-throttle", S.AUTH, 454, "454 Throttling failure: Maximum sending rate exceeded.", "amazon_ses", C.RATE_LIMITED),
    ("ses-creds", S.AUTH, 535, "535 Authentication Credentials Invalid", "amazon_ses", C.AUTH_FAILED),
    ("sendgrid-creds", S.AUTH, 535, "535 Authentication failed: Bad username / password", "sendgrid", C.AUTH_FAILED),
    ("sendgrid-credits", S.AUTH, 451, "451 Authentication failed: Maximum credits exceeded", "sendgrid", C.ACCOUNT_UNAVAILABLE),
    ("sendgrid-grant", S.AUTH, 535, "535 Authentication failed: The provided authorization grant is invalid, expired, or revoked", "sendgrid", C.AUTH_FAILED),
    ("mailgun-creds", S.AUTH, 535, "535 Authentication failed", "mailgun", C.AUTH_FAILED),
    ("zoho-blocked", S.AUTH, 554, "554 5.1.8 Email Outgoing Blocked.", "zoho", C.ACCOUNT_UNAVAILABLE),
    ("mailru-app", S.AUTH, 535, "535 5.7.0 NEOBHODIM parol prilozheniya https://help.mail.ru/mail/security/protection/external / Application password is REQUIRED", None, C.APP_PASSWORD_REQUIRED),
    ("yandex-rights", S.AUTH, 535, "535 5.7.8 Error: authentication failed: This user does not have access rights to this service", "yandex", C.PROTOCOL_DISABLED),
    ("yandex-creds", S.AUTH, 535, "535 5.7.8 Error: authentication failed: Invalid user or password!", "yandex", C.AUTH_FAILED),
    ("gmx-creds", S.AUTH, 535, "535 Authentication credentials invalid", "gmx", C.AUTH_FAILED),
    ("lowercase", S.AUTH, 535, "535 authentication failed", None, C.AUTH_FAILED),
    ("code-beats-words", S.AUTH, 535, "535 5.7.8 Service temporarily unavailable", None, C.AUTH_FAILED),
    ("no-code-in-text", S.AUTH, None, "5.7.8 Username and Password not accepted", None, C.AUTH_FAILED),
    ("code-only-in-text", S.AUTH, None, "535 Bad credentials", None, C.AUTH_FAILED),
    ("storage", S.AUTH, 452, "452 4.3.1 Insufficient system storage", None, C.SERVER_UNAVAILABLE),
    ("no-service", S.GREETING, 554, "554 No SMTP service here", None, C.CONNECTION_REFUSED),
    ("helo-refused", S.EHLO, 502, "502 5.5.1 Unrecognized command.", None, C.PROTOCOL_ERROR),
    ("starttls-refused", S.STARTTLS, 502, "502 5.5.1 STARTTLS command not implemented", None, C.STARTTLS_UNAVAILABLE),
    ("qq-authorization-code", S.AUTH, 535, "535 Error: Login fail. Please use the authorization code to log in.", None, C.APP_PASSWORD_REQUIRED),
    ("ms-blocklist", S.AUTH, 550, "550 5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", None, C.CONNECTION_REFUSED),
    ("ms-outgoing-limit", S.AUTH, 554, "554 5.7.0 Your message could not be sent. The limit on the number of allowed outgoing messages was exceeded. Try again later.", None, C.RATE_LIMITED),
    ("mailbox-disabled", S.AUTH, 535, "535 5.7.8 Error: authentication failed: Mailbox is disabled", None, C.ACCOUNT_UNAVAILABLE),
    ("user-suspended", S.AUTH, 550, "550 User suspended", None, C.ACCOUNT_UNAVAILABLE),
    ("temp-system-problem", S.AUTH, 454, "454 4.7.0 Cannot authenticate due to temporary system problem. Try again later.", None, C.SERVER_UNAVAILABLE),
    ("spamhaus-banner", S.GREETING, 554, "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org", None, C.CONNECTION_REFUSED),
]
# fmt: on


@pytest.mark.parametrize(("row", "stage", "code", "text", "provider", "expected"), VARIANT_SMTP)
def test_smtp_replies(
    row: str, stage: Stage, code: int | None, text: str, provider: str | None, expected: Cause
) -> None:
    assert cause_of(Failure(SMTP, stage, text, smtp_code=code), provider) is expected, row


@pytest.mark.parametrize(
    ("text", "capabilities", "expected"),
    [
        ("504 5.7.4 Unrecognized authentication type", {"STARTTLS", "AUTH"}, C.PLAINTEXT_DISABLED),
        (
            "503 5.5.1 Error: authentication not enabled",
            {"STARTTLS", "PIPELINING"},
            C.PLAINTEXT_DISABLED,
        ),
        ("503 AUTH command used when not advertised", {"STARTTLS"}, C.PLAINTEXT_DISABLED),
        ("503 AUTH command used when not advertised", {"8BITMIME"}, C.BASIC_AUTH_DISABLED),
        ("530 Authentication required", {"STARTTLS"}, C.PLAINTEXT_DISABLED),
        ("530 Authentication required", {"AUTH PLAIN LOGIN"}, C.AUTH_FAILED),
    ],
)
def test_smtp_capabilities_tell_before_or_after_tls(
    text: str, capabilities: set[str], expected: Cause
) -> None:
    failure = Failure(SMTP, S.AUTH, text, capabilities=frozenset(capabilities))
    assert cause_of(failure) is expected


def test_aiosmtplib_auth_not_supported_messages() -> None:
    before_tls = aiosmtplib.SMTPException(
        "The SMTP AUTH extension is not supported by this server. Try connecting via TLS (or STARTTLS)."
    )
    after_tls = aiosmtplib.SMTPException("The SMTP AUTH extension is not supported by this server.")
    no_starttls = aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server.")
    assert cause_of(Failure(SMTP, S.AUTH, exc=before_tls)) is C.PLAINTEXT_DISABLED
    assert cause_of(Failure(SMTP, S.AUTH, exc=after_tls)) is C.BASIC_AUTH_DISABLED
    assert cause_of(Failure(SMTP, S.STARTTLS, exc=no_starttls)) is C.STARTTLS_UNAVAILABLE


def test_smtp_reply_read_from_the_library_exception() -> None:
    exc = aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Username and Password not accepted.")
    assert cause_of(Failure(SMTP, S.AUTH, exc=exc)) is C.AUTH_FAILED
    refused = aiosmtplib.SMTPConnectResponseError(554, "5.7.1 Service unavailable; blocked")
    assert cause_of(Failure(SMTP, S.GREETING, exc=refused)) is C.CONNECTION_REFUSED


# -- banners: which protocol answered ---------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "greeting", "expected"),
    [
        (IMAP, "220 mail.somehost.net ESMTP NO UCE", C.WRONG_SERVICE),  # NET-16
        (
            IMAP,
            "220-server.example.com ESMTP Exim 4.96 #2 Mon, 01 Jan 2024 10:00:00 +0000",
            C.WRONG_SERVICE,
        ),
        (IMAP, "+OK Dovecot ready.", C.WRONG_SERVICE),
        (IMAP, "HTTP/1.1 400 Bad Request", C.WRONG_SERVICE),
        (IMAP, "SSH-2.0-OpenSSH_9.2p1 Debian-2", C.WRONG_SERVICE),
        (IMAP, "\x16\x03\x01\x00\xa5\x01\x00\x00", C.PROTOCOL_ERROR),
        (IMAP, "* BYE Too many connections", C.RATE_LIMITED),
        (
            IMAP,
            "* BYE [ALERT] Maximum connection limit reached for ::ffff:203.0.113.5",
            C.RATE_LIMITED,
        ),
        (IMAP, "* BYE Temporary problem, please try again later", C.SERVER_UNAVAILABLE),
        (IMAP, "* BYE go away", C.SERVER_UNAVAILABLE),
        (
            SMTP,
            "* OK Gimap ready for requests from 197.49.123.47 x2mb241876667wmk",
            C.WRONG_SERVICE,
        ),
        (SMTP, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.", C.WRONG_SERVICE),
        (SMTP, "+OK POP3 server ready", C.WRONG_SERVICE),
        (SMTP, "HTTP/1.0 408 Request Timeout", C.WRONG_SERVICE),
        (SMTP, "Malformed SMTP response line: * OK IMAP4 ready", C.WRONG_SERVICE),
    ],
)
def test_banners(protocol: Protocol, greeting: str, expected: Cause) -> None:
    assert cause_of(Failure(protocol, S.GREETING, greeting=greeting)) is expected
    # the probe may put the banner in `text` instead, and time out while waiting after it
    assert cause_of(Failure(protocol, S.GREETING, greeting)) is expected


def test_foreign_banner_beats_the_timeout_that_follows_it() -> None:
    failure = Failure(IMAP, S.GREETING, greeting="220 smtp.example.com ESMTP", exc=TimeoutError())
    assert cause_of(failure) is C.WRONG_SERVICE


def test_a_normal_banner_never_decides_a_later_failure() -> None:
    exim = "220 mail.smtp.com ESMTP Exim 4.94.2-S2G Mon, 01 Nov 2021 11:28:45 +0000"
    failure = Failure(SMTP, S.AUTH, "535 Incorrect authentication data", greeting=exim)
    assert cause_of(failure) is C.AUTH_FAILED  # "4.94.2" is a version, not a 4.x.x status
    gimap = "* OK Gimap ready for requests from 197.49.123.47 x2mb241876667wmk"
    assert cause_of(
        Failure(IMAP, S.MAILBOX, "A3 NO [NONEXISTENT] Unknown Mailbox", greeting=gimap)
    ) is (C.MAILBOX_UNAVAILABLE)


# -- stage and capability evidence ------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            Failure(
                IMAP, S.AUTH, capabilities=frozenset({"IMAP4rev1", "STARTTLS", "LOGINDISABLED"})
            ),
            C.PLAINTEXT_DISABLED,
        ),
        (
            Failure(
                IMAP,
                S.AUTH,
                "a0002 BAD Command received in Invalid state.",
                capabilities=frozenset({"IMAP4", "LOGINDISABLED", "STARTTLS"}),
            ),
            C.PLAINTEXT_DISABLED,
        ),  # PLN-04
        (
            Failure(IMAP, S.STARTTLS, capabilities=frozenset({"IMAP4rev1", "AUTH=PLAIN"})),
            C.STARTTLS_UNAVAILABLE,
        ),
        (
            Failure(
                SMTP, S.STARTTLS, "the server does not offer STARTTLS (no credential was sent)"
            ),
            C.STARTTLS_UNAVAILABLE,
        ),
        (Failure(IMAP, S.STARTTLS, "A2 BAD STARTTLS unavailable"), C.STARTTLS_UNAVAILABLE),
        (Failure(IMAP, S.CONFIG, "imap.port: 99999 is not a port"), C.SETTINGS_INVALID),
        (Failure(SMTP, S.CONFIG, "smtp.host is missing"), C.SETTINGS_MISSING),
        (Failure(IMAP, S.SECRET, "keyring is locked"), C.SECRET_UNAVAILABLE),
        (
            Failure(SMTP, S.DNS, "smtp.example.com has no address usable from 127.0.0.2"),
            C.DNS_FAILED,
        ),
        (Failure(IMAP, S.DNS, exc=TimeoutError()), C.DNS_FAILED),
        (
            Failure(IMAP, S.MAILBOX, "A3 NO [NONEXISTENT] Unknown Mailbox: Replies (Failure)"),
            C.MAILBOX_UNAVAILABLE,
        ),
        (Failure(IMAP, S.MAILBOX, exc=TimeoutError()), C.TIMEOUT),
        (Failure(IMAP, S.MAILBOX, "A3 NO access denied"), C.MAILBOX_UNAVAILABLE),
        (
            Failure(
                IMAP,
                S.GREETING,
                "not IMAP4 compliant",
                exc=aioimaplib.Error("server not IMAP4 compliant"),
            ),
            C.WRONG_SERVICE,
        ),
    ],
)
def test_stage_and_capability_evidence(failure: Failure, expected: Cause) -> None:
    assert cause_of(failure) is expected


# -- ordering ---------------------------------------------------------------------------------


def test_provider_rule_beats_generic_wording() -> None:
    login_failed = Failure(IMAP, S.AUTH, "2 NO LOGIN failed.")
    ms = diagnose(login_failed, "microsoft365")
    generic = diagnose(login_failed, None)
    assert (ms.cause, ms.rule) == (C.BASIC_AUTH_DISABLED, "microsoft-login-failed")
    assert (generic.cause, generic.rule) == (C.AUTH_FAILED, "words-auth")


def test_provider_is_recognised_from_the_banner_when_not_given() -> None:
    banner = "* OK The Microsoft Exchange IMAP4 service is ready. [TABPADQAUAAxADAAMQBDAEEAMAAwADEANQAuAEcAQgBSAFAAMgA2ADUALgBQAFIATwBEAC4ATwBVAFQATABPAE8ASwAuAEMATwBNAA==]"
    found = diagnose(Failure(IMAP, S.AUTH, "2 NO LOGIN failed.", greeting=banner))
    assert (found.cause, found.provider) == (C.BASIC_AUTH_DISABLED, "microsoft365")


def test_the_given_provider_beats_the_banner_hint() -> None:
    failure = Failure(IMAP, S.AUTH, "2 NO LOGIN failed.", greeting="* OK Gimap ready for requests")
    assert diagnose(failure, "outlook").provider == "outlook"
    assert diagnose(failure).provider == "gmail"
    assert cause_of(failure) is C.AUTH_FAILED


def test_microsoft_login_failed_with_oauth2_is_the_token_not_basic_auth() -> None:
    failure = Failure(IMAP, S.AUTH, "3 NO AUTHENTICATE failed.", auth=AuthMethod.OAUTH2)
    assert cause_of(failure, "microsoft365") is C.AUTH_FAILED


def test_oauth_wording_depends_on_the_login_method() -> None:
    password = Failure(IMAP, S.AUTH, "A1 NO Invalid OAuth request")
    token = Failure(IMAP, S.AUTH, "A1 NO Invalid OAuth request", auth=AuthMethod.OAUTH2)
    assert cause_of(password) is C.BASIC_AUTH_DISABLED
    assert cause_of(token) is C.AUTH_FAILED


@pytest.mark.parametrize(
    ("protocol", "text", "expected"),
    [
        (IMAP, "a NO [UNAVAILABLE] Authentication failed", C.SERVER_UNAVAILABLE),
        (IMAP, "a NO [AUTHENTICATIONFAILED] Please try again later", C.AUTH_FAILED),
        (IMAP, "a NO [PRIVACYREQUIRED] Invalid password", C.PLAINTEXT_DISABLED),
        (SMTP, "535 5.7.8 Try again later", C.AUTH_FAILED),
        (SMTP, "451 4.7.1 Authentication failed", C.SERVER_UNAVAILABLE),
    ],
)
def test_code_beats_loose_words(protocol: Protocol, text: str, expected: Cause) -> None:
    assert cause_of(Failure(protocol, S.AUTH, text)) is expected


def test_gmail_overquota_means_bandwidth_elsewhere_storage() -> None:
    text = "A4 NO [OVERQUOTA] Sorry"
    assert cause_of(Failure(IMAP, S.MAILBOX, text), "gmail") is C.RATE_LIMITED
    assert cause_of(Failure(IMAP, S.MAILBOX, text), "fastmail") is C.MAILBOX_UNAVAILABLE


def test_tiers_are_in_order_and_every_rule_is_reachable_data() -> None:
    rules = rule_table().rules
    positions = [TIERS.index(rule.tier) for rule in rules]
    assert positions == sorted(positions)
    # the canary's causes come from where a sent message landed, never from server text
    assert {rule.cause for rule in rules} >= set(Cause) - {C.UNKNOWN} - CANARY_CAUSES
    assert len({rule.id for rule in rules}) == len(rules)


# -- exceptions (constructed with the attributes the libraries set) ---------------------------


def _cert_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(
        1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message} (_ssl.c:1006)"
    )
    exc.verify_code = code
    exc.verify_message = message
    return exc


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


# fmt: off
EXCEPTIONS = [
    ("timeout", S.CONNECT, lambda: TimeoutError(), C.TIMEOUT),
    ("etimedout", S.CONNECT, lambda: OSError(errno.ETIMEDOUT, "Connection timed out"), C.TIMEOUT),
    ("command-timeout", S.MAILBOX, lambda: aioimaplib.CommandTimeout(None), C.TIMEOUT),
    ("smtp-connect-timeout", S.CONNECT, lambda: aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), C.TIMEOUT),
    ("tls-stage-timeout", S.TLS, lambda: TimeoutError(), C.TIMEOUT),
    ("expired", S.TLS, lambda: _cert_error(10, "certificate has expired"), C.CERTIFICATE_INVALID),
    ("not-yet-valid", S.TLS, lambda: _cert_error(9, "certificate is not yet valid"), C.CERTIFICATE_INVALID),
    ("self-signed", S.TLS, lambda: _cert_error(18, "self-signed certificate"), C.CERTIFICATE_INVALID),
    ("self-signed-chain", S.TLS, lambda: _cert_error(19, "self-signed certificate in certificate chain"), C.CERTIFICATE_INVALID),
    ("unknown-issuer", S.TLS, lambda: _cert_error(20, "unable to get local issuer certificate"), C.CERTIFICATE_INVALID),
    ("no-issuer-leaf", S.STARTTLS, lambda: _cert_error(21, "unable to verify the first certificate"), C.CERTIFICATE_INVALID),
    ("hostname", S.TLS, lambda: _cert_error(62, "Hostname mismatch, certificate is not valid for 'imap.servername.lt'."), C.CERTIFICATE_INVALID),
    ("ip", S.TLS, lambda: _cert_error(64, "IP address mismatch, certificate is not valid for '10.1.1.9'."), C.CERTIFICATE_INVALID),
    ("wrong-version", S.TLS, lambda: ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"), C.TLS_MISMATCH),
    ("unknown-protocol", S.TLS, lambda: ssl.SSLError(1, "[SSL: UNKNOWN_PROTOCOL] unknown protocol (_ssl.c:1000)"), C.TLS_MISMATCH),
    ("record-layer", S.STARTTLS, lambda: ssl.SSLError(1, "[SSL] record layer failure (_ssl.c:1010)"), C.TLS_MISMATCH),
    ("protocol-version", S.TLS, lambda: ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)"), C.TLS_FAILED),
    ("unsupported", S.TLS, lambda: ssl.SSLError(1, "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol (_ssl.c:727)"), C.TLS_FAILED),
    ("dh-small", S.TLS, lambda: ssl.SSLError(1, "[SSL: DH_KEY_TOO_SMALL] dh key too small (_ssl.c:1001)"), C.TLS_FAILED),
    ("handshake", S.TLS, lambda: ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure (_ssl.c:1006)"), C.TLS_FAILED),
    ("ssl-eof", S.TLS, lambda: ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:1129)"), C.TLS_FAILED),
    ("reset-in-handshake", S.TLS, lambda: ConnectionResetError(104, "Connection reset by peer"), C.TLS_FAILED),
    ("dns", S.CONNECT, lambda: socket.gaierror(-2, "Name or service not known"), C.DNS_FAILED),
    ("dns-again", S.CONNECT, lambda: socket.gaierror(-3, "Temporary failure in name resolution"), C.DNS_FAILED),
    ("dns-windows", S.CONNECT, lambda: socket.gaierror(11001, "getaddrinfo failed"), C.DNS_FAILED),
    ("refused", S.CONNECT, lambda: ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 43737)"), C.CONNECTION_REFUSED),
    ("smtp-connect-refused", S.CONNECT, lambda: _chained(aiosmtplib.SMTPConnectError("Error connecting to smtp.example.com on port 465: [Errno 111] Connect call failed"), ConnectionRefusedError(111, "Connect call failed")), C.CONNECTION_REFUSED),
    ("smtp-connect-dns", S.CONNECT, lambda: _chained(aiosmtplib.SMTPConnectError("Error connecting to smtp.example.cm on port 587"), socket.gaierror(-2, "Name or service not known")), C.DNS_FAILED),
    ("reset", S.MAILBOX, lambda: ConnectionResetError(104, "Connection reset by peer"), C.PROTOCOL_ERROR),
    ("broken-pipe", S.AUTH, lambda: BrokenPipeError(32, "Broken pipe"), C.PROTOCOL_ERROR),
    ("incomplete", S.CAPABILITY, lambda: asyncio.IncompleteReadError(b"* OK", 10), C.PROTOCOL_ERROR),
    ("smtp-eof", S.EHLO, lambda: aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"), C.PROTOCOL_ERROR),
    ("imap-abort", S.MAILBOX, lambda: aioimaplib.Abort("command SELECT illegal in state NONAUTH"), C.PROTOCOL_ERROR),
    ("unicode-decode", S.GREETING, lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), C.PROTOCOL_ERROR),
    ("unicode-encode", S.AUTH, lambda: UnicodeEncodeError("ascii", "jos\u00e9", 3, 4, "ordinal not in range(128)"), C.SETTINGS_INVALID),
    ("no-route", S.CONNECT, lambda: OSError(errno.EHOSTUNREACH, "No route to host"), C.TIMEOUT),
    ("net-unreachable", S.CONNECT, lambda: OSError(errno.ENETUNREACH, "Network is unreachable"), C.TIMEOUT),
    ("other-oserror", S.CONNECT, lambda: OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), C.UNKNOWN),
    ("plain-bug", S.AUTH, lambda: KeyError("x"), C.UNKNOWN),
]
# fmt: on


@pytest.mark.parametrize(("name", "stage", "make", "expected"), EXCEPTIONS)
def test_exceptions(
    name: str, stage: Stage, make: Callable[[], BaseException], expected: Cause
) -> None:
    assert cause_of(Failure(IMAP, stage, exc=make())) is expected, name


def test_library_words_of_a_transport_error_are_not_read_as_server_words() -> None:
    """The probe passes str(exc) as text: "Temporary failure" here is DNS, not the server."""
    exc = socket.gaierror(-3, "Temporary failure in name resolution")
    text = "host name lookup failed: Temporary failure in name resolution"
    assert cause_of(Failure(SMTP, S.CONNECT, text, exc=exc)) is C.DNS_FAILED
    timeout = Failure(IMAP, S.AUTH, "no answer within 15 s", exc=TimeoutError())
    assert cause_of(timeout) is C.TIMEOUT


# -- real exceptions from real sockets on 127.0.0.1 -------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A one-purpose server on 127.0.0.1; yields its port and closes every connection."""
    handlers: list[asyncio.Task[None]] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the test is over; a throwaway server ends quietly
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()


async def _say(
    lines: list[bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    for line in lines:
        if line.startswith(b"<"):  # wait for the client's next command
            await reader.readline()
            continue
        writer.write(line)
        await writer.drain()
    await reader.read(1)


async def _tls_connect(port: int, context: ssl.SSLContext, hostname: str | None) -> BaseException:
    try:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=hostname
        )
    except Exception as exc:
        return exc
    writer.close()
    await writer.wait_closed()
    raise AssertionError("the TLS connection was expected to fail")


@pytest.fixture
def leaf_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("imap.example.test").configure_cert(context)
    return context


async def test_real_tls_to_a_plain_port_is_tls_mismatch() -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _say([b"* OK IMAP4rev1 ready\r\n"], reader, writer)

    async with serve(greet) as port:
        exc = await _tls_connect(port, ssl.create_default_context(), "localhost")
    assert isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER"
    assert cause_of(Failure(IMAP, S.TLS, str(exc), exc=exc)) is C.TLS_MISMATCH


async def test_real_untrusted_certificate(leaf_context: ssl.SSLContext) -> None:
    async with serve(lambda r, w: _say([], r, w), leaf_context) as port:
        exc = await _tls_connect(port, ssl.create_default_context(), "imap.example.test")
    assert isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code in (18, 19, 20, 21)
    assert cause_of(Failure(IMAP, S.TLS, str(exc), exc=exc)) is C.CERTIFICATE_INVALID


async def test_real_host_name_mismatch(tls_ca: trustme.CA, leaf_context: ssl.SSLContext) -> None:
    client = ssl.create_default_context()
    tls_ca.configure_trust(client)
    async with serve(lambda r, w: _say([], r, w), leaf_context) as port:
        exc = await _tls_connect(port, client, "mail.other.test")
    assert isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code == 62
    assert cause_of(Failure(SMTP, S.STARTTLS, str(exc), exc=exc)) is C.CERTIFICATE_INVALID


async def test_real_expired_certificate(tls_ca: trustme.CA) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    past = datetime.now(UTC) - timedelta(days=400)
    tls_ca.issue_cert(
        "imap.example.test", not_before=past, not_after=past + timedelta(days=30)
    ).configure_cert(server)
    client = ssl.create_default_context()
    tls_ca.configure_trust(client)
    async with serve(lambda r, w: _say([], r, w), server) as port:
        exc = await _tls_connect(port, client, "imap.example.test")
    assert isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_code == 10
    assert cause_of(Failure(IMAP, S.TLS, str(exc), exc=exc)) is C.CERTIFICATE_INVALID


async def test_real_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError) as caught:
        await asyncio.open_connection("127.0.0.1", port)
    assert cause_of(Failure(IMAP, S.CONNECT, str(caught.value), exc=caught.value)) is (
        C.CONNECTION_REFUSED
    )


async def test_real_aiosmtplib_against_an_imap_banner() -> None:
    async def imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _say([b"* OK Gimap ready for requests from 127.0.0.1 x2mb\r\n"], reader, writer)

    async with serve(imap) as port:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        with pytest.raises(aiosmtplib.SMTPException) as caught:
            await client.connect()
        client.close()
    failure = Failure(SMTP, S.GREETING, exc=caught.value)
    assert cause_of(failure) is C.WRONG_SERVICE


async def test_real_aiosmtplib_auth_rejected() -> None:
    script = [
        b"220 mail.example.test ESMTP Postfix\r\n",
        b"<",
        b"250-mail.example.test\r\n250 AUTH PLAIN\r\n",
        b"<",
        b"535 5.7.8 Error: authentication failed: authentication failure\r\n",
    ]
    async with serve(lambda r, w: _say(script, r, w)) as port:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, start_tls=False)
        await client.connect()
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
            await client.login("user@example.test", "not-the-password")
        client.close()
    exc = caught.value
    assert (
        cause_of(Failure(SMTP, S.AUTH, exc.message, exc=exc, smtp_code=exc.code)) is C.AUTH_FAILED
    )


async def test_real_silent_server_is_a_timeout() -> None:
    async with serve(lambda r, w: _say([], r, w)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(TimeoutError) as caught:
            await asyncio.wait_for(reader.readline(), 0.05)
        writer.close()
        await writer.wait_closed()
    assert cause_of(Failure(IMAP, S.GREETING, exc=caught.value)) is C.TIMEOUT


# -- nothing ever raises ----------------------------------------------------------------------


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def _cycle() -> BaseException:
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    return a


WEIRD: list[Failure] = [
    Failure(IMAP, S.AUTH, ""),
    Failure(IMAP, S.AUTH, None),
    Failure(SMTP, S.AUTH, "   \r\n  "),
    Failure(IMAP, S.GREETING, "\x00\x01\x02\xff\ufffd"),
    Failure(IMAP, S.AUTH, b"\xff\xfe binary \x00 garbage"),  # type: ignore[arg-type]
    Failure(SMTP, S.AUTH, "5.7.139 " * 200_000),
    Failure(IMAP, S.AUTH, "[" * 300_000),
    Failure(IMAP, S.AUTH, "A1 NO " + "too many " * 100_000),
    Failure(SMTP, S.GREETING, greeting="2" * 500_000),
    Failure(SMTP, S.AUTH, "535 x", smtp_code=99999),
    Failure(SMTP, S.AUTH, "x", smtp_code=True),
    Failure(SMTP, S.AUTH, "x", smtp_code=-1),
    Failure(IMAP, S.AUTH, "x", capabilities=frozenset({1, None, b"STARTTLS"})),  # type: ignore[arg-type]
    Failure(IMAP, S.AUTH, exc=_Unprintable()),
    Failure(IMAP, S.AUTH, exc=_cycle()),
    Failure("imap", "auth", "A1 NO [AUTHENTICATIONFAILED] x"),  # type: ignore[arg-type]
    Failure("smtp", "greeting", "* OK IMAP4 ready"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("failure", WEIRD, ids=range(len(WEIRD)))
def test_nothing_raises_and_huge_input_is_fast(failure: Failure) -> None:
    started = time.perf_counter()
    found = cause_of(failure, "gmail")
    assert isinstance(found, Cause)
    assert isinstance(provider_hint(failure), str | type(None))
    assert time.perf_counter() - started < 2.0


def test_classify_survives_even_an_invalid_failure() -> None:
    assert classify(Failure("pop3", "nowhere")) is C.UNKNOWN  # type: ignore[arg-type]
    plain_strings = Failure("smtp", "greeting", "* OK IMAP4 ready")  # type: ignore[arg-type]
    assert cause_of(plain_strings) is C.WRONG_SERVICE


def test_random_replies_never_raise() -> None:
    words = [
        "NO",
        "BAD",
        "* BYE",
        "[ALERT]",
        "[AUTHENTICATIONFAILED]",
        "535",
        "5.7.8",
        "4.7.0",
        "220",
        "ESMTP",
        "* OK",
        "too many",
        "locked",
        "password",
        "IMAP",
        "disabled",
        "[",
        "]",
        "\n",
        "\x00",
        "\ufffd",
        "Ü",
        "пароль",
        "(",
        ")",
        "\\",
        "*",
        "+",
        "?",
        "temporar",
        "web browser",
    ]
    rng = random.Random(5530)
    for _ in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        protocol = rng.choice([IMAP, SMTP])
        stage = rng.choice(list(Stage))
        code = rng.choice([None, 250, 421, 535, 554])
        failure = Failure(protocol, stage, text, smtp_code=code, greeting=rng.choice([None, text]))
        assert isinstance(cause_of(failure, rng.choice([None, "gmail", "outlook", "nope"])), Cause)


# -- provider hints and the port helper -------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "text", "expected"),
    [
        ("* OK Gimap ready for requests from 197.49.123.47 x2mb241876667wmk", None, "gmail"),
        (None, "535-5.7.8 Username and Password not accepted. a1sm - gsmtp", "gmail"),
        (
            "* OK The Microsoft Exchange IMAP4 service is ready. [TABPADQAUAAx]",
            None,
            "microsoft365",
        ),
        (
            None,
            "535 5.7.3 Authentication unsuccessful [BN6PR03CA0021.namprd03.prod.outlook.com]",
            "microsoft365",
        ),
        (
            "220 LO4P302CA0005.outlook.office365.com Microsoft ESMTP MAIL Service ready",
            None,
            "microsoft365",
        ),
        ("* OK Welcome! IMAP Server up and ready to accept your request", None, "yahoo"),
        ("220 smtp.mail.yahoo.com ESMTP ready", None, "yahoo"),
        (
            "* OK [CAPABILITY st11p00mm-iscream022 15E205 XAPPLEPUSHSERVICE IMAP4 IMAP4rev1 SASL-IR AUTH=ATOKEN AUTH=PLAIN] iSCREAM ready to rumble",
            None,
            "icloud",
        ),
        (
            "* OK svwall.zoho.com IMAP4 Server (Zoho Mail IMAP4rev1 Server version 1.0)",
            None,
            "zoho",
        ),
        (
            "* OK Yandex IMAP4rev1 at imap53p.mail.yandex.net:993 ready to talk with ::ffff:83.171.154.81:39078",
            None,
            "yandex",
        ),
        ("* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN] Dovecot ready.", None, None),
        ("220 mail.smtp.com ESMTP Exim 4.94.2-S2G Mon, 01 Nov 2021 11:28:45 +0000", None, None),
        (None, None, None),
    ],
)
def test_provider_hint(greeting: str | None, text: str | None, expected: str | None) -> None:
    assert provider_hint(Failure(IMAP, S.AUTH, text, greeting=greeting)) == expected


@pytest.mark.parametrize(
    ("protocol", "port", "security", "mismatch"),
    [
        (IMAP, 993, Security.TLS, False),
        (IMAP, 993, Security.STARTTLS, True),
        (IMAP, 993, Security.NONE, True),
        (IMAP, 143, Security.TLS, True),
        (IMAP, 143, Security.STARTTLS, False),
        (IMAP, 143, Security.NONE, False),
        (SMTP, 465, Security.STARTTLS, True),
        (SMTP, 465, Security.TLS, False),
        (SMTP, 587, Security.TLS, True),
        (SMTP, 587, Security.STARTTLS, False),
        (SMTP, 25, Security.TLS, True),
        (SMTP, 2525, Security.NONE, False),
        (IMAP, 1143, Security.TLS, False),  # unknown port: no opinion
        ("imap", "993", "STARTTLS", True),  # as typed in the editor
        ("smtp", " 465 ", "tls", False),
        ("imap", "99", "tls", False),  # half-typed
        ("imap", "", "tls", False),
        ("imap", "993", "", False),
        (None, None, None, False),
        ("pop3", 995, "tls", False),
    ],
)
def test_port_security_mismatch(
    protocol: object, port: object, security: object, mismatch: bool
) -> None:
    assert port_security_mismatch(protocol, port, security) is mismatch  # type: ignore[arg-type]


def test_port_protocol_mismatch() -> None:
    assert port_protocol_mismatch(IMAP, 587) and port_protocol_mismatch(IMAP, 465)
    assert port_protocol_mismatch(SMTP, 993) and port_protocol_mismatch("smtp", "143")
    assert not port_protocol_mismatch(IMAP, 993) and not port_protocol_mismatch(SMTP, 2525)
    assert not port_protocol_mismatch(IMAP, 8143) and not port_protocol_mismatch("x", "y")


# -- the data file is checked when loaded -----------------------------------------------------

GOOD_RULE = {"id": "r", "tier": "words", "cause": "auth_failed", "text": "x"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cause": "auth_failled"}, "not a known Cause"),
        ({"providers": ["gmial"]}, "unknown provider"),
        ({"stages": ["login"]}, "not a known Stage"),
        ({"text": "(unclosed"}, "not a valid regex"),
        ({"texts": "x"}, "unknown keys"),
        ({"tier": "later"}, "tier must be"),
        ({"smtp_codes": ["5.7.8"]}, "smtp code"),
        ({"errnos": ["ENOPE"]}, "unknown errno"),
        ({"text": None}, "states no condition"),
    ],
)
def test_rule_data_errors_are_caught_at_load(change: dict[str, object], message: str) -> None:
    rule = {k: v for k, v in {**GOOD_RULE, **change}.items() if v is not None}
    with pytest.raises(RuleDataError, match=message):
        parse_rule_table({"rule": [rule]})


def test_rule_order_and_duplicates_are_checked() -> None:
    early = {**GOOD_RULE, "id": "a", "tier": "stage"}
    with pytest.raises(RuleDataError, match="comes after"):
        parse_rule_table({"rule": [GOOD_RULE, early]})
    with pytest.raises(RuleDataError, match="used twice"):
        parse_rule_table({"rule": [GOOD_RULE, GOOD_RULE]})
    with pytest.raises(RuleDataError, match="unknown provider"):
        parse_rule_table({"hint": [{"provider": "hotmale", "patterns": ["x"]}]})
