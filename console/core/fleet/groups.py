"""Failing accounts grouped by (protocol, cause, provider, host): "87 accounts, 31 broken" becomes
"3 problems", each explained once, largest first.

An account failing both SMTP and IMAP is in one group per protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from console.core.diagnosis import advise
from console.core.model import Account, Cause, CheckResult, Protocol, Status
from console.core.providers import get_provider, resolve_provider


@dataclass(frozen=True, order=True)
class GroupKey:
    protocol: Protocol
    cause: Cause
    provider: str | None
    host: str | None


@dataclass
class Group:
    key: GroupKey
    emails: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.emails)

    @property
    def provider_name(self) -> str:
        if self.key.provider is None:
            return "unknown provider"
        try:
            return get_provider(self.key.provider).name
        except KeyError:
            return self.key.provider

    @property
    def title(self) -> str:
        return advise(self.key.cause, self.key.protocol, self.key.provider).title

    @property
    def label(self) -> str:
        """`IMAP · App password required · Google Workspace · imap.gmail.com · 23`."""
        parts = [self.key.protocol.name, self.title, self.provider_name]
        if self.key.host:
            parts.append(self.key.host)
        return " · ".join([*parts, str(self.size)])

    def filter_text(self) -> str:
        """A `/` filter that shows this group's accounts in the table."""
        words = [f"{self.key.protocol.value}:failed", f"cause:{self.key.cause.value}"]
        if self.key.cause is Cause.SETTINGS_MISSING:
            words[0] = f"{self.key.protocol.value}:missing"
        if self.key.host:
            words.append(self.key.host)
        return " ".join(words)


def failing(check: CheckResult | None) -> bool:
    return (
        check is not None
        and check.cause is not None
        and check.status in (Status.FAILED, Status.MISSING)
    )


def group_failures(
    checks: Iterable[tuple[Account, CheckResult | None, CheckResult | None]],
) -> list[Group]:
    """Groups of (account, smtp check, imap check) triples, largest first, then by key."""
    groups: dict[GroupKey, Group] = {}
    for account, smtp, imap in checks:
        for check in (smtp, imap):
            if check is None or not failing(check):
                continue
            assert check.cause is not None
            provider = resolve_provider(account, check.protocol)
            server = account.settings_for(check.protocol)
            key = GroupKey(
                check.protocol, check.cause, provider, server.host.casefold() if server else None
            )
            groups.setdefault(key, Group(key)).emails.append(account.email)
    return sorted(groups.values(), key=lambda g: (-g.size, _sort_key(g.key)))


def _sort_key(key: GroupKey) -> tuple[str, str, str, str]:
    return (key.protocol.value, key.cause.value, key.provider or "", key.host or "")


def count_groups(
    checks: Iterable[tuple[Account, CheckResult | None, CheckResult | None]],
) -> int:
    return len(group_failures(checks))
