"""The provider records: what one provider, one server preset and one variant look like.

They are frozen and built only by the catalogue loader (catalog.py) from providers.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from console.core.model import Protocol, Security
from console.core.providers.names import PatternIndex, email_local_part


class UsernameForm(StrEnum):
    """How the login name is made from the address."""

    EMAIL = "email"
    LOCAL_PART = "local_part"
    APIKEY = "apikey"  # the literal word, as SendGrid wants it
    PROVIDER_LOGIN = "provider_login"  # issued by the provider; cannot be derived


@dataclass(frozen=True)
class ServerPreset:
    """One published way to reach a provider's server; `host` may hold `{domain}`/`{region}`."""

    host: str
    port: int
    security: Security
    username_form: UsernameForm = UsernameForm.EMAIL
    label: str = ""

    def username_for(self, email: str) -> str | None:
        """The login name for `email`, or None when the provider issues it (or `email` is bad)."""
        if self.username_form is UsernameForm.EMAIL:
            return email.strip() if email_local_part(email) else None
        if self.username_form is UsernameForm.LOCAL_PART:
            return email_local_part(email)
        if self.username_form is UsernameForm.APIKEY:
            return "apikey"
        return None

    @property
    def is_template(self) -> bool:
        return "{" in self.host


@dataclass(frozen=True)
class Variant:
    """Servers for a region or a plan (Zoho's EU data centre, GMX international, ...)."""

    id: str
    label: str
    domains: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()
    imap: ServerPreset | None = None
    smtp: ServerPreset | None = None

    def preset(self, protocol: Protocol) -> ServerPreset | None:
        return self.imap if protocol is Protocol.IMAP else self.smtp


@dataclass(frozen=True, repr=False)
class Provider:
    """What we know about one provider: how to recognise it, its servers, its rules and links."""

    id: str
    name: str
    domains: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    greetings: tuple[str, ...] = ()
    imap: ServerPreset | None = None
    smtp: ServerPreset | None = None
    imap_alternatives: tuple[ServerPreset, ...] = ()
    smtp_alternatives: tuple[ServerPreset, ...] = ()
    variants: tuple[Variant, ...] = ()
    default_region: str | None = None
    send_only: bool = False
    app_password_required: bool = False
    oauth2_required_imap: bool = False
    oauth2_required_smtp: bool = False
    imap_switch: bool = False
    imap_off_by_default: bool = False
    custom_domain_provider: str | None = None
    sign_in: str | None = None  # the identity platform of a built-in OAuth2 sign-in
    app_password_url: str | None = None
    enable_imap_url: str | None = None
    help_url: str | None = None

    def __repr__(self) -> str:
        return f"Provider({self.id!r})"

    def preset(self, protocol: Protocol) -> ServerPreset | None:
        return self.imap if protocol is Protocol.IMAP else self.smtp

    def alternatives(self, protocol: Protocol) -> tuple[ServerPreset, ...]:
        return self.imap_alternatives if protocol is Protocol.IMAP else self.smtp_alternatives

    def oauth2_required(self, protocol: Protocol) -> bool:
        return self.oauth2_required_imap if protocol is Protocol.IMAP else self.oauth2_required_smtp

    def variant(self, variant_id: str) -> Variant:
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        raise KeyError(f"provider {self.id!r} has no variant {variant_id!r}")


class Target(NamedTuple):
    """Where a pattern points: a provider and, for regional/plan patterns, its variant."""

    provider: str
    variant: str | None = None


@dataclass(frozen=True)
class Catalog:
    providers: Mapping[str, Provider]
    domains: PatternIndex[Target]
    mx: PatternIndex[Target]
    hosts: PatternIndex[Target]
    greetings: tuple[tuple[str, str], ...]  # (casefolded text, provider id)
