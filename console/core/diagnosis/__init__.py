"""Diagnosis: server reply -> cause (rules.toml), cause -> explanation and fix (causes.toml).

The probe builds a `Failure` and calls `classify`; the runner, the CLI and the TUI call `advise`
and show `REPLY_TRACKING_CHECKLIST` and `STATE_MEANING`. All knowledge lives in the TOML files.
"""

from __future__ import annotations

from console.core.diagnosis.advice import (
    REPLY_TRACKING_CHECKLIST,
    STATE_MEANING,
    Advice,
    advise,
)
from console.core.diagnosis.classify import Diagnosis, classify, diagnose, provider_hint
from console.core.diagnosis.failure import PROVIDER_IDS, Failure
from console.core.diagnosis.rules import (
    expected_security,
    port_protocol_mismatch,
    port_security_mismatch,
)

__all__ = [
    "PROVIDER_IDS",
    "REPLY_TRACKING_CHECKLIST",
    "STATE_MEANING",
    "Advice",
    "Diagnosis",
    "Failure",
    "advise",
    "classify",
    "diagnose",
    "expected_security",
    "port_protocol_mismatch",
    "port_security_mismatch",
    "provider_hint",
]
