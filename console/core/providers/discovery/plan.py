"""Which servers discovery tries: the configured host, the provider's published pairs, guesses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

from console.core.model import (
    Protocol,
    Security,
)
from console.core.providers.catalog import get_provider
from console.core.providers.detection import detect_offline
from console.core.providers.discovery.results import Source, Target
from console.core.providers.names import email_domain
from console.core.providers.presets import STANDARD_PAIRS, preset_candidates
from console.core.providers.records import Provider

PortPairs = Mapping[Protocol, Sequence[tuple[int, Security]]]
"""(port, security) pairs per protocol, tried in this order."""

GUESSED_HOSTS: Mapping[Protocol, tuple[str, ...]] = {
    Protocol.IMAP: ("imap.{domain}", "mail.{domain}", "{domain}"),
    Protocol.SMTP: ("smtp.{domain}", "mail.{domain}"),
}
"""Host names tried for a domain no provider entry knows (Thunderbird's guesses, minus POP)."""

_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


# -- what to try -------------------------------------------------------------------------------


def check_host(host: str) -> str:
    """The host as it will be contacted; ValueError for what cannot be a host name or address."""
    name = host.strip().rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(name.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if not _HOST.fullmatch(name):
        raise ValueError(f"{host!r} is not a host name (no scheme, port, spaces or slashes)")
    return name


def provider_for(provider: Provider | str | None, email: str, host: str | None) -> Provider | None:
    if isinstance(provider, Provider):
        return provider
    if provider is not None:
        try:
            return get_provider(provider)
        except KeyError:
            raise ValueError(f"unknown provider {provider!r}") from None
    found = detect_offline(email, imap_host=host, smtp_host=host)
    return found.provider if found else None


def published_targets(
    provider: Provider | None, email: str, protocol: Protocol
) -> tuple[Target, ...]:
    if provider is None:
        return ()
    try:
        found = preset_candidates(provider, email, protocol)
    except ValueError:  # a template that needs a region or domain we do not have
        return ()
    return tuple(Target(protocol, p.host.lower(), p.port, p.security, Source.PRESET) for p in found)


def plan(
    email: str,
    protocol: Protocol,
    *,
    host: str | None = None,
    provider: Provider | None = None,
    ports: PortPairs | None = None,
    extra_ports: PortPairs | None = None,
) -> tuple[Target, ...]:
    """The servers to try for one protocol, in order, without repeats (pure: no network).

    With `host`: `extra_ports` on it, the provider's published pairs for that host, then the
    standard pairs. Without: the provider's published servers plus the standard pairs on its
    first host, or for an unknown domain the standard pairs on the guessed hosts. `ports`
    replaces the standard pairs (and, with `host`, the published ones).
    """
    pairs = tuple(STANDARD_PAIRS[protocol] if ports is None else ports.get(protocol, ()))
    published = published_targets(provider, email, protocol)
    targets: list[Target] = []
    if host is not None:
        name = check_host(host)
        extra = extra_ports.get(protocol, ()) if extra_ports else ()
        targets += [Target(protocol, name, p, s, Source.ACCOUNT) for p, s in extra]
        if ports is None:
            targets += [t for t in published if t.host == name]
        hosts: tuple[str, ...] = (name,)
    elif published:
        targets += published
        hosts = (published[0].host,)
    else:
        domain = email_domain(email)
        if domain is None:
            raise ValueError(f"{email!r} is not an email address")
        hosts = tuple(dict.fromkeys(h.format(domain=domain) for h in GUESSED_HOSTS[protocol]))
    targets += [Target(protocol, h, p, s) for h in hosts for p, s in pairs]
    seen: set[tuple[str, int, Security]] = set()
    unique: list[Target] = []
    for t in targets:
        if (key := (t.host, t.port, t.security)) not in seen:
            seen.add(key)
            unique.append(t)
    return tuple(unique)


def valid_host(host: str) -> bool:
    try:
        check_host(host)
    except ValueError:
        return False
    return True
