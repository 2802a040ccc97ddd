"""Loading rules.toml: the rule table, the provider hints and the port table, checked at load.

Every key, cause id, provider id, stage, tier order and regex is validated once, so a typo in the
data fails a test instead of a user. rules.toml's header documents the conditions.
"""

from __future__ import annotations

import errno
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from console.core.diagnosis.failure import PROVIDER_IDS
from console.core.model import Cause, Protocol, Security, Stage

RULES_FILE = "rules.toml"

_E = TypeVar("_E", Cause, Protocol, Stage, Security)

TIERS: tuple[str, ...] = (
    "stage",  # the rung alone decides (config, secret, dns)
    "banner",  # another protocol answered: nothing it says is about this one
    "provider",  # a provider's (or server software's) own wording
    "phrase",  # wording that names the cause outright, whoever sends it
    "code",  # RFC 5530 response codes, SMTP enhanced status codes, unambiguous reply codes
    "words",  # looser word families
    "reply",  # bare SMTP reply classes (4xx, 5xx) that only say "temporary" or "refused"
    "evidence",  # what the stage and the capabilities imply when the words say nothing
    "exception",  # the exception class, for failures without a server reply
)
"""Tiers in the order rules.toml must list them."""

_RULE_KEYS = frozenset(
    {
        "id",
        "tier",
        "cause",
        "why",
        "corpus",
        "providers",
        "protocols",
        "stages",
        "auth",
        "has_text",
        "has_exception",
        "text",
        "greeting",
        "greeting_not",
        "imap_codes",
        "smtp_codes",
        "enhanced",
        "capabilities",
        "capabilities_absent",
        "exceptions",
        "exc_text",
        "verify_codes",
        "errnos",
    }
)
_REGEX_FLAGS = re.IGNORECASE | re.MULTILINE
_SMTP_CODE_PATTERN = re.compile(r"[2-5][0-9x]{2}")


class RuleDataError(ValueError):
    """The data file is wrong; the message names the rule and the key."""


@dataclass(frozen=True)
class Rule:
    """One row of the table: a cause and the conditions that must all hold (None = any)."""

    id: str
    tier: str
    cause: Cause
    why: str = ""
    corpus: tuple[str, ...] = ()
    """Ids of the reply-corpus entries the rule was written for (docs/reply-corpus.md)."""
    providers: frozenset[str] | None = None
    protocols: frozenset[Protocol] | None = None
    stages: frozenset[Stage] | None = None
    password_login: bool = False
    has_text: bool | None = None
    has_exception: bool | None = None
    text: re.Pattern[str] | None = None
    greeting: re.Pattern[str] | None = None
    greeting_not: re.Pattern[str] | None = None
    imap_codes: frozenset[str] | None = None
    smtp_codes: re.Pattern[str] | None = None
    enhanced: re.Pattern[str] | None = None
    capabilities: frozenset[str] | None = None
    capabilities_absent: frozenset[str] | None = None
    exceptions: frozenset[str] | None = None
    exc_text: re.Pattern[str] | None = None
    verify_codes: frozenset[int] | None = None
    errnos: frozenset[int] | None = None

    @property
    def inspects_exception(self) -> bool:
        return any(
            c is not None for c in (self.exceptions, self.exc_text, self.verify_codes, self.errnos)
        )


@dataclass(frozen=True)
class Hint:
    provider: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class RuleTable:
    rules: tuple[Rule, ...]
    hints: tuple[Hint, ...]
    ports: Mapping[Protocol, Mapping[int, frozenset[Security]]]


@cache
def rule_table() -> RuleTable:
    """rules.toml, parsed and validated once per process."""
    text = resources.files(__package__).joinpath(RULES_FILE).read_text(encoding="utf-8")
    return parse_rule_table(tomllib.loads(text))


def parse_rule_table(data: Mapping[str, Any]) -> RuleTable:
    unknown = set(data) - {"rule", "hint", "ports"}
    if unknown:
        raise RuleDataError(f"{RULES_FILE}: unknown top-level keys {sorted(unknown)}")
    rules = tuple(_rule(raw) for raw in _list(data.get("rule"), "rule"))
    _check_order(rules)
    hints = tuple(_hint(raw) for raw in _list(data.get("hint"), "hint"))
    return RuleTable(rules, hints, _ports(data.get("ports", {})))


def _rule(raw: object) -> Rule:
    if not isinstance(raw, dict):
        raise RuleDataError(f"{RULES_FILE}: every [[rule]] must be a table")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise RuleDataError(f"{RULES_FILE}: a rule without an id: {raw!r}")
    where = f"{RULES_FILE}: rule {rid!r}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RuleDataError(f"{where}: unknown keys {sorted(unknown)}")
    tier = raw.get("tier")
    if tier not in TIERS:
        raise RuleDataError(f"{where}: tier must be one of {TIERS}, not {tier!r}")
    auth = raw.get("auth")
    if auth not in (None, "password"):
        raise RuleDataError(f'{where}: auth may only be "password"')
    rule = Rule(
        id=rid,
        tier=tier,
        cause=_enum(Cause, raw.get("cause"), where, "cause"),
        why=str(raw.get("why", "")),
        corpus=tuple(sorted(_str_set(raw.get("corpus"), where, "corpus") or ())),
        providers=_providers(raw.get("providers"), where),
        protocols=_enum_set(Protocol, raw.get("protocols"), where, "protocols"),
        stages=_enum_set(Stage, raw.get("stages"), where, "stages"),
        password_login=auth == "password",
        has_text=_bool(raw.get("has_text"), where, "has_text"),
        has_exception=_bool(raw.get("has_exception"), where, "has_exception"),
        text=_regex(raw.get("text"), where, "text"),
        greeting=_regex(raw.get("greeting"), where, "greeting"),
        greeting_not=_regex(raw.get("greeting_not"), where, "greeting_not"),
        imap_codes=_upper_set(raw.get("imap_codes"), where, "imap_codes"),
        smtp_codes=_smtp_codes(raw.get("smtp_codes"), where),
        enhanced=_regex(raw.get("enhanced"), where, "enhanced"),
        capabilities=_upper_set(raw.get("capabilities"), where, "capabilities"),
        capabilities_absent=_upper_set(
            raw.get("capabilities_absent"), where, "capabilities_absent"
        ),
        exceptions=_str_set(raw.get("exceptions"), where, "exceptions"),
        exc_text=_regex(raw.get("exc_text"), where, "exc_text"),
        verify_codes=_int_set(raw.get("verify_codes"), where, "verify_codes"),
        errnos=_errnos(raw.get("errnos"), where),
    )
    if not raw.keys() - {"id", "tier", "cause", "why", "corpus"}:
        raise RuleDataError(f"{where}: states no condition, so it would match everything")
    return rule


def _check_order(rules: tuple[Rule, ...]) -> None:
    seen: set[str] = set()
    last = 0
    for rule in rules:
        if rule.id in seen:
            raise RuleDataError(f"{RULES_FILE}: rule id {rule.id!r} is used twice")
        seen.add(rule.id)
        position = TIERS.index(rule.tier)
        if position < last:
            raise RuleDataError(
                f"{RULES_FILE}: rule {rule.id!r} (tier {rule.tier}) comes after tier {TIERS[last]}"
            )
        last = position


def _hint(raw: object) -> Hint:
    if not isinstance(raw, dict) or set(raw) != {"provider", "patterns"}:
        raise RuleDataError(f"{RULES_FILE}: a [[hint]] needs exactly provider and patterns")
    where = f"{RULES_FILE}: hint {raw.get('provider')!r}"
    providers = _providers([raw["provider"]], where)
    pattern = _regex(raw["patterns"], where, "patterns")
    assert providers is not None and pattern is not None
    return Hint(next(iter(providers)), pattern)


def _ports(raw: object) -> Mapping[Protocol, Mapping[int, frozenset[Security]]]:
    if not isinstance(raw, dict):
        raise RuleDataError(f"{RULES_FILE}: [ports] must be a table")
    table: dict[Protocol, dict[int, frozenset[Security]]] = {}
    for name, ports in raw.items():
        where = f"{RULES_FILE}: ports.{name}"
        protocol = _enum(Protocol, name, where, "protocol")
        if not isinstance(ports, dict):
            raise RuleDataError(f"{where} must be a table of port = [securities]")
        table[protocol] = {}
        for port, securities in ports.items():
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise RuleDataError(f"{where}: {port!r} is not a port number")
            found = _enum_set(Security, securities, where, port)
            if not found:
                raise RuleDataError(f"{where}.{port}: list at least one security")
            table[protocol][int(port)] = found
    return table


# -- value checkers ---------------------------------------------------------------------------


def _list(value: object, what: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleDataError(f"{RULES_FILE}: {what} must be an array of tables")
    return value


def _strings(value: object, where: str, key: str) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise RuleDataError(f"{where}: {key} must be a string or a non-empty list of strings")
    return list(items)


def _regex(value: object, where: str, key: str) -> re.Pattern[str] | None:
    patterns = _strings(value, where, key)
    if patterns is None:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), _REGEX_FLAGS)
    except re.error as exc:
        raise RuleDataError(f"{where}: {key} is not a valid regex: {exc}") from None


def _str_set(value: object, where: str, key: str) -> frozenset[str] | None:
    items = _strings(value, where, key)
    return None if items is None else frozenset(items)


def _upper_set(value: object, where: str, key: str) -> frozenset[str] | None:
    items = _strings(value, where, key)
    return None if items is None else frozenset(i.upper() for i in items)


def _int_set(value: object, where: str, key: str) -> frozenset[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(type(v) is int for v in value):
        raise RuleDataError(f"{where}: {key} must be a non-empty list of integers")
    return frozenset(value)


def _bool(value: object, where: str, key: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise RuleDataError(f"{where}: {key} must be true or false")
    return value


def _enum(kind: type[_E], value: object, where: str, key: str) -> _E:
    known = {member.value for member in kind}
    if not isinstance(value, str) or value not in known:
        raise RuleDataError(f"{where}: {key} {value!r} is not a known {kind.__name__}")
    return kind(value)


def _enum_set(kind: type[_E], value: object, where: str, key: str) -> frozenset[_E] | None:
    items = _strings(value, where, key)
    return None if items is None else frozenset(_enum(kind, i, where, key) for i in items)


def _providers(value: object, where: str) -> frozenset[str] | None:
    items = _strings(value, where, "providers")
    if items is None:
        return None
    unknown = set(items) - PROVIDER_IDS
    if unknown:
        raise RuleDataError(f"{where}: unknown provider ids {sorted(unknown)}")
    return frozenset(items)


def _smtp_codes(value: object, where: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    codes = [str(v) for v in items if isinstance(v, int | str) and not isinstance(v, bool)]
    if not codes or len(codes) != len(items):
        raise RuleDataError(f'{where}: smtp_codes must list codes like 535 or "4xx"')
    for code in codes:
        if not _SMTP_CODE_PATTERN.fullmatch(code):
            raise RuleDataError(f'{where}: smtp code {code!r} is not like 535 or "4xx"')
    return re.compile("|".join(c.replace("x", "[0-9]") for c in codes))


def _errnos(value: object, where: str) -> frozenset[int] | None:
    names = _strings(value, where, "errnos")
    if names is None:
        return None
    unknown = [n for n in names if not isinstance(getattr(errno, n, None), int)]
    if unknown:
        raise RuleDataError(f"{where}: unknown errno names {unknown}")
    return frozenset(int(getattr(errno, n)) for n in names)


# -- ports ------------------------------------------------------------------------------------


def expected_security(protocol: Protocol | str, port: int | str | None) -> frozenset[Security]:
    """The security modes a well-known port expects; empty for a port the table does not know."""
    proto = _coerce(Protocol, protocol)
    number = _port(port)
    if proto is None or number is None:
        return frozenset()
    return rule_table().ports.get(proto, {}).get(number, frozenset())


def port_security_mismatch(
    protocol: Protocol | str, port: int | str | None, security: Security | str | None
) -> bool:
    """True when a well-known port expects another security (993/465: tls; 143/587/25: not).

    Accepts half-typed values (the TUI flags while typing): anything unparsable is no mismatch.
    """
    expected = expected_security(protocol, port)
    mode = _coerce(Security, security)
    return bool(expected) and mode is not None and mode not in expected


def port_protocol_mismatch(protocol: Protocol | str, port: int | str | None) -> bool:
    """True when the port is a well-known port of the other protocol (IMAP on 587, SMTP on 993)."""
    proto = _coerce(Protocol, protocol)
    number = _port(port)
    if proto is None or number is None:
        return False
    ports = rule_table().ports
    if number in ports.get(proto, {}):
        return False
    return any(number in table for other, table in ports.items() if other is not proto)


def _coerce(kind: type[_E], value: object) -> _E | None:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        return None


def _port(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and len(text) <= 5 else None
