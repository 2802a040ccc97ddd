"""The reply canary (DESIGN section 10): proof that a reply would be seen, not only that IMAP
logs in.

It sends a small plain-text message From the account to its reply mailbox (`reply_address`, else
`email`) over the account's own SMTP settings, with a unique token in the `X-Mailconsole-Canary`
header and the subject. Over the reply mailbox's IMAP settings it waits for it (IDLE, else polling
with back-off, up to the arrival timeout, default 300 s), searches every folder when it is not in
the tracked mailbox (SPECIAL-USE \\Junk, \\Trash, \\Archive, \\All first), looks again after the
hold (default 20 minutes, `canary_hold_minutes` in `[settings]` or per account) and deletes it:
UID STORE \\Deleted + UID EXPUNGE only where UIDPLUS or IMAP4rev2 makes that touch no other
message; otherwise it is marked \\Seen \\Deleted and left, and the result says so. Nothing is
deleted before its token header is read back and matches.

Outcomes are the causes `recipient_refused`, `reply_not_received`, `reply_in_spam`,
`reply_moved` and `reply_removed_later` (diagnosis/causes.toml); send failures keep the SMTP
ladder's causes. From the received copy it reads `Authentication-Results` (RFC 8601, parsed with
the `authres` package) and `DKIM-Signature` (d=, s=): failing DMARC or a missing signature is a
warning. A hold survives a restart through a `HoldStore` (the results store's `canary_holds`).
"""

from __future__ import annotations

from console.core.canary.engine import (
    CanaryEngine,
    CanaryEvent,
    CanaryFinished,
    CanaryProgress,
    hold_seconds,
    skip_reason,
)
from console.core.canary.holds import HoldStore, MemoryHolds, PendingHold
from console.core.canary.model import (
    CANARY_HEADER,
    DEFAULT_ARRIVAL_TIMEOUT,
    AuthResults,
    CanaryPhase,
    CanaryResult,
    CanaryStatus,
    Progress,
)

__all__ = [
    "CANARY_HEADER",
    "DEFAULT_ARRIVAL_TIMEOUT",
    "AuthResults",
    "CanaryEngine",
    "CanaryEvent",
    "CanaryFinished",
    "CanaryPhase",
    "CanaryProgress",
    "CanaryResult",
    "CanaryStatus",
    "HoldStore",
    "MemoryHolds",
    "PendingHold",
    "Progress",
    "hold_seconds",
    "skip_reason",
]
