"""The audit report (`mailconsole report`, and a key in the console): per client (tag) a summary
with since-when, accounts grouped by cause with the fix once per group, certificate and quota
warnings, and check times, from the results store. Nothing secret and no server text is in it.
"""

from __future__ import annotations

from console.core.audit.build import Audit, audit_states, build_audit
from console.core.audit.render import to_csv, to_html, to_markdown

__all__ = ["Audit", "audit_states", "build_audit", "to_csv", "to_html", "to_markdown"]
