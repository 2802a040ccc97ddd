"""Host and domain names: normalising them and matching them against the data file's patterns.

A pattern is a lower-case name in which `*` stands for whole labels only, so `*.google.com`
can never match `evilgoogle.com` (providers.toml explains the three positions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]+")
"""A cloud region name as used in relay host names (`us-east-1`, `eu-west-2`)."""


def normalize_name(name: str) -> str:
    """Lower-case, trimmed, without the root dot: the form every comparison uses."""
    return name.strip().lower().rstrip(".")


def email_domain(email: str) -> str | None:
    """The domain of an address (after the last @), or None when there is none."""
    local, at, domain = email.strip().rpartition("@")
    domain = normalize_name(domain)
    return domain if at and local and domain else None


def email_local_part(email: str) -> str | None:
    local, at, domain = email.strip().rpartition("@")
    return local if at and local and domain else None


def pattern_error(pattern: str) -> str | None:
    """Why `pattern` is not a valid name pattern, or None when it is."""
    labels = pattern.split(".")
    literal = [label for label in labels if label != "*"]
    if len(labels) < 2 or not literal:
        return "needs at least two labels, one of them not *"
    for label in literal:
        if not _LABEL.fullmatch(label):
            return f"label {label!r} is not a lower-case host name label"
    return None


def _compile(pattern: str) -> re.Pattern[str]:
    labels = pattern.split(".")
    parts: list[str] = []
    last = len(labels) - 1
    for index, label in enumerate(labels):
        if label != "*":
            parts.append(re.escape(label))
        elif index == 0:
            parts.append(r"[^.]+(?:\.[^.]+)*")  # one or more leading labels
        elif index == last:
            parts.append(r"[^.]+(?:\.[^.]+)*")  # one or more trailing labels
        else:
            parts.append(r"[^.]+")  # exactly one label
    return re.compile(r"\.".join(parts))


@dataclass(frozen=True)
class _Wildcard(Generic[T]):
    pattern: str
    regex: re.Pattern[str]
    specificity: int  # literal labels: more is more specific
    value: T


class PatternIndex(Generic[T]):
    """Looks a name up among many patterns: exact names first, then the most specific wildcard."""

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        self._exact: dict[str, T] = {}
        wildcards: list[_Wildcard[T]] = []
        for pattern, value in entries:
            if "*" in pattern:
                literal = sum(1 for label in pattern.split(".") if label != "*")
                wildcards.append(_Wildcard(pattern, _compile(pattern), literal, value))
            else:
                self._exact[pattern] = value
        # Stable sort: among equally specific patterns the data file's order decides.
        self._wildcards = sorted(wildcards, key=lambda w: -w.specificity)

    def lookup(self, name: str) -> T | None:
        name = normalize_name(name)
        if not name:
            return None
        if name in self._exact:
            return self._exact[name]
        for wildcard in self._wildcards:
            if wildcard.regex.fullmatch(name):
                return wildcard.value
        return None
