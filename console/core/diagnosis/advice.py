"""Cause -> what it means and how to fix it, from causes.toml and provider_fixes.toml.

Both files are read once and validated whole at load (every cause has every field; only known
cause, provider, state ids and placeholders), so a typo in the data fails a test, not a user.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from console.core.diagnosis import policies
from console.core.diagnosis.failure import PROVIDER_IDS
from console.core.model import (
    DEFAULT_PORTS,
    NO_AUTO_RETRY_CAUSES,
    TRANSIENT_CAUSES,
    Cause,
    Protocol,
    Security,
    State,
)

CAUSES_FILE = "causes.toml"
PROVIDER_FIXES_FILE = "provider_fixes.toml"
TITLE_MAX = 30
"""Titles fill a table column."""

_PLACEHOLDER = re.compile(r"\{([^{}\n]*)\}")
_PLACEHOLDERS = frozenset({"protocol", "other_protocol", "tls_port", "starttls_port", "provider"})
_PART_KEYS = frozenset({"note", "fix", "links"})
_CAUSE_KEYS = frozenset({"title", "explanation", "consequence", "transient", "imap", "smtp"})
_PORTS = {  # (tls port, starttls port), from the one port table
    protocol: (
        str(DEFAULT_PORTS[protocol][Security.TLS]),
        str(DEFAULT_PORTS[protocol][Security.STARTTLS]),
    )
    for protocol in (Protocol.IMAP, Protocol.SMTP)
}


class KnowledgeDataError(ValueError):
    """A knowledge file is wrong; the message names the file, the table and the key."""


@dataclass(frozen=True)
class Advice:
    """Everything the console says about one cause, for one protocol and (maybe) one provider."""

    cause: Cause
    protocol: Protocol
    provider: str | None  # the provider whose steps are included; None = generic advice only
    title: str
    explanation: str
    consequences: tuple[str, ...]
    fix: tuple[str, ...]  # provider-specific steps first, then the generic ones
    links: tuple[str, ...]
    transient: bool
    auto_retry: bool  # False for credential/policy causes: re-trying them locks accounts

    @property
    def retry_later_may_help(self) -> bool:
        return self.transient


@dataclass(frozen=True)
class _Part:
    note: str = ""
    fix: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    """Advice for one cause: what holds for both protocols, plus what holds for one of them."""

    common: _Part
    per_protocol: Mapping[Protocol, _Part] = field(default_factory=dict)


@dataclass(frozen=True)
class _CauseInfo:
    title: str
    explanation: str
    consequence: str
    transient: bool
    entry: _Entry


@dataclass(frozen=True)
class _ProviderInfo:
    name: str
    inherits: str | None
    causes: Mapping[Cause, _Entry]


@dataclass(frozen=True)
class Knowledge:
    causes: Mapping[Cause, _CauseInfo]
    providers: Mapping[str, _ProviderInfo]
    impact: Mapping[Protocol, tuple[str, ...]]
    checklist: tuple[str, ...]
    state_meaning: Mapping[State, str]


# -- the public face --------------------------------------------------------------------------


def advise(
    cause: Cause | str,
    protocol: Protocol | str,
    provider: str | None = None,
    *,
    today: date | None = None,
) -> Advice:
    """Title, explanation, consequences and fix steps (provider-specific first) for a cause.

    The provider's dated policy notes (policies.toml) read as they hold on `today` (default: the
    local date), so advice changes on the day an announced policy takes effect.
    """
    data = knowledge()
    cause, protocol = Cause(cause), Protocol(protocol)
    info = data.causes[cause]
    known = _known_provider(data, provider)
    chain = _provider_chain(data, known)
    entries = [prov.causes[cause] for prov in chain if cause in prov.causes]
    entries.append(info.entry)
    words = _Words(protocol, chain[0].name if chain else "the provider")
    notes = [info.explanation]  # then the dated policy notes (policies.toml), then the rest
    notes += policies.notes(known, cause.value, protocol.value, today or date.today())
    steps: list[str] = []
    links: list[str] = []
    for entry in entries:
        own = entry.per_protocol.get(protocol, _Part())
        notes += [entry.common.note, own.note]  # the general note reads first
        steps += [*own.fix, *entry.common.fix]  # the protocol's own steps come first
        links += [*own.links, *entry.common.links]
    return Advice(
        cause=cause,
        protocol=protocol,
        provider=known,
        title=words(info.title),
        explanation=" ".join(_unique(words(n) for n in notes if n)),
        consequences=tuple(words(c) for c in (info.consequence, *data.impact[protocol])),
        fix=tuple(_unique(words(step) for step in steps)),
        links=tuple(_unique(links)),
        transient=info.transient,
        auto_retry=cause not in NO_AUTO_RETRY_CAUSES,
    )


def provider_name(provider: str | None) -> str | None:
    """The display name of a provider id ("microsoft365" -> "Microsoft 365"), if known."""
    info = knowledge().providers.get(provider or "")
    return info.name if info else None


@cache
def knowledge() -> Knowledge:
    """Both knowledge files, parsed and validated once per process."""
    return parse_knowledge(_load(CAUSES_FILE), _load(PROVIDER_FIXES_FILE))


def _load(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _known_provider(data: Knowledge, provider: str | None) -> str | None:
    """The provider id if the knowledge has advice for it ("Gmail " -> "gmail"), else None."""
    pid = provider.strip().lower() if isinstance(provider, str) else ""
    return pid if pid in data.providers else None


def _provider_chain(data: Knowledge, provider: str | None) -> list[_ProviderInfo]:
    chain: list[_ProviderInfo] = []
    current = provider
    while current is not None and current in data.providers and len(chain) < len(data.providers):
        chain.append(data.providers[current])
        current = data.providers[current].inherits
    return chain


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class _Words:
    """Fills the placeholders ({protocol}, {tls_port}, {provider}, ...) of one piece of text."""

    protocol: Protocol
    provider: str

    def __call__(self, text: str) -> str:
        other = Protocol.SMTP if self.protocol is Protocol.IMAP else Protocol.IMAP
        tls_port, starttls_port = _PORTS[self.protocol]
        values = {
            "protocol": self.protocol.value.upper(),
            "other_protocol": other.value.upper(),
            "tls_port": tls_port,
            "starttls_port": starttls_port,
            "provider": self.provider,
        }
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


# -- loading and validation -------------------------------------------------------------------


def parse_knowledge(causes: Mapping[str, Any], providers: Mapping[str, Any]) -> Knowledge:
    top = {"impact", "reply_tracking", "state_meaning", "cause"}
    _keys(causes, top, CAUSES_FILE, required=True)
    impact_raw = _table(causes["impact"], f"{CAUSES_FILE}: [impact]")
    _keys(impact_raw, {"imap", "smtp"}, f"{CAUSES_FILE}: [impact]", required=True)
    impact = {p: _texts(impact_raw[p.value], f"{CAUSES_FILE}: impact.{p.value}") for p in Protocol}
    tracking = _table(causes["reply_tracking"], f"{CAUSES_FILE}: [reply_tracking]")
    _keys(tracking, {"checklist"}, f"{CAUSES_FILE}: [reply_tracking]", required=True)
    return Knowledge(
        causes=_causes(_table(causes["cause"], f"{CAUSES_FILE}: [cause]")),
        providers=_providers(providers),
        impact=impact,
        checklist=_texts(tracking["checklist"], f"{CAUSES_FILE}: reply_tracking.checklist"),
        state_meaning=_state_meaning(causes["state_meaning"]),
    )


def _causes(raw: Mapping[str, Any]) -> dict[Cause, _CauseInfo]:
    ids = {c.value for c in Cause}
    _keys(raw, ids, f"{CAUSES_FILE}: [cause]", required=True)
    result: dict[Cause, _CauseInfo] = {}
    for cause in Cause:
        where = f"{CAUSES_FILE}: [cause.{cause.value}]"
        table = _table(raw[cause.value], where)
        _keys(table, _CAUSE_KEYS | _PART_KEYS, where)
        _require(table, {"title", "explanation", "consequence", "transient", "fix"}, where)
        transient = table["transient"]
        if transient is not (cause in TRANSIENT_CAUSES):
            raise KnowledgeDataError(f"{where}: transient must be {cause in TRANSIENT_CAUSES}")
        title = _text(table["title"], f"{where} title")
        if len(title) > TITLE_MAX:
            raise KnowledgeDataError(f"{where}: title longer than {TITLE_MAX} characters")
        result[cause] = _CauseInfo(
            title=title,
            explanation=_text(table["explanation"], f"{where} explanation"),
            consequence=_text(table["consequence"], f"{where} consequence"),
            transient=transient,
            entry=_entry(table, where, ignore=_CAUSE_KEYS - {"imap", "smtp"}),
        )
    return result


def _providers(raw: Mapping[str, Any]) -> dict[str, _ProviderInfo]:
    _keys(raw, PROVIDER_IDS, PROVIDER_FIXES_FILE)
    causes = {c.value for c in Cause}
    result: dict[str, _ProviderInfo] = {}
    for pid, value in raw.items():
        where = f"{PROVIDER_FIXES_FILE}: [{pid}]"
        table = _table(value, where)
        _keys(table, causes | {"name", "inherits"}, where)
        inherits = table.get("inherits")
        if inherits is not None and inherits not in raw:
            raise KnowledgeDataError(f"{where}: inherits unknown provider {inherits!r}")
        result[pid] = _ProviderInfo(
            name=_text(table.get("name"), f"{where} name"),
            inherits=inherits,
            causes={
                Cause(key): _entry(_table(v, f"{where}.{key}"), f"{where}.{key}", required=True)
                for key, v in table.items()
                if key in causes
            },
        )
    for pid in result:
        _check_no_cycle(result, pid)
    return result


def _check_no_cycle(providers: Mapping[str, _ProviderInfo], start: str) -> None:
    seen = {start}
    current = providers[start].inherits
    while current is not None:
        if current in seen:
            raise KnowledgeDataError(f"{PROVIDER_FIXES_FILE}: [{start}] inherits in a circle")
        seen.add(current)
        current = providers[current].inherits


def _entry(
    table: Mapping[str, Any], where: str, *, ignore: Iterable[str] = (), required: bool = False
) -> _Entry:
    ignored = frozenset(ignore)
    _keys(table, _PART_KEYS | {"imap", "smtp"} | ignored, where)
    common = _part({k: v for k, v in table.items() if k in _PART_KEYS}, where)
    per_protocol = {
        p: _part(_table(table[p.value], f"{where}.{p.value}"), f"{where}.{p.value}")
        for p in Protocol
        if p.value in table
    }
    if required and not (common.fix or any(p.fix for p in per_protocol.values())):
        raise KnowledgeDataError(f"{where}: gives no fix step")
    return _Entry(common, per_protocol)


def _part(table: Mapping[str, Any], where: str) -> _Part:
    _keys(table, _PART_KEYS, where)
    links = _texts(table.get("links", []), f"{where} links", allow_empty=True)
    bad = [link for link in links if not link.startswith("https://") or " " in link]
    if bad:
        raise KnowledgeDataError(f"{where}: links must be https:// addresses: {bad}")
    return _Part(
        note=_text(table["note"], f"{where} note") if "note" in table else "",
        fix=_texts(table.get("fix", []), f"{where} fix", allow_empty=True),
        links=links,
    )


def _state_meaning(raw: object) -> dict[State, str]:
    where = f"{CAUSES_FILE}: [state_meaning]"
    table = _table(raw, where)
    _keys(table, {s.value for s in State}, where, required=True)
    return {s: _text(table[s.value], f"{where} {s.value}") for s in State}


def _keys(
    table: Mapping[str, Any], allowed: Iterable[str], where: str, *, required: bool = False
) -> None:
    """Only `allowed` keys; with `required`, all of them."""
    allowed = frozenset(allowed)
    unknown = set(table) - allowed
    if unknown:
        raise KnowledgeDataError(f"{where}: unknown keys {sorted(unknown)}")
    if required:
        _require(table, allowed, where)


def _require(table: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    missing = set(keys) - set(table)
    if missing:
        raise KnowledgeDataError(f"{where}: missing {sorted(missing)}")


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise KnowledgeDataError(f"{where} must be a table")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeDataError(f"{where} must be a non-empty string")
    unknown = {m for m in _PLACEHOLDER.findall(value) if m not in _PLACEHOLDERS}
    if unknown:
        raise KnowledgeDataError(f"{where}: unknown placeholders {sorted(unknown)}")
    return value.strip()


def _texts(value: object, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise KnowledgeDataError(f"{where} must be a non-empty list of strings")
    return tuple(_text(v, where) for v in value)


def _load_constants() -> tuple[tuple[str, ...], dict[State, str]]:
    data = knowledge()
    return data.checklist, dict(data.state_meaning)


REPLY_TRACKING_CHECKLIST, STATE_MEANING = _load_constants()
"""Shown for every account with IMAP; what each account state means for campaigns."""
