"""The detail pane's text for one account, built as `Content` (never markup from a string).

Order: what the state means, then what is wrong and how to fix it, then each protocol's ladder
and facts, then the reply-tracking checklist. Server replies, names and hosts are inserted as
plain text: `NO [AUTHENTICATIONFAILED] Invalid credentials` or `[@click=app.quit]` show as sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from textual.content import Content

from console.core.model import (
    LADDERS,
    Account,
    Cause,
    CheckResult,
    FactValue,
    Protocol,
    Stage,
    State,
    Status,
)
from console.core.runner import SESSION_HOSTS_ONLY
from console.core.safe_text import one_line, visible
from console.ui import knowledge
from console.ui.board import Entry
from console.ui.canary_view import canary_section
from console.ui.cells import STATE_GLYPHS, STATUS_GLYPHS, format_ms, relative_time

_STATE_STYLE = {state: f"bold $state-{state.value}" for state in State}
_HEADING = "bold $text-accent"
_MUTED = "$text-muted"
_FAILED = "bold $state-disconnected"
_STATUS_STYLE: Mapping[Status, str] = {
    Status.OK: "$state-connected",
    Status.FAILED: _FAILED,
    Status.MISSING: _FAILED,
    Status.NA: _MUTED,
}
_LADDER_LEFT = 24
"""Columns before a step's detail in the ladder (mark, stage, elapsed); the detail gets the rest."""

Part = Content | str | tuple[str, str]


class Page:
    """Lines for a pane of a known width; list items wrap with a hanging indent."""

    def __init__(self, width: int) -> None:
        self.width = max(24, width)
        self._parts: list[Content] = []

    def line(self, *parts: Part) -> None:
        self._parts.append(Content.assemble(*_safe(parts), "\n"))

    def blank(self) -> None:
        self._parts.append(Content("\n"))

    def item(self, marker: Part, *body: Part) -> None:
        """`marker` then `body`; continuation lines start under the body, not under the marker."""
        lead = Content.assemble(*_safe((marker,)))
        indent = lead.cell_length
        lines = Content.assemble(*_safe(body)).wrap(max(8, self.width - indent))
        pad = Content(" " * indent)
        for number, text in enumerate(lines or [Content("")]):
            self._parts.append(Content.assemble(lead if number == 0 else pad, text, "\n"))

    def link(self, url: str) -> None:
        """A URL whole on one line (copied from the terminal it must still work): after an
        arrow when it fits, else alone from the first column."""
        marker = Content.styled("  → ", _MUTED)
        url = one_line(url)
        if marker.cell_length + len(url) <= self.width:
            self._parts.append(Content.assemble(marker, url, "\n"))
        else:
            self._parts.append(Content.assemble(marker, "\n", url, "\n"))

    def content(self) -> Content:
        return Content.assemble(*self._parts)


def _safe(parts: tuple[Part, ...]) -> list[Part]:
    """Every string part through `visible()`: the pane's text comes from servers and the account
    file as much as from us. `Content` parts are built by our own code and pass as they are."""
    out: list[Part] = []
    for part in parts:
        if isinstance(part, str):
            out.append(visible(part))
        elif isinstance(part, tuple):
            out.append((visible(part[0]), part[1]))
        else:
            out.append(part)
    return out


def _one_line(text: str, room: int) -> str:
    flat = " ".join(one_line(text).split())
    if room <= 1:
        return ""
    return flat if len(flat) <= room else flat[: room - 1] + "…"


def _failed(result: CheckResult | None) -> bool:
    return result is not None and result.status in (Status.FAILED, Status.MISSING)


# -- sections ---------------------------------------------------------------------------------


def header(page: Page, entry: Entry, now: datetime) -> None:
    """Who, the state in one line (with warm-up and age), the reply address when it differs."""
    account = entry.account
    state = entry.state
    who = [account.name or "", *(f"#{t}" for t in account.tags)]
    if account.provider:
        who.append(f"provider: {account.provider}")
    page.line((account.email, "bold"))
    if any(who):
        page.item((" ".join(w for w in who if w), _MUTED))
    if account.reply_address:
        page.item(("replies arrive at ", _MUTED), account.reply_address)
    parts: list[Part] = ["", (f"{STATE_GLYPHS[state]} {state.value}", _STATE_STYLE[state])]
    if entry.result is not None:
        ready = entry.result.warmup_ready
        style = _STATUS_STYLE[Status.OK if ready else Status.FAILED]
        parts += [(" · warm-up ", _MUTED), ("ready" if ready else "not ready", style)]
        parts.append((f" · checked {relative_time(entry.result.checked_at, now)}", _MUTED))
    page.item(*parts)


def meaning(page: Page, entry: Entry) -> None:
    """What the state means for campaigns, and why warm-up is (not) ready."""
    state = entry.state
    shown = entry.settled_state if state is State.CHECKING else state
    text = knowledge.state_meaning(shown)
    if state is State.CHECKING and entry.result is not None:
        text = f"Last result: {shown.value}. {text}"
    if text:
        page.item("", text)
    if entry.result is not None and not entry.result.warmup_ready:
        page.item(("Warm-up needs working SMTP and IMAP (or a send-only relay).", _MUTED))


FINDABLE = frozenset(
    {
        Cause.TLS_MISMATCH,
        Cause.TIMEOUT,
        Cause.CONNECTION_REFUSED,
        Cause.WRONG_SERVICE,
        Cause.STARTTLS_UNAVAILABLE,
        Cause.PLAINTEXT_DISABLED,
        Cause.CERTIFICATE_INVALID,
        Cause.DNS_FAILED,
        Cause.SETTINGS_MISSING,
    }
)
"""IMAP causes where "find settings" (f) can show the pair that answers."""


def problem(page: Page, result: CheckResult, account: Account) -> None:
    """One failed protocol: the cause, what it means, the fix, and the server's own words."""
    name = result.protocol.value.upper()
    if result.cause is None:
        page.line((f"✕ {name} failed", _FAILED))
        server_words(page, result)
    elif SESSION_HOSTS_ONLY in result.facts:
        page.line((f"✕ {name}: {knowledge.OUTSIDE_SESSION}", _FAILED))
        page.item("  ", result.message or "")
        page.item(
            "",
            "The demo only contacts its own lab servers on 127.0.0.1, so these settings were "
            "not tried: they may well be right. To check a real account, start mailconsole "
            "without --demo, on your own account file.",
        )
    else:
        provider = knowledge.server_provider(account, result)
        advice = knowledge.explain(result.cause, result.protocol, provider)
        where = f" at {result.stage.value}" if result.stage else ""
        page.line((f"✕ {name}: {knowledge.cause_title(result) or advice.title}", _FAILED))
        page.line((f"  cause {result.cause.value}{where}", _MUTED))
        server_words(page, result)  # near the top: an [ALERT] often says what to do
        if advice.transient:
            page.line(("  Temporary: retrying later may help.", _MUTED))
        # the token's own claims said more (core/oauth/explain.py): they replace the cause's
        # general words, which speak of passwords
        token_words = result.facts.get("oauth2_explanation")
        if isinstance(token_words, str):
            page.item("", token_words)
        elif advice.explanation:
            page.item("", advice.explanation)
        if advice.consequences:
            page.line(("What it means", "bold"))
            for consequence in advice.consequences:
                page.item("  • ", consequence)
        token_fix = result.facts.get("oauth2_fix")
        steps = token_fix if isinstance(token_fix, tuple) and token_fix else advice.fix
        if steps:
            page.line(("How to fix it", "bold"))
            for number, step in enumerate(steps, 1):
                page.item(f"  {number}. ", step)
        for link in advice.links:
            page.link(link)
        if result.protocol is Protocol.IMAP and result.cause in FINDABLE:
            page.item(
                ("  ⇒ ", "bold"),
                ("Press f to find the IMAP port and security that answer", "bold"),
                " (no password is sent; the result fills the edit form).",
            )


def server_words(page: Page, result: CheckResult) -> None:
    """The server's own reply, as sent (plain text, never markup)."""
    if result.message:
        page.line(("The server said, exactly:", "bold"))
        for text_line in result.message.splitlines() or [result.message]:
            page.item("  ", text_line)


def ladder(
    page: Page,
    protocol: Protocol,
    result: CheckResult | None,
    live_stage: Stage | None,
    in_flight: bool,
) -> None:
    """Every rung of the ladder: done ✓, failed ✕ (marked ▶), not reached or not needed ·."""
    settled = result if not in_flight else None
    done = {step.stage: step for step in settled.steps} if settled is not None else {}
    failed_stage = settled.stage if settled is not None and _failed(settled) else None
    room = page.width - _LADDER_LEFT
    for stage in LADDERS[protocol]:
        step = done.get(stage)
        label = f"{stage.value:<11}"
        if in_flight and stage == live_stage:
            page.line(("  ⟳ ", "$state-checking"), (label, "bold"))
        elif step is None:
            page.line(("  · ", _MUTED), (label.rstrip(), _MUTED))
        else:
            elapsed = format_ms(step.elapsed_ms) if step.elapsed_ms else ""
            mark: tuple[str, str] = ("  ✓ ", "$state-connected") if step.ok else ("▶ ✕ ", _FAILED)
            page.line(
                mark,
                (label, "" if step.ok else _FAILED),
                (f"{elapsed:>8} ", _MUTED),
                _one_line(step.detail, room),
            )
    if failed_stage is not None and failed_stage not in done:
        page.line(("▶ ✕ ", _FAILED), f"failed at {failed_stage.value}")


def facts(page: Page, result: CheckResult, mailbox: str) -> None:
    """The facts worth a glance (TLS, certificate, IDLE, mailbox size, quota) and warnings."""
    f = result.facts
    items: list[str] = []
    if "tls_version" in f:
        items.append(f"TLS {f['tls_version']}")
    if "cert_not_after" in f:
        left = f.get("cert_days_left")
        days = f" ({left} days)" if left is not None else ""
        items.append(f"certificate valid until {str(f['cert_not_after'])[:10]}{days}")
    if "auth_mechanisms" in f:
        items.append("AUTH " + _fact(f["auth_mechanisms"]))
    if "idle" in f:
        items.append("IDLE " + _fact(f["idle"]))
    if "messages" in f:
        items.append(f"{f['messages']} messages in {mailbox}")
    if "quota_percent" in f:
        quota = f"quota {f['quota_percent']}% used"
        if "quota_used_kb" in f and "quota_limit_kb" in f:
            quota += f" ({f['quota_used_kb']} of {f['quota_limit_kb']} KiB)"
        items.append(quota)
    if items:
        page.item("  ", (" · ".join(items), _MUTED))
    for warning in result.warnings:
        page.item(("  ⚠ ", "bold $warning"), warning)


def _fact(value: FactValue) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return " ".join(value)
    return str(value)


def protocol_section(page: Page, entry: Entry, protocol: Protocol) -> None:
    """One protocol: where it connects, its outcome, the ladder and the facts."""
    account = entry.account
    settings = account.settings_for(protocol)
    in_flight = protocol in entry.stages
    result = entry.check_for(protocol)
    where = f"{settings.address} {settings.security.value}" if settings is not None else "not set"
    if in_flight:
        outcome: tuple[str, str] = ("⟳ checking", "$state-checking")
    elif result is None:
        outcome = ("○ not checked yet", _MUTED)
    else:
        word = result.status.value
        if _failed(result) and result.stage is not None:
            word = f"failed at {result.stage.value}"
        outcome = (f"{STATUS_GLYPHS[result.status]} {word}", _STATUS_STYLE[result.status])
    page.item((f"{protocol.value.upper()} ", _HEADING), where, "  ", outcome)
    if settings is not None:
        login = f"login {settings.username}"
        if protocol is Protocol.IMAP:
            login += f" · mailbox {settings.mailbox}"
        page.item("  ", (login, _MUTED))
    if result is not None and result.status is Status.NA and not in_flight:
        page.line(("  send-only account: there is no IMAP server to check", _MUTED))
        return
    ladder(page, protocol, result, entry.stages.get(protocol), in_flight)
    if result is not None and not in_flight:
        facts(page, result, settings.mailbox if settings is not None else "INBOX")


def checklist(page: Page, entry: Entry) -> None:
    if entry.account.send_only and entry.account.imap is None:
        return
    page.line(("Reply tracking checklist", _HEADING))
    for item in knowledge.reply_tracking_checklist():
        page.item("  □ ", item)


def detail_content(
    entry: Entry, now: datetime, width: int = 80, history: Callable[[Page], None] | None = None
) -> Content:
    """Everything the pane shows for one account, top to bottom, wrapped to `width`.

    `history` draws the results store's lines (since when, last checks) under the header.
    """
    page = Page(width)
    header(page, entry, now)
    if history is not None:
        history(page)
    if entry.canary is not None:
        page.blank()
        canary_section(page, entry.account, entry.canary, now)
    for protocol in (Protocol.SMTP, Protocol.IMAP):
        result = entry.check_for(protocol)
        if result is not None and _failed(result) and protocol not in entry.stages:
            page.blank()
            problem(page, result, entry.account)
    page.blank()
    meaning(page, entry)
    for protocol in (Protocol.SMTP, Protocol.IMAP):
        page.blank()
        protocol_section(page, entry, protocol)
    page.blank()
    checklist(page, entry)
    return page.content()


def form_test_content(
    entry: Entry, width: int = 80, protocols: tuple[Protocol, ...] = (Protocol.IMAP,)
) -> Content:
    """The result of "test before save": a verdict per server first (at 80x24 it is what shows),
    then each problem and its ladder."""
    page = Page(width)
    page.line(("Test of the values in the form (not saved yet)", _HEADING))
    results = {p: entry.check_for(p) for p in protocols}
    for protocol, result in results.items():
        name = protocol.value.upper()
        if result is not None and result.ok:
            page.line((f"✓ {name} works with these settings.", "bold $state-connected"))
        elif _failed(result) and result is not None:
            page.line((f"✗ {name}: {knowledge.cause_title(result) or 'failed'}", _FAILED))
    if any(r is not None and r.ok for r in results.values()) and not any(
        _failed(r) for r in results.values()
    ):
        page.line("ctrl+s saves them.")
    for result in results.values():
        if result is not None and _failed(result):
            page.blank()
            problem(page, result, entry.account)
    for protocol in protocols:
        protocol_section(page, entry, protocol)
    return page.content()
