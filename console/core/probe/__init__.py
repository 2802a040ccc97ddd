"""Staged IMAP and SMTP checks over real sockets (DESIGN section 4).

`probe_imap` and `probe_smtp` run the ladder from `dns` on and return a `CheckResult`; they never
raise except `CancelledError` (after closing the connection). Facts they report:
IMAP `greeting`, `capabilities`, `auth_mechanisms`, `idle`, `messages`, `quota_used_kb`,
`quota_limit_kb`, `quota_percent`; SMTP `banner`, `extensions`, `auth_mechanisms`, `size_limit`;
both `tls_version`, `cipher`, `cert_subject`, `cert_issuer`, `cert_not_after`, `cert_days_left`.
"""

from __future__ import annotations

from console.core.probe.imap import probe_imap
from console.core.probe.smtp import probe_smtp
from console.core.probe.tls import client_context

__all__ = ["client_context", "probe_imap", "probe_smtp"]
