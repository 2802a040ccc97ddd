"""The detail pane's text for one account, built as `Content` (never markup from a string).

Order: what the state means, then what is wrong and how to fix it, then each protocol's ladder
and facts, then the reply-tracking checklist. Server replies, names and hosts are inserted as
plain text: `NO [AUTHENTICATIONFAILED] Invalid credentials` or `[@click=app.quit]` show as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from textual.content import Content

from console.core.model import (
    LADDERS,
    Account,
    CheckResult,
    FactValue,
    Protocol,
    Stage,
    State,
    Status,
)
from console.ui import knowledge
from console.ui.board import Entry
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
_DETAIL_ROOM = 56
"""A step's detail is cut to this length in the ladder; the full reply is shown in the problem."""

Part = Content | str | tuple[str, str]


def _line(*parts: Part) -> Content:
    return Content.assemble(*parts, "\n")


def _one_line(text: str, room: int = _DETAIL_ROOM) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= room else flat[: room - 1] + "…"


def _failed(result: CheckResult | None) -> bool:
    return result is not None and result.status in (Status.FAILED, Status.MISSING)


# -- sections ---------------------------------------------------------------------------------


def header(entry: Entry, now: datetime) -> Content:
    account = entry.account
    state = entry.state
    parts: list[Content] = [_line((account.email, "bold"))]
    who = [account.name or "", *(f"#{t}" for t in account.tags)]
    if account.provider:
        who.append(f"provider: {account.provider}")
    if any(who):
        parts.append(_line((" ".join(w for w in who if w), _MUTED)))
    if account.reply_address:
        parts.append(_line(("replies arrive at ", _MUTED), account.reply_address))
    parts.append(_line((f"{STATE_GLYPHS[state]} {state.value}", _STATE_STYLE[state])))
    shown = entry.settled_state if state is State.CHECKING else state
    meaning = knowledge.state_meaning(shown)
    if state is State.CHECKING and entry.result is not None:
        meaning = f"Last result: {shown.value}. {meaning}"
    if meaning:
        parts.append(_line(meaning))
    if entry.result is not None:
        ready = entry.result.warmup_ready
        why = "" if ready else " (it needs working SMTP and IMAP, or a send-only relay)"
        parts.append(
            _line(
                ("Warm-up: ", "bold"),
                (
                    "ready" if ready else "not ready",
                    _STATUS_STYLE[Status.OK if ready else Status.FAILED],
                ),
                why,
            )
        )
        parts.append(_line((f"Last checked {relative_time(entry.result.checked_at, now)}", _MUTED)))
    return Content.assemble(*parts)


def problem(result: CheckResult, account: Account) -> Content:
    """One failed protocol: the cause, what it means, the fix, and the server's own words."""
    name = result.protocol.value.upper()
    parts: list[Content] = []
    if result.cause is None:
        parts.append(_line((f"✕ {name} failed", _FAILED)))
    else:
        advice = knowledge.explain(
            result.cause, result.protocol, knowledge.provider_for(account, result.protocol)
        )
        where = f" at {result.stage.value}" if result.stage else ""
        parts.append(_line((f"✕ {name}: {advice.title}", _FAILED)))
        parts.append(_line((f"  cause {result.cause.value}{where}", _MUTED)))
        if advice.transient:
            parts.append(_line(("  Temporary: retrying later may help.", _MUTED)))
        if advice.explanation:
            parts.append(_line(advice.explanation))
        if advice.consequences:
            parts.append(_line(("What it means", "bold")))
            for consequence in advice.consequences:
                parts.append(_line("  • ", consequence))
        if advice.fix:
            parts.append(_line(("How to fix it", "bold")))
            for number, step in enumerate(advice.fix, 1):
                parts.append(_line(f"  {number}. ", step))
        for link in advice.links:
            parts.append(_line(("  → ", _MUTED), link))
    if result.message:
        parts.append(_line(("The server said, exactly:", "bold")))
        for text_line in result.message.splitlines() or [result.message]:
            parts.append(_line("  ", text_line))
    return Content.assemble(*parts)


def ladder(
    protocol: Protocol, result: CheckResult | None, live_stage: Stage | None, in_flight: bool
) -> Content:
    """Every rung of the ladder: done ✓, failed ✕ (marked ▶), not reached or not needed ·."""
    done = (
        {step.stage: step for step in result.steps} if result is not None and not in_flight else {}
    )
    failed_stage = result.stage if _failed(result) and not in_flight else None
    parts: list[Content] = []
    for stage in LADDERS[protocol]:
        step = done.get(stage)
        label = f"{stage.value:<11}"
        if in_flight and stage == live_stage:
            parts.append(_line(("  ⟳ ", "$state-checking"), (label, "bold")))
        elif step is None:
            parts.append(_line(("  · ", _MUTED), (label.rstrip(), _MUTED)))
        elif step.ok:
            elapsed = format_ms(step.elapsed_ms) if step.elapsed_ms else ""
            parts.append(
                _line(
                    ("  ✓ ", "$state-connected"),
                    label,
                    (f"{elapsed:>8} ", _MUTED),
                    _one_line(step.detail),
                )
            )
        else:
            elapsed = format_ms(step.elapsed_ms) if step.elapsed_ms else ""
            parts.append(
                _line(
                    ("▶ ✕ ", _FAILED),
                    (label, _FAILED),
                    (f"{elapsed:>8} ", _MUTED),
                    _one_line(step.detail),
                )
            )
    if failed_stage is not None and failed_stage not in done:
        parts.append(_line(("▶ ✕ ", _FAILED), f"failed at {failed_stage.value}"))
    return Content.assemble(*parts)


def facts(result: CheckResult, mailbox: str = "INBOX") -> Content:
    """The facts worth a glance (TLS, certificate, IDLE, mailbox size, quota) and warnings."""
    f = result.facts
    parts: list[Content] = []
    items: list[str] = []
    if "tls_version" in f:
        items.append(f"TLS {f['tls_version']}")
    if "cert_not_after" in f:
        until = str(f["cert_not_after"])[:10]
        left = f.get("cert_days_left")
        items.append(
            f"certificate valid until {until}" + (f" ({left} days)" if left is not None else "")
        )
    if items:
        parts.append(_line(("  ", ""), (" · ".join(items), _MUTED)))
    items = []
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
        parts.append(_line(("  ", ""), (" · ".join(items), _MUTED)))
    for warning in result.warnings:
        parts.append(_line(("  ⚠ ", "bold $warning"), warning))
    return Content.assemble(*parts)


def _fact(value: FactValue) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return " ".join(value)
    return str(value)


def protocol_section(entry: Entry, protocol: Protocol) -> Content:
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
    parts: list[Content] = [_line((f"{protocol.value.upper()} ", _HEADING), where, "  ", outcome)]
    if settings is not None:
        login = f"  login {settings.username}"
        if protocol is Protocol.IMAP:
            login += f" · mailbox {settings.mailbox}"
        parts.append(_line((login, _MUTED)))
    if result is not None and result.status is Status.NA and not in_flight:
        parts.append(_line(("  send-only account: there is no IMAP server to check", _MUTED)))
        return Content.assemble(*parts)
    parts.append(ladder(protocol, result, entry.stages.get(protocol), in_flight))
    if result is not None and not in_flight:
        parts.append(facts(result, settings.mailbox if settings is not None else "INBOX"))
    return Content.assemble(*parts)


def checklist(entry: Entry) -> Content:
    if entry.account.send_only and entry.account.imap is None:
        return Content("")
    parts: list[Content] = [_line(("Reply tracking checklist", _HEADING))]
    for item in knowledge.reply_tracking_checklist():
        parts.append(_line("  □ ", item))
    return Content.assemble(*parts)


def detail_content(entry: Entry, now: datetime) -> Content:
    """Everything the pane shows for one account, top to bottom."""
    blank = Content("\n")
    sections: list[Content] = [header(entry, now)]
    for protocol in (Protocol.SMTP, Protocol.IMAP):
        result = entry.check_for(protocol)
        if result is not None and _failed(result) and protocol not in entry.stages:
            sections += [blank, problem(result, entry.account)]
    for protocol in (Protocol.SMTP, Protocol.IMAP):
        sections += [blank, protocol_section(entry, protocol)]
    sections += [blank, checklist(entry)]
    return Content.assemble(*sections)


def form_test_content(entry: Entry) -> Content:
    """The result of "test before save": the IMAP problem (if any) and its ladder."""
    result = entry.check_for(Protocol.IMAP)
    parts: list[Content] = [_line(("Test of the values in the form (not saved yet)", _HEADING))]
    if result is not None and _failed(result):
        parts.append(problem(result, entry.account))
    elif result is not None and result.ok:
        parts.append(
            _line(("✓ IMAP works with these settings. ctrl+s saves them.", "bold $state-connected"))
        )
    parts.append(protocol_section(entry, Protocol.IMAP))
    return Content.assemble(*parts)


def empty_content(message: str) -> Content:
    return Content(message)
