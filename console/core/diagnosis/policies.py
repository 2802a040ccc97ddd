"""Dated provider policies (policies.toml): what each provider accepts, and since when.

Today's date is always a parameter, so the advice for an account changes by itself on the day an
announced policy takes effect (Microsoft 365 password SMTP AUTH off by default at the end of
December 2026), and tests pin the day. A note names its date from the table, never from prose.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

POLICIES_FILE = "policies.toml"
ALLOWED = frozenset({"password", "app_password", "oauth2"})
_KEYS = frozenset(
    {"provider", "protocols", "causes", "date", "when", "allowed", "before", "after", "source"}
)
_REQUIRED = _KEYS - {"when"}


@dataclass(frozen=True)
class Policy:
    provider: str
    protocols: frozenset[str]
    causes: frozenset[str]
    date: dt.date
    when: str  # how the date reads in text
    allowed: str  # from `date` on: "password", "app_password" or "oauth2"
    before: str
    after: str
    source: str

    def in_force(self, today: dt.date) -> bool:
        return today >= self.date

    def note(self, today: dt.date) -> str:
        text = self.after if self.in_force(today) else self.before
        return text.replace("{when}", self.when)


def notes(provider: str | None, cause: str, protocol: str, today: dt.date) -> tuple[str, ...]:
    """The policy notes for this provider, cause and protocol, as they read on `today`."""
    found = (
        p.note(today)
        for p in policies()
        if p.provider == provider and cause in p.causes and protocol in p.protocols
    )
    return tuple(text for text in found if text)


def allowed(provider: str, protocol: str, today: dt.date) -> str | None:
    """What the provider accepts for `protocol` on `today` (None: no dated rule known)."""
    in_force = [
        p
        for p in policies()
        if p.provider == provider and protocol in p.protocols and p.in_force(today)
    ]
    return max(in_force, key=lambda p: p.date).allowed if in_force else None


def upcoming(today: dt.date) -> tuple[Policy, ...]:
    """Announced policies that have not taken effect yet, soonest first."""
    return tuple(sorted((p for p in policies() if not p.in_force(today)), key=lambda p: p.date))


@cache
def policies() -> tuple[Policy, ...]:
    text = resources.files(__package__).joinpath(POLICIES_FILE).read_text(encoding="utf-8")
    return parse_policies(tomllib.loads(text))


def parse_policies(
    raw: Mapping[str, Any], providers: frozenset[str] | None = None
) -> tuple[Policy, ...]:
    """Validate the whole table: unknown keys, missing fields or bad values fail loudly."""
    out = []
    for i, item in enumerate(raw.get("policy", [])):
        where = f"{POLICIES_FILE} policy {i + 1}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: not a table")
        if unknown := set(item) - _KEYS:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if missing := _REQUIRED - set(item):
            raise ValueError(f"{where}: missing {sorted(missing)}")
        day = item["date"]
        if not isinstance(day, dt.date):
            raise ValueError(f"{where}: date must be a TOML date")
        if item["allowed"] not in ALLOWED:
            raise ValueError(f"{where}: allowed must be one of {sorted(ALLOWED)}")
        if providers is not None and item["provider"] not in providers:
            raise ValueError(f"{where}: unknown provider {item['provider']!r}")
        when = item.get("when", f"{day.day} {day.strftime('%B')} {day.year}")
        out.append(
            Policy(
                provider=str(item["provider"]),
                protocols=frozenset(str(p) for p in item["protocols"]),
                causes=frozenset(str(c) for c in item["causes"]),
                date=day,
                when=str(when),
                allowed=str(item["allowed"]),
                before=str(item["before"]),
                after=str(item["after"]),
                source=str(item["source"]),
            )
        )
    return tuple(out)
