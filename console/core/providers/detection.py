"""Which provider serves an account: from its address, its configured hosts, or its domain's MX.

Offline evidence comes first because it is instant and certain (a gmail.com address is Gmail);
the MX lookup is the only network step, it is short, and it never raises: a console that cannot
reach DNS still works, it just knows less.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from console.core.model import Account, Protocol
from console.core.providers.catalog import get_provider, load_catalog
from console.core.providers.names import email_domain, normalize_name
from console.core.providers.records import Provider, Target, Variant

if TYPE_CHECKING:  # dnspython is imported on the first MX lookup: ~40 ms off start-up
    import dns.asyncresolver

RESOLV_CONF = "/etc/resolv.conf"
"""Where the system resolver's configuration is read when no nameserver is given."""


class DetectionSource(StrEnum):
    """What the detection rests on, strongest first."""

    DOMAIN = "domain"  # the address's domain is one of the provider's own
    HOST = "host"  # a configured server host belongs to the provider
    MX = "mx"  # the domain's mail exchanger belongs to the provider


@dataclass(frozen=True)
class Detection:
    """A detected provider, the evidence for it, and the regional/plan variant when one applies."""

    provider: Provider
    source: DetectionSource
    evidence: str  # the domain, host or MX host that matched
    variant: Variant | None = None


def _detection(target: Target, source: DetectionSource, evidence: str) -> Detection:
    provider = get_provider(target.provider)
    variant = provider.variant(target.variant) if target.variant else None
    return Detection(provider, source, evidence, variant)


def _by_domain(email: str) -> Detection | None:
    domain = email_domain(email)
    target = load_catalog().domains.lookup(domain) if domain else None
    return _detection(target, DetectionSource.DOMAIN, domain) if target and domain else None


def _by_host(host: str | None, email: str | None) -> Detection | None:
    """The host's provider; for an address on a custom domain, its business sibling.

    smtp.gmail.com serves alice@gmail.com (Gmail) and alice@acme.example (Google Workspace).
    """
    if not host:
        return None
    target = load_catalog().hosts.lookup(host)
    if target is None:
        return None
    detection = _detection(target, DetectionSource.HOST, normalize_name(host))
    sibling = detection.provider.custom_domain_provider
    domain = email_domain(email) if email else None
    own = load_catalog().domains.lookup(domain) if domain else None
    if sibling and domain and own is None:  # a custom domain, not any provider's own
        return Detection(get_provider(sibling), DetectionSource.HOST, detection.evidence)
    return detection


def provider_for_email(email: str) -> Provider | None:
    """The provider whose own domain the address is on (offline), e.g. outlook for hotmail.de."""
    detection = _by_domain(email)
    return detection.provider if detection else None


def provider_for_host(host: str) -> Provider | None:
    """The provider a configured IMAP/SMTP host belongs to (offline), e.g. smtp.gmail.com: gmail."""
    detection = _by_host(host, None)
    return detection.provider if detection else None


def provider_for_greeting(text: str) -> Provider | None:
    """The provider whose IMAP greeting or SMTP banner this is, when it is distinctive enough."""
    folded = text.casefold()
    for needle, provider_id in load_catalog().greetings:
        if needle in folded:
            return get_provider(provider_id)
    return None


def _resolver(nameserver: tuple[str, int] | None, timeout: float) -> dns.asyncresolver.Resolver:
    import dns.asyncresolver
    import dns.nameserver

    if nameserver is None:
        resolver = dns.asyncresolver.Resolver(filename=RESOLV_CONF)
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*nameserver)]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


async def mx_hosts(
    domain: str, *, nameserver: tuple[str, int] | None = None, timeout: float = 2.0
) -> tuple[str, ...]:
    """The domain's MX hosts, most preferred first; () when there are none or DNS fails.

    `nameserver` (host, port) replaces the system resolver (tests use a server on 127.0.0.1).
    """
    import dns.exception
    import dns.name
    import dns.rdtypes.ANY.MX

    domain = normalize_name(domain)
    if not domain:
        return ()
    try:
        # The resolver's lifetime bounds the query; the outer limit also covers set-up.
        async with asyncio.timeout(timeout + 1.0):
            answer = await _resolver(nameserver, timeout).resolve(
                domain, "MX", search=False, raise_on_no_answer=False
            )
    except (dns.exception.DNSException, OSError, ValueError):
        return ()
    records = [r for r in answer.rrset or () if isinstance(r, dns.rdtypes.ANY.MX.MX)]
    # A null MX (RFC 7505: "0 .") says the domain takes no mail; it names no host.
    ranked = sorted(
        (r.preference, r.exchange.to_text(omit_final_dot=True).lower())
        for r in records
        if r.exchange != dns.name.root
    )
    return tuple(host for _, host in ranked)


async def _by_mx(
    domain: str | None, nameserver: tuple[str, int] | None, timeout: float
) -> Detection | None:
    if not domain:
        return None
    index = load_catalog().mx
    for host in await mx_hosts(domain, nameserver=nameserver, timeout=timeout):
        if (target := index.lookup(host)) is not None:
            return _detection(target, DetectionSource.MX, host)
    return None


async def provider_for_mx(
    domain: str, *, nameserver: tuple[str, int] | None = None, timeout: float = 2.0
) -> Provider | None:
    """The provider hosting the domain's mail, from its MX records; None on any DNS trouble."""
    detection = await _by_mx(domain, nameserver, timeout)
    return detection.provider if detection else None


def detect_offline(
    email: str, *, imap_host: str | None = None, smtp_host: str | None = None
) -> Detection | None:
    """Detection without the network: the address's domain, then the SMTP and IMAP hosts."""
    return _by_domain(email) or _by_host(smtp_host, email) or _by_host(imap_host, email)


async def detect(
    email: str,
    *,
    imap_host: str | None = None,
    smtp_host: str | None = None,
    use_dns: bool = True,
    nameserver: tuple[str, int] | None = None,
    timeout: float = 2.0,
) -> Detection | None:
    """Detection with its evidence: offline first, then (if `use_dns`) the domain's MX."""
    found = detect_offline(email, imap_host=imap_host, smtp_host=smtp_host)
    if found is None and use_dns:
        found = await _by_mx(email_domain(email), nameserver, timeout)
    return found


async def detect_provider(
    email: str,
    *,
    imap_host: str | None = None,
    smtp_host: str | None = None,
    use_dns: bool = True,
    nameserver: tuple[str, int] | None = None,
    timeout: float = 2.0,
) -> Provider | None:
    """The provider for an address: its domain, then the configured hosts, then its MX."""
    found = await detect(
        email,
        imap_host=imap_host,
        smtp_host=smtp_host,
        use_dns=use_dns,
        nameserver=nameserver,
        timeout=timeout,
    )
    return found.provider if found else None


@dataclass(frozen=True)
class ProviderDecision:
    """The provider of one server (or account) and the id of the rule that decided it.

    `rule` is "account.provider" (the account file names it), "<source>:<evidence>" for a
    detection ("domain:gmail.com", "host:outlook.office365.com"), or "none".
    """

    provider: str | None
    rule: str


def decide_provider(account: Account, protocol: Protocol | None = None) -> ProviderDecision:
    """The one place the provider of a server is decided, offline: `account.provider`, else its
    domain, else hosts.

    An unknown `account.provider` is ignored (the config check reports it). With
    `protocol=Protocol.IMAP` the reply mailbox decides: the reply address's domain and the IMAP
    host come first, and a send-only relay named for the account does not apply to IMAP (an
    account that sends through SendGrid and reads replies on Microsoft 365 has one provider per
    server).
    """
    providers = load_catalog().providers
    named = providers.get(account.provider or "")
    if named is not None and not (protocol is Protocol.IMAP and named.send_only):
        return ProviderDecision(named.id, "account.provider")
    imap_host = account.imap.host if account.imap else None
    smtp_host = account.smtp.host if account.smtp else None
    if protocol is not Protocol.IMAP:
        found = detect_offline(account.email, imap_host=imap_host, smtp_host=smtp_host)
    else:
        mailbox = account.reply_address or account.email
        candidates = (
            _by_domain(mailbox),
            _by_host(imap_host, mailbox),
            _by_host(smtp_host, mailbox),
        )
        found = next((c for c in candidates if c and not c.provider.send_only), None)
    if found is None:
        return ProviderDecision(None, "none")
    return ProviderDecision(found.provider.id, f"{found.source.value}:{found.evidence}")


def resolve_provider(account: Account, protocol: Protocol | None = None) -> str | None:
    """The provider id for an account or one of its servers (`decide_provider` without the rule)."""
    return decide_provider(account, protocol).provider
