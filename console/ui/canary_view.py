"""What the console knows about an account's reply canary, and how the table and pane show it.

Kept apart from the board so that the board only holds a `CanaryView` (no engine import there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.core.canary import CanaryResult, CanaryStatus, Progress
from console.core.model import Account, Protocol, State
from console.core.safe_text import visible

PHASE_WORDS = {
    Progress.SENDING: "sending",
    Progress.WAITING: "sent, waiting for arrival",
    Progress.SEARCHING: "searching the other folders",
    Progress.HOLDING: "holding",
    Progress.CLEANING: "looking again, cleaning up",
}


@dataclass
class CanaryView:
    """A canary in progress (`progress`) or finished (`result`)."""

    progress: Progress | None = None
    hold_until: datetime | None = None
    result: CanaryResult | None = None

    @property
    def running(self) -> bool:
        return self.progress is not None

    @property
    def failed(self) -> bool:
        return not self.running and self.result is not None and self.result.failed


def phase_text(view: CanaryView, now: datetime) -> str:
    """`holding 12:40 left`, `sent, waiting for arrival`, ..."""
    if view.progress is None:
        return ""
    words = PHASE_WORDS[view.progress]
    if view.progress is Progress.HOLDING and view.hold_until is not None:
        left = max(0, int((view.hold_until - now).total_seconds()))
        words += f" {left // 60}:{left % 60:02d} left"
    return words


def short_text(view: CanaryView, now: datetime, title_of: object = None) -> str:
    """The table's words: the phase while running, the verdict after."""
    if view.running:
        return f"canary: {phase_text(view, now)}"
    result = view.result
    if result is None:
        return ""
    if result.status is CanaryStatus.OK:
        return "canary ok"
    if result.status is CanaryStatus.SKIPPED:
        return "no canary"
    if result.cause is None:
        return f"canary {result.status.value}"
    from console.core.diagnosis import advise

    return f"canary: {advise(result.cause, Protocol.IMAP).title}"


def state_with_canary(state: State, view: CanaryView | None) -> State:
    """A connected account whose last canary failed is conditional (DESIGN section 10)."""
    if state is State.CONNECTED and view is not None and view.failed:
        return State.CONDITIONAL
    return state


def targets_question(accounts: list[Account]) -> str:
    count = len(accounts)
    who = accounts[0].email if count == 1 else f"{count} accounts"
    return (
        f"Send {count} reply canary message{'s' if count != 1 else ''} (from {who})?\n\n"
        "Each account sends one small message to its own reply mailbox; mailconsole watches it "
        "arrive, checks that it stays for the hold time, and deletes it again."
    )


def canary_section(page: Any, account: Account, view: CanaryView, now: datetime) -> None:
    """The pane's canary lines: the phase, or the verdict with its cause, fix and evidence."""
    from console.ui import knowledge

    heading = "Reply canary"
    if view.running:
        page.line((f"⟳ {heading}: {phase_text(view, now)}", "bold $text-accent"))
        return
    result = view.result
    if result is None:
        return
    if result.status is CanaryStatus.OK:
        where = f" in {result.folder}" if result.folder else ""
        latency = f", arrived after {result.latency_ms} ms" if result.latency_ms is not None else ""
        page.line((f"✓ {heading}: arrived{where} and stayed{latency}", "bold $state-connected"))
    elif result.status is CanaryStatus.SKIPPED:
        page.line((f"· {heading}: not sent", "$text-muted"))
    elif result.status is CanaryStatus.PENDING:
        page.line((f"⟳ {heading}: holding", "bold $text-accent"))
    elif result.cause is not None:
        protocol = Protocol.SMTP if _send_failed(result) else Protocol.IMAP
        provider = knowledge.provider_for(account, protocol)
        advice = knowledge.explain(result.cause, protocol, provider)
        page.line((f"✕ {heading}: {advice.title}", "bold $state-disconnected"))
        page.line((f"  cause {result.cause.value}", "$text-muted"))
        page.item("", advice.explanation)
        if advice.fix:
            page.line(("How to fix it", "bold"))
            for number, step in enumerate(advice.fix, 1):
                page.item(f"  {number}. ", step)
    if result.message:
        page.item("  ", visible(result.message))  # the server's words and folder names
    auth = result.auth_results
    if auth is not None:
        signed = f" (d={auth.dkim_domain}, s={auth.dkim_selector})" if auth.dkim_domain else ""
        page.item(
            ("  receiver: ", "$text-muted"),
            visible(
                f"SPF {auth.spf or '-'}, DKIM {auth.dkim or '-'}{signed}, DMARC {auth.dmarc or '-'}"
            ),
        )
    for warning in result.warnings:
        page.item(("  ! ", "bold $state-conditional"), visible(warning))
    for line in result.evidence:
        page.item(("  · ", "$text-muted"), (visible(line), "$text-muted"))


def _send_failed(result: CanaryResult) -> bool:
    from console.core.model import Status

    return result.send is not None and result.send.status is not Status.OK
