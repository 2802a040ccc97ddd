"""Provider knowledge: presets from providers.toml, and detection from domain, host and MX.

`console.core.providers` is the one import other parts need; the modules behind it are
catalog (the data file), presets (servers for an address) and detection (which provider it is).
"""

from __future__ import annotations

from console.core.providers.catalog import (
    ProviderDataError,
    all_providers,
    get_provider,
    load_catalog,
    parse_catalog,
)
from console.core.providers.detection import (
    Detection,
    DetectionSource,
    ProviderDecision,
    decide_provider,
    detect,
    detect_offline,
    detect_provider,
    mx_hosts,
    provider_for_email,
    provider_for_greeting,
    provider_for_host,
    provider_for_mx,
    resolve_provider,
)
from console.core.providers.presets import (
    STANDARD_PAIRS,
    choose_variant,
    fill,
    preset_candidates,
    presets,
)
from console.core.providers.records import Provider, ServerPreset, UsernameForm, Variant

__all__ = [
    "STANDARD_PAIRS",
    "Detection",
    "DetectionSource",
    "Provider",
    "ProviderDataError",
    "ProviderDecision",
    "ServerPreset",
    "UsernameForm",
    "Variant",
    "all_providers",
    "choose_variant",
    "decide_provider",
    "detect",
    "detect_offline",
    "detect_provider",
    "fill",
    "get_provider",
    "load_catalog",
    "mx_hosts",
    "parse_catalog",
    "preset_candidates",
    "presets",
    "provider_for_email",
    "provider_for_greeting",
    "provider_for_host",
    "provider_for_mx",
    "resolve_provider",
]
