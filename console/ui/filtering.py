"""The `/` filter: words and `key:value` terms, combined the way k9s users expect.

`state:conditional tag:acme cause:auth_failed smtp.example`: terms of different kinds must all
match; several terms of one kind (`state:conditional state:disconnected`) match any of them; a
leading `!` or `-` negates a term. Bare words search email, name, tags, hosts and the cause.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from console.core.model import Cause, Protocol, State, Status
from console.ui.board import Entry

KEYS = ("state", "tag", "cause", "provider", "smtp", "imap")
"""Filter keys, as typed before the colon."""


class FilterError(ValueError):
    """A term that cannot mean anything (unknown state or cause); the message lists the choices."""


@dataclass(frozen=True)
class Term:
    key: str  # "" for a bare word
    value: str
    negated: bool = False


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...] = ()
    text: str = ""

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, entry: Entry, cause_title: Callable[[Entry], str] = lambda e: "") -> bool:
        groups: dict[str, list[Term]] = defaultdict(list)
        for term in self.terms:
            if term.negated:
                if _term_matches(term, entry, cause_title):
                    return False
            elif term.key:
                groups[term.key].append(term)
            elif not _term_matches(term, entry, cause_title):
                return False
        return all(any(_term_matches(t, entry, cause_title) for t in g) for g in groups.values())


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:  # an unbalanced quote while typing: fall back to plain words
        return text.split()


def _pick(kind: str, value: str, choices: list[str]) -> str:
    """Exact, else a unique prefix: `state:cond` is enough."""
    if value in choices:
        return value
    hits = [c for c in choices if c.startswith(value)]
    if len(hits) == 1:
        return hits[0]
    listed = ", ".join(choices)
    if not hits:
        raise FilterError(f"no {kind} {value!r}; choose from: {listed}")
    raise FilterError(f"{kind} {value!r} is ambiguous: {', '.join(hits)}")


def parse_query(text: str) -> Query:
    terms: list[Term] = []
    for word in _split(text.strip()):
        negated = word[:1] in ("!", "-") and len(word) > 1
        if negated:
            word = word[1:]
        key, sep, value = word.partition(":")
        key = key.casefold()
        if not sep or key not in KEYS:
            terms.append(Term("", word.casefold(), negated))
            continue
        value = value.strip().casefold()
        if not value:
            continue  # "state:" while still typing
        if key == "state":
            value = _pick("state", value, [s.value for s in State])
        elif key == "cause":
            value = _pick("cause", value, [c.value for c in Cause])
        elif key in ("smtp", "imap"):
            value = _pick(f"{key} status", value, [s.value for s in Status] + ["checking"])
        terms.append(Term(key, value, negated))
    return Query(tuple(terms), text)


def _term_matches(term: Term, entry: Entry, cause_title: Callable[[Entry], str]) -> bool:
    account = entry.account
    if term.key == "state":
        # an account being re-checked still counts as what it was until the new result lands
        return term.value in (entry.state.value, entry.settled_state.value)
    if term.key == "tag":
        return any(tag.casefold() == term.value for tag in account.tags)
    if term.key == "provider":
        return (account.provider or "").casefold() == term.value
    if term.key == "cause":
        return any(
            (r := entry.check_for(p)) is not None and r.cause is not None and r.cause == term.value
            for p in Protocol
        )
    if term.key in ("smtp", "imap"):
        protocol = Protocol(term.key)
        if term.value == "checking":
            return protocol in entry.stages
        result = entry.check_for(protocol)
        return result is not None and result.status.value == term.value
    haystack = [account.email, account.name or "", *account.tags, account.provider or ""]
    for settings in (account.smtp, account.imap):
        if settings is not None:
            haystack.append(settings.host)
    haystack.append(cause_title(entry))
    return any(term.value in item.casefold() for item in haystack)
