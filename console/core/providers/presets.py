"""Server presets for an address: the provider's published settings with the templates filled in.

Discovery (trying servers without credentials) starts from `preset_candidates` and, for
providers it does not know, from `STANDARD_PAIRS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from console.core.model import DEFAULT_PORTS, Protocol, Security
from console.core.providers.catalog import get_provider, load_catalog
from console.core.providers.names import REGION, email_domain
from console.core.providers.records import Provider, ServerPreset, Variant

STANDARD_PAIRS: Mapping[Protocol, tuple[tuple[int, Security], ...]] = {
    protocol: tuple(
        (DEFAULT_PORTS[protocol][mode], mode) for mode in (Security.TLS, Security.STARTTLS)
    )
    for protocol in (Protocol.IMAP, Protocol.SMTP)
}
"""The standard port/security pairs, implicit TLS first (RFC 8314 prefers it); from the one port
table, model.DEFAULT_PORTS."""


def _provider(provider: Provider | str) -> Provider:
    return provider if isinstance(provider, Provider) else get_provider(provider)


def choose_variant(
    provider: Provider | str, email: str, *, variant: str | None = None
) -> Variant | None:
    """The variant named by `variant`, else the one whose domains hold the address, else None.

    An unknown `variant` id raises KeyError.
    """
    p = _provider(provider)
    if variant is not None:
        return p.variant(variant)
    domain = email_domain(email)
    target = load_catalog().domains.lookup(domain) if domain else None
    if target is not None and target.provider == p.id and target.variant is not None:
        return p.variant(target.variant)
    return None


def fill(
    preset: ServerPreset,
    email: str,
    *,
    region: str | None = None,
    default_region: str | None = None,
) -> ServerPreset | None:
    """`preset` with `{domain}` and `{region}` replaced; None when the address has no domain.

    A `region` that is not a region name raises ValueError (it would become part of a host name).
    """
    if not preset.is_template:
        return preset
    host = preset.host
    if "{domain}" in host:
        domain = email_domain(email)
        if domain is None:
            return None
        host = host.replace("{domain}", domain)
    if "{region}" in host:
        chosen = region or default_region
        if chosen is None or not REGION.fullmatch(chosen):
            raise ValueError(f"{chosen!r} is not a region name such as us-east-1")
        host = host.replace("{region}", chosen)
    return replace(preset, host=host)


def presets(
    provider: Provider | str,
    email: str,
    *,
    variant: str | None = None,
    region: str | None = None,
) -> tuple[ServerPreset | None, ServerPreset | None]:
    """The recommended (imap, smtp) servers for `email` at `provider`, templates filled.

    IMAP is None for send-only relays; either side is None when its template needs a domain
    and the address has none.
    """
    p = _provider(provider)
    chosen = choose_variant(p, email, variant=variant)
    imap = (chosen.imap if chosen else None) or p.imap
    smtp = (chosen.smtp if chosen else None) or p.smtp
    return (
        fill(imap, email, region=region, default_region=p.default_region) if imap else None,
        fill(smtp, email, region=region, default_region=p.default_region) if smtp else None,
    )


def preset_candidates(
    provider: Provider | str,
    email: str,
    protocol: Protocol,
    *,
    variant: str | None = None,
    region: str | None = None,
) -> tuple[ServerPreset, ...]:
    """Every published server for one protocol, best first and without repeats.

    Order: the recommended preset, the provider's alternatives (moved to the variant's host
    when a variant applies), then the provider's default and its other variants.
    """
    p = _provider(provider)
    chosen = choose_variant(p, email, variant=variant)
    main = p.preset(protocol)
    first = (chosen.preset(protocol) if chosen else None) or main
    ordered: list[ServerPreset] = [first] if first else []
    for alternative in p.alternatives(protocol):
        if first and main and first.host != main.host and alternative.host == main.host:
            alternative = replace(alternative, host=first.host, username_form=first.username_form)
        ordered.append(alternative)
    others = [main] + [v.preset(protocol) for v in p.variants if v is not chosen]
    ordered += [preset for preset in others if preset is not None]
    seen: set[tuple[str, int, Security]] = set()
    result: list[ServerPreset] = []
    for preset in ordered:
        filled = fill(preset, email, region=region, default_region=p.default_region)
        if filled is not None and (key := (filled.host, filled.port, filled.security)) not in seen:
            seen.add(key)
            result.append(filled)
    return tuple(result)
