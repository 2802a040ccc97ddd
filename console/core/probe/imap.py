"""The IMAP check ladder: dns, connect, tls, greeting, capability, starttls, auth, mailbox, logout.

Credentials never cross an unencrypted connection unless the account says `security = "none"`,
and never at all when the server announces LOGINDISABLED. The mailbox is opened read-only
(EXAMINE), so a check never changes flags or "seen" state.

Round trips (docs/round-trips.md): capabilities come from the greeting's `[CAPABILITY ...]` and
the login answer's when the server sends them (CAPABILITY is asked only when they are missing,
or stale after STARTTLS); EXAMINE and GETQUOTAROOT go out in one write, each keeping its own
answer; LOGOUT is written and not waited for. Over implicit TLS that is four turns: the TLS
handshake, the greeting, AUTHENTICATE, EXAMINE.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from aioimaplib import aioimaplib

from console.core.model import AuthMethod, Cause, CheckResult, Protocol, Security, ServerSettings
from console.core.model import Stage as S
from console.core.probe.flow import connect, record_tls, run_ladder
from console.core.probe.imap_client import (
    ImapSession,
    encode_mailbox,
    tagged_text,
    untagged_text,
)
from console.core.probe.numbers import server_count
from console.core.probe.steps import (
    Ladder,
    ProtocolViolation,
    StageFailure,
    StepNote,
)
from console.core.probe.tls import client_context
from console.core.resolver import Resolve

QUOTA_WARNING_PERCENT = 90
_SMTP_BANNER = re.compile(r"^\d{3}(?:[ -]|$)")
_QUOTA = re.compile(r"\(([^)]*)\)")


async def probe_imap(
    settings: ServerSettings,
    secret: str | None,
    *,
    timeout: float,
    provider: str | None = None,
    on_stage: Callable[[S], None] | None = None,
    local_addr: str | None = None,
    resolve: Resolve | None = None,
    after_login: AfterLogin | None = None,
) -> CheckResult:
    """Run the IMAP ladder against one server; every outcome is a `CheckResult`.

    `secret=None` stops before auth (no credential is sent). Only cancellation is raised, after
    the connection has been closed. `after_login`, when given, runs on the logged-in session
    instead of the mailbox stage (the reply canary waits and searches there), then LOGOUT.
    """
    ladder = Ladder(
        Protocol.IMAP,
        settings,
        secret,
        timeout=timeout,
        provider=provider,
        on_stage=on_stage,
        resolve=resolve,
    )
    session = ImapSession(ladder.transcript)
    if secret:
        session.protect(secret)
    return await run_ladder(
        ladder, session, lambda: _ladder(ladder, session, secret, local_addr, after_login)
    )


AfterLogin = Callable[[Ladder, ImapSession], Awaitable[None]]


async def _ladder(
    ladder: Ladder,
    session: ImapSession,
    secret: str | None,
    local_addr: str | None,
    after_login: AfterLogin | None = None,
) -> None:
    settings = ladder.settings
    await connect(ladder, session, local_addr)

    async with ladder.stage(S.GREETING) as note:
        greeting = (await session.greeting()).decode("utf-8", "replace")
        note.detail = greeting
        ladder.facts["greeting"] = greeting
        preauth = _check_greeting(greeting)
        session.accept_greeting(preauth)

    async with ladder.stage(S.CAPABILITY) as note:
        if session.capabilities_from(greeting):
            caps = session.capabilities
            ladder.transcript.note("capabilities taken from the greeting")
        else:
            caps = await session.capability()
        note.detail = " ".join(sorted(caps))
        if not {c.upper() for c in caps} & {"IMAP4REV1", "IMAP4REV2"}:
            raise StageFailure(
                f"the server does not speak IMAP4rev1 (CAPABILITY {note.detail})",
                exc=ProtocolViolation("not IMAP4rev1"),
                cause=Cause.PROTOCOL_ERROR,
            )
    _record_capabilities(ladder, session)

    if settings.security is Security.STARTTLS:
        await _starttls(ladder, session, preauth)

    if preauth:
        ladder.transcript.note("PREAUTH greeting: already authenticated, no login needed")
        current = True  # the capabilities already known are the authenticated state's
    elif secret is None:
        ladder.transcript.note("no secret given: stopping before auth")
        await _logout(ladder, session)
        return
    else:
        current = await _authenticate(ladder, session, secret)

    if after_login is not None:
        await after_login(ladder, session)
    else:
        await _mailbox(ladder, session, current)
    await _logout(ladder, session)


def _check_greeting(greeting: str) -> bool:
    """Accept `* OK` / `* PREAUTH`; name what else answered (BYE, SMTP, HTTP, POP3, noise)."""
    upper = greeting.upper()
    if upper.startswith("* OK"):
        return False
    if upper.startswith("* PREAUTH"):
        return True
    if upper.startswith("* BYE"):
        raise StageFailure(greeting[5:].strip() or greeting)
    if _SMTP_BANNER.match(greeting):
        raise StageFailure(
            f"this port answers like an SMTP server, not IMAP: {greeting}",
            cause=Cause.WRONG_SERVICE,
        )
    if upper.startswith("HTTP/") or upper.startswith("<"):
        raise StageFailure(
            f"this port answers like a web server, not IMAP: {greeting}", cause=Cause.WRONG_SERVICE
        )
    if upper.startswith("+OK"):
        raise StageFailure(
            f"this port answers like a POP3 server, not IMAP: {greeting}",
            cause=Cause.WRONG_SERVICE,
        )
    raise StageFailure(
        f"this port does not answer with an IMAP greeting: {greeting}", cause=Cause.WRONG_SERVICE
    )


async def _starttls(ladder: Ladder, session: ImapSession, preauth: bool) -> None:
    settings = ladder.settings
    async with ladder.stage(S.STARTTLS) as note:
        if preauth:
            raise StageFailure(
                "the server logged us in before TLS (PREAUTH greeting): STARTTLS is impossible",
                cause=Cause.STARTTLS_UNAVAILABLE,
            )
        if "STARTTLS" not in {c.upper() for c in session.capabilities}:
            raise StageFailure(
                "the server does not offer STARTTLS (no credential was sent)",
                cause=Cause.STARTTLS_UNAVAILABLE,
            )
        context = client_context(settings.tls_ca_file)
        response = await session.starttls(context, settings.host)
        if response.result != "OK":
            raise StageFailure(tagged_text(response))
        caps = await session.capability()  # RFC 3501: forget what was said before TLS
        note.detail = f"{tagged_text(response)}\n{record_tls(ladder, session)}"
        note.detail += f"\nCAPABILITY {' '.join(sorted(caps))}"
    _record_capabilities(ladder, session)


async def _authenticate(ladder: Ladder, session: ImapSession, secret: str) -> bool:
    """Log in; True when the answer carried the capabilities that hold after login."""
    settings = ladder.settings
    caps = {c.upper() for c in session.capabilities}
    sasl_ir = "SASL-IR" in caps
    async with ladder.stage(S.AUTH) as note:
        if not session.encrypted and settings.security is not Security.NONE:
            raise AssertionError("credentials would cross an unencrypted connection")
        if settings.auth is AuthMethod.OAUTH2:
            payload = f"user={settings.username}\x01auth=Bearer {secret}\x01\x01".encode()
            ladder.add_secret(secret)
            response = await session.authenticate(
                "XOAUTH2", payload, initial_response=sasl_ir, final=b""
            )
        elif "AUTH=PLAIN" in caps and (session.encrypted or "LOGINDISABLED" not in caps):
            payload = b"\0" + settings.username.encode() + b"\0" + secret.encode()
            response = await session.authenticate("PLAIN", payload, initial_response=sasl_ir)
        elif "LOGINDISABLED" in caps and not session.encrypted:
            raise StageFailure(
                "the server announces LOGINDISABLED: it refuses to log in without TLS "
                "(no credential was sent)",
                cause=Cause.PLAINTEXT_DISABLED,
            )
        elif "LOGINDISABLED" in caps:
            raise StageFailure(
                "the server announces LOGINDISABLED and offers no AUTH=PLAIN: it accepts no "
                "password login (no credential was sent)",
                cause=Cause.BASIC_AUTH_DISABLED,
            )
        else:
            response = await session.login(settings.username, secret)
        text = tagged_text(response)
        note.detail = "\n".join([*untagged_text(response), text])
        if response.result != "OK":
            message = _with_alerts(response)
            raise StageFailure(message)
        current = session.update_capabilities(response)
    if not session.encrypted:
        ladder.warn(
            "The server accepted the password over an unencrypted connection "
            '(security = "none"): anyone on the network path can read it. Use TLS.'
        )
    _record_capabilities(ladder, session)
    return current


def _with_alerts(response: object) -> str:
    """The tagged text, preceded by untagged `[ALERT]`/BAD lines that explain it."""
    extra = [line for line in untagged_text(response) if "ALERT" in line.upper()]
    return "\n".join([*extra, tagged_text(response)])


async def _mailbox(ladder: Ladder, session: ImapSession, current: bool) -> None:
    """EXAMINE, with GETQUOTAROOT (or, when the login did not list the capabilities, CAPABILITY)
    in the same write: one turn. Each command keeps its own answer: a refused EXAMINE fails the
    stage with its own words, a quota the server will not tell only goes unreported."""
    settings = ladder.settings
    async with ladder.stage(S.MAILBOX) as note:
        quota_known = current and "QUOTA" in _upper(session.capabilities)
        commands: list[tuple[str, ...]] = [] if current else [("CAPABILITY",)]
        commands.append(("EXAMINE", encode_mailbox(settings.mailbox)))
        if quota_known:
            commands.append(("GETQUOTAROOT", '"INBOX"'))
        sent = session.send_commands(*commands)
        if not current:  # some servers only list QUOTA (and drop AUTH=) after login
            asked = await session.answer(sent.pop(0))
            if asked.result == "OK":
                session.update_capabilities(asked)
                _record_capabilities(ladder, session)
        started = asyncio.get_running_loop().time()
        response = await session.answer(sent[0])
        note.detail = tagged_text(response)
        if response.result != "OK":
            raise StageFailure(_with_alerts(response))
        _record_count(ladder, note, untagged_text(response))
        if "QUOTA" not in _upper(session.capabilities):
            return
        took = asyncio.get_running_loop().time() - started
        if quota_known:
            detail = await _quota(ladder, session, sent[1], took)
        else:  # learnt only now: one more turn, for servers that keep their list to themselves
            detail = await _quota(ladder, session, session.send_commands(QUOTA_ROOT)[0], took)
        if detail:
            note.detail += f"\n{detail}"


QUOTA_ROOT = ("GETQUOTAROOT", '"INBOX"')
QUOTA_GRACE_SECONDS = 1.0
"""How long a quota answer may lag the EXAMINE answer (beyond twice the time EXAMINE took)."""


async def _quota(
    ladder: Ladder, session: ImapSession, command: aioimaplib.Command, took: float
) -> str:
    """The quota, or why it is unknown; the mailbox opened, so nothing here fails the stage.

    A server that mishandles the pipelined command (ignores it, answers BAD, closes) costs at
    most a short, bounded wait: its answer normally arrives with EXAMINE's.
    """
    try:
        async with asyncio.timeout(QUOTA_GRACE_SECONDS + 2 * took):
            quota = await session.answer(command)
    except (TimeoutError, ConnectionError, ProtocolViolation, StageFailure) as exc:
        ladder.transcript.note(f"no quota answer ({exc or type(exc).__name__}); quota unknown")
        return "quota unknown (no answer to GETQUOTAROOT)"
    if quota.result != "OK":
        return f"quota unknown (GETQUOTAROOT: {tagged_text(quota)})"
    return _record_quota(ladder, untagged_text(quota))


def _record_count(ladder: Ladder, note: StepNote, lines: list[str]) -> None:
    for line in lines:
        match = re.match(r"(\d+) EXISTS", line, re.I)
        if match:
            count = server_count(match.group(1))
            if count is None:  # absurd: leave the fact out, the mailbox did open
                note.detail += f"\nEXISTS with {len(match.group(1))} digits ignored"
                continue
            ladder.facts["messages"] = count
            note.detail += f"\n{count} messages"


async def _logout(ladder: Ladder, session: ImapSession) -> None:
    """LOGOUT, written and not waited for: the check already passed, the close is ours."""
    async with ladder.stage(S.LOGOUT) as note:
        if session.logout_nowait():
            note.detail = "LOGOUT sent; the connection is closed without waiting for the answer"
        else:
            note.detail = "the server had already closed the connection"


def _upper(names: set[str]) -> set[str]:
    return {name.upper() for name in names}


def _record_capabilities(ladder: Ladder, session: ImapSession) -> None:
    caps = sorted(session.capabilities)
    ladder.facts["capabilities"] = tuple(caps)
    ladder.capability_names = {c.upper() for c in caps}
    mechanisms = [c[5:] for c in caps if c.upper().startswith("AUTH=")]
    if mechanisms or "auth_mechanisms" not in ladder.facts:  # servers drop AUTH= after login
        ladder.facts["auth_mechanisms"] = tuple(mechanisms)
    ladder.facts["idle"] = any(c.upper() == "IDLE" for c in caps)


def _record_quota(ladder: Ladder, lines: list[str]) -> str:
    """`"User quota" (STORAGE 1 10240)` -> used/limit in KiB, percent, and a warning near full."""
    for line in lines:
        for group in _QUOTA.findall(line):
            words = group.split()
            for i in range(0, len(words) - 2, 3):
                if words[i].upper() != "STORAGE":
                    continue
                used, limit = server_count(words[i + 1]), server_count(words[i + 2])
                if used is None or limit is None:  # not numbers, or absurdly long ones
                    continue
                ladder.facts["quota_used_kb"] = used
                ladder.facts["quota_limit_kb"] = limit
                if limit <= 0:
                    return f"quota {used} KiB used, no limit"
                percent = round(used * 100 / limit, 1)
                ladder.facts["quota_percent"] = percent
                if percent >= QUOTA_WARNING_PERCENT:
                    ladder.warn(
                        f"The mailbox is {percent:g}% full ({used} of {limit} KiB): when it is "
                        "full, replies bounce and are never tracked."
                    )
                return f"quota {used} of {limit} KiB used ({percent:g}%)"
    return ""
