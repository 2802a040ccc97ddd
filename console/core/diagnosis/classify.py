"""Server reply -> cause: the ordered rule table in rules.toml, applied by one generic matcher.

The knowledge (which words, codes and exceptions mean what, and in which order they are tried)
lives in rules.toml; this module only reads the evidence out of a `Failure` and asks each rule,
top to bottom, whether all of its conditions hold. The first rule that holds names the cause.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from console.core.diagnosis.failure import Failure
from console.core.diagnosis.rules import Rule, RuleTable, rule_table
from console.core.model import AuthMethod, Cause, Protocol, Stage
from console.core.providers.detection import provider_for_greeting

log = logging.getLogger(__name__)

MAX_TEXT = 8192
"""Characters kept from each end of a long reply: the tagged answer is at the end."""

_CHAIN_DEPTH = 8
_CAPABILITY_CODE = re.compile(r"\[CAPABILITY\b[^\]]{0,4000}\]", re.IGNORECASE)
_CAPABILITY_LINE = re.compile(r"^\s*\*\s+CAPABILITY\b[^\n]*$", re.IGNORECASE | re.MULTILINE)
_IMAP_CODE = re.compile(r"\[([A-Za-z][A-Za-z0-9.-]{0,63})")
_SMTP_CODE = re.compile(r"\A\s*([2-5][0-9][0-9])(?:[ -]|$)", re.MULTILINE)
_ENHANCED = re.compile(
    r"(?:^|\b[2-5][0-9][0-9][ -])\s*([245]\.[0-9]{1,3}\.[0-9]{1,3})(?![.0-9])", re.MULTILINE
)


@dataclass(frozen=True)
class Diagnosis:
    """A cause with the id of the rule that named it (for transcripts, tests and bug reports)."""

    cause: Cause
    rule: str | None
    provider: str | None


@dataclass(frozen=True)
class Evidence:
    """What the rules look at, read once out of a `Failure`: normalised, bounded, never None."""

    protocol: Protocol
    stage: Stage
    provider: str | None
    text: str
    greeting: str
    imap_codes: frozenset[str]
    smtp_code: int | None
    enhanced: str | None
    capabilities: frozenset[str]
    exceptions: tuple[BaseException, ...]
    auth: AuthMethod | None


def classify(failure: Failure, provider: str | None = None) -> Cause:
    """The cause of one failure. Never raises: a diagnosis bug must not break a check."""
    try:
        return diagnose(failure, provider).cause
    except Exception:  # the safety net the contract promises; tests run `diagnose` bare
        log.exception("diagnosis failed; reporting the cause as unknown")
        return Cause.UNKNOWN


def diagnose(
    failure: Failure, provider: str | None = None, table: RuleTable | None = None
) -> Diagnosis:
    """Like `classify`, but says which rule matched (and lets a bug in the matcher surface).

    `table` is rules.toml unless given (the corpus benchmark passes tables with rules left out).
    """
    if table is None:
        table = rule_table()
    evidence = read_evidence(failure, provider, table)
    for rule in table.rules:
        if matches(rule, evidence):
            return Diagnosis(rule.cause, rule.id, evidence.provider)
    return Diagnosis(Cause.UNKNOWN, None, evidence.provider)


def provider_hint(failure: Failure) -> str | None:
    """The provider recognised from the banner or reply (Gimap, `- gsmtp`, outlook.com, ...)."""
    try:
        return _hint(rule_table(), _as_text(failure.greeting), _as_text(failure.text))
    except Exception:
        log.exception("provider hint failed")
        return None


# -- evidence ---------------------------------------------------------------------------------


def read_evidence(failure: Failure, provider: str | None, table: RuleTable) -> Evidence:
    """The server's words (not the library's), codes, banner, capabilities and exception chain.

    At the greeting stage the reply is the banner: each stands in for the other when missing.
    """
    protocol, stage = Protocol(failure.protocol), Stage(failure.stage)
    exceptions = exception_chain(failure.exc)
    reply = _server_reply(exceptions)
    server = "" if _library_words(failure.text, exceptions) else _as_text(failure.text)
    if not server.strip() and reply is not None:
        server = f"{reply[0]} {reply[1]}" if protocol is Protocol.SMTP else reply[1]
    text = _bounded(server if server.strip() else _exception_words(exceptions))
    smtp_code = _smtp_code(failure.smtp_code, reply, text, protocol)
    greeting = _bounded(_as_text(failure.greeting))
    if not greeting.strip() and stage is Stage.GREETING:
        greeting = _with_code(_bounded(server), smtp_code)
    elif not text.strip() and stage is Stage.GREETING:
        text = greeting
    words = _CAPABILITY_LINE.sub("", _CAPABILITY_CODE.sub("[CAPABILITY]", text))
    known = provider.strip().lower() if isinstance(provider, str) and provider.strip() else None
    return Evidence(
        protocol=protocol,
        stage=stage,
        provider=known or _hint(table, greeting, text),
        text=words,
        greeting=greeting,
        imap_codes=frozenset(c.upper() for c in _IMAP_CODE.findall(words)),
        smtp_code=smtp_code,
        enhanced=_enhanced(text) if protocol is Protocol.SMTP else None,
        capabilities=_capabilities(failure.capabilities),
        exceptions=exceptions,
        auth=failure.auth,
    )


def exception_chain(exc: BaseException | None) -> tuple[BaseException, ...]:
    """The exception, then what caused it (explicit cause, else unsuppressed context)."""
    chain: list[BaseException] = []
    current = exc
    while current is not None and len(chain) < _CHAIN_DEPTH:
        if any(current is seen for seen in chain):
            break
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return tuple(chain)


def _server_reply(exceptions: Iterable[BaseException]) -> tuple[int, str] | None:
    """(code, message) from an SMTP library exception that carries the server's reply."""
    for exc in exceptions:
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None)
        if isinstance(code, bool) or not isinstance(code, int) or not isinstance(message, str):
            continue
        if 100 <= code <= 599:
            return code, message
    return None


def _library_words(text: object, exceptions: tuple[BaseException, ...]) -> bool:
    """True when `text` describes the exception rather than quoting the server.

    An OS-level failure without a server reply (DNS, refused, reset, TLS, timeout) has no server
    words at all; otherwise the probe may have passed the exception's own message as the text.
    """
    if not exceptions:
        return False
    top = exceptions[0]
    if isinstance(top, OSError) and _server_reply(exceptions[:1]) is None:
        return True
    said = _as_text(text).strip()
    own = _exception_words(exceptions[:1]).strip()
    return bool(said) and bool(own) and (said == own or said.endswith(own))


def _exception_words(exceptions: tuple[BaseException, ...]) -> str:
    """A library exception's message, for the wording rules; OS errors have no useful words."""
    if not exceptions or isinstance(exceptions[0], OSError):
        return ""
    message = getattr(exceptions[0], "message", None)
    return message if isinstance(message, str) else _safe_str(exceptions[0])


def _smtp_code(
    given: int | None, reply: tuple[int, str] | None, text: str, protocol: Protocol
) -> int | None:
    if protocol is not Protocol.SMTP:
        return None
    if isinstance(given, int) and 100 <= given <= 599:
        return given
    if reply is not None:
        return reply[0]
    found = _SMTP_CODE.search(text)
    return int(found.group(1)) if found else None


def _with_code(text: str, code: int | None) -> str:
    """An SMTP reply as on the wire: the probe may hand over the code apart from the words."""
    if code is None or not text.strip() or _SMTP_CODE.match(text):
        return text
    return f"{code} {text}"


def _enhanced(text: str) -> str | None:
    found = _ENHANCED.search(text)
    return found.group(1) if found else None


def _capabilities(values: Iterable[object]) -> frozenset[str]:
    """Upper-cased names, plus the first word of EHLO lines ("AUTH PLAIN LOGIN" -> "AUTH")."""
    names: set[str] = set()
    try:
        for value in values:
            name = _as_text(value).strip().upper()
            if name:
                names.add(name)
                names.add(name.split()[0])
    except TypeError:
        return frozenset()
    return frozenset(names)


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return _safe_str(value)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return type(value).__name__


def _bounded(text: str) -> str:
    if len(text) <= 2 * MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}\n{text[-MAX_TEXT:]}"


def _hint(table: RuleTable, greeting: str, text: str) -> str | None:
    """The provider from the catalogue's greetings (their one home), then the [[hint]] patterns."""
    for source in (_bounded(greeting), _bounded(text)):
        if not source:
            continue
        known = provider_for_greeting(source)
        if known is not None:
            return known.id
        for hint in table.hints:
            if hint.pattern.search(source):
                return hint.provider
    return None


# -- matching ---------------------------------------------------------------------------------


def matches(rule: Rule, ev: Evidence) -> bool:
    """True when every condition the rule states holds for the evidence."""
    if rule.providers is not None and ev.provider not in rule.providers:
        return False
    if rule.protocols is not None and ev.protocol not in rule.protocols:
        return False
    if rule.stages is not None and ev.stage not in rule.stages:
        return False
    if rule.password_login and ev.auth is AuthMethod.OAUTH2:
        return False
    if rule.has_text is not None and rule.has_text != bool(ev.text.strip()):
        return False
    if rule.has_exception is not None and rule.has_exception != bool(ev.exceptions):
        return False
    if rule.text is not None and not rule.text.search(ev.text):
        return False
    if rule.greeting is not None and not rule.greeting.search(ev.greeting):
        return False
    if rule.greeting_not is not None and (
        not ev.greeting.strip() or rule.greeting_not.search(ev.greeting)
    ):
        return False
    if rule.imap_codes is not None and not (rule.imap_codes & ev.imap_codes):
        return False
    if rule.smtp_codes is not None and (
        ev.smtp_code is None or not rule.smtp_codes.fullmatch(str(ev.smtp_code))
    ):
        return False
    if rule.enhanced is not None and (ev.enhanced is None or not rule.enhanced.search(ev.enhanced)):
        return False
    if rule.capabilities is not None and not (rule.capabilities & ev.capabilities):
        return False
    if rule.capabilities_absent is not None and rule.capabilities_absent & ev.capabilities:
        return False
    if rule.inspects_exception:
        return any(_exception_matches(rule, exc) for exc in ev.exceptions)
    return True


def _exception_matches(rule: Rule, exc: BaseException) -> bool:
    if rule.exceptions is not None and not (rule.exceptions & _class_names(exc)):
        return False
    if rule.exc_text is not None:
        reason = getattr(exc, "reason", None)
        words = f"{reason if isinstance(reason, str) else ''} {_safe_str(exc)}"
        if not rule.exc_text.search(words):
            return False
    if rule.verify_codes is not None and getattr(exc, "verify_code", None) not in rule.verify_codes:
        return False
    return rule.errnos is None or getattr(exc, "errno", None) in rule.errnos


def _class_names(exc: BaseException) -> frozenset[str]:
    """Short and module-qualified names of every class the exception is an instance of."""
    names: set[str] = set()
    for cls in type(exc).__mro__:
        names.add(cls.__name__)
        names.add(f"{cls.__module__}.{cls.__qualname__}")
    return frozenset(names)
