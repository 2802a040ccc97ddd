"""What a failed check hands to the diagnosis: the stage, the server's words, the exception.

The probe fills a `Failure`; `classify` turns it into one `Cause`. Nothing here interprets text.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.core.model import AuthMethod, Protocol, Stage
from console.core.providers.catalog import all_providers

PROVIDER_IDS: frozenset[str] = frozenset(p.id for p in all_providers())
"""The provider ids, read from their one home (the providers catalogue, providers.toml); the
diagnosis data files (rules.toml, provider_fixes.toml) may name no other."""


@dataclass(frozen=True)
class Failure:
    """One failed rung of the check ladder, as evidence for the classifier.

    `text` is the server's reply verbatim (multi-line allowed; for IMAP the tagged and untagged
    response lines joined with "\\n"). When `exc` is a transport error that carries no server
    reply (DNS, refused, reset, TLS, timeout), `text` is taken to be the library's description of
    it and the wording rules ignore it: the exception class is the better evidence.
    `greeting` is the banner, which also tells the provider; `capabilities` are the CAPABILITY
    names or EHLO keywords last seen; `auth` is the login method, when known.
    """

    protocol: Protocol
    stage: Stage
    text: str | None = None
    exc: BaseException | None = None
    smtp_code: int | None = None
    greeting: str | None = None
    capabilities: frozenset[str] = frozenset()
    auth: AuthMethod | None = None
