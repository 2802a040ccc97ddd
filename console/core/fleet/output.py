"""What an import shows and writes: the JSON (DESIGN section 10, contract), a text table, the
failed-rows CSV for the client, and `export`'s CSV in any layout. No password reaches any of them:
password cells are left empty, and no message quotes a cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from console.core.model import Account, Protocol, ServerSettings
from console.core.safe_text import csv_cell, json_dumps_safe, visible

from .mapping import SECRET_FIELDS, layout
from .plan import Action, ImportPlan, PlanRow, fix_text

# ---------------------------------------------------------------------------------------------
# JSON and table


def _server_dict(row: PlanRow, protocol: Protocol) -> dict[str, Any] | None:
    server = row.candidate.table.get(protocol.value)
    if row.action is Action.ERROR or not isinstance(server, dict):
        return None
    return {
        "host": server.get("host"),
        "port": server.get("port"),
        "security": server.get("security"),
        "username": server.get("username"),
    }


def row_dict(row: PlanRow) -> dict[str, Any]:
    cause = row.cause
    return {
        "line": row.line,
        "email": row.email,
        "action": row.action.value,
        "smtp": _server_dict(row, Protocol.SMTP),
        "imap": _server_dict(row, Protocol.IMAP),
        "problems": [p.as_dict() for p in row.problems],
        "state": row.state.value if row.state else None,
        "cause": cause.value if cause else None,
    }


def to_json(plan: ImportPlan) -> str:
    doc = {
        "mapping": plan.columns.as_dict(),
        "rows": [row_dict(r) for r in plan.rows],
        "summary": plan.counts(),
    }
    return json_dumps_safe(doc, indent=2)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def to_table(plan: ImportPlan) -> str:
    """A fixed-width table: line, action, email, would-be state, and the cause or problems."""
    lines = [f"mapping: {plan.columns.title}"]
    for header, name in plan.columns.as_dict().items():
        lines.append(f"  {visible(header, keep_newlines=False)!s:<24} -> {name}")
    lines.append("")
    lines.append(f"{'LINE':>6}  {'ACTION':<7} {'EMAIL':<36} {'STATE':<13} WHY")
    for row in plan.rows:
        why, _fix = fix_text(row) if row.failed else ("", "")
        if not why and row.notes:
            why = "; ".join(row.notes)
        state = row.state.value if row.state else "-"
        email = visible(row.email or "-", keep_newlines=False)
        lines.append(
            f"{row.line:>6}  {row.action.value:<7} {_clip(email, 36):<36} {state:<13} "
            f"{visible(why, keep_newlines=False)}".rstrip()
        )
    counts = plan.counts()
    lines.append("")
    lines.append(", ".join(f"{n} {action}" for action, n in counts.items()))
    if plan.tested:
        states: dict[str, int] = {}
        for row in plan.rows:
            if row.state is not None:
                states[row.state.value] = states.get(row.state.value, 0) + 1
        lines.append("tested: " + (", ".join(f"{n} {s}" for s, n in states.items()) or "none"))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Failed rows


def failed_rows_csv(plan: ImportPlan) -> str:
    """The rows that failed, as in the file (password cells emptied), plus line, cause and fix."""
    secret_columns = {i for i, _h, name in plan.columns.fields if name in SECRET_FIELDS}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    header = list(plan.table.header)
    if plan.columns.index("email") is None:  # no header row: its cells are data
        header = [f"column {i + 1}" for i in range(len(header))]
    writer.writerow([csv_cell(h) for h in (*header, "line", "cause", "fix")])
    width = len(plan.table.header)
    for row in plan.rows:
        if not row.failed:
            continue
        cells = list(row.candidate.cells[:width]) + [""] * max(0, width - len(row.candidate.cells))
        if len(row.candidate.cells) > width or not row.candidate.cells:
            # a shifted or unreadable row: which cell is the password is unknown, so none is kept
            cells = [""] * width
            if row.email:
                cells[plan.columns.index("email") or 0] = row.email
        cells = ["" if i in secret_columns else c for i, c in enumerate(cells)]
        if plan.columns.index("email") is None:  # nothing says which cell is a password
            cells = [""] * width
        cause, fix = fix_text(row)
        writer.writerow([csv_cell(c) for c in (*cells, row.line, cause, fix)])
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Export


def _value(account: Account, name: str, has_port: dict[Protocol, bool]) -> str:
    if name == "email":
        return account.email
    if name == "name":
        return account.name or ""
    if name == "tags":
        return ", ".join(account.tags)
    if name == "provider":
        return account.provider or ""
    if name == "reply_address":
        return account.reply_address or ""
    if name in SECRET_FIELDS or name.endswith("password_command") or name == "ignore":
        return ""
    protocol_name, _, key = name.partition(".")
    server: ServerSettings | None = account.settings_for(Protocol(protocol_name))
    if server is None:
        return ""
    if key == "host":
        return server.host if has_port[server.protocol] else server.address
    if key == "port":
        return str(server.port)
    if key == "security":
        return server.security.value
    if key == "username":
        return server.username
    if key == "mailbox":
        return server.mailbox
    return ""


def export_csv(accounts: Sequence[Account], layout_id: str = "mailconsole") -> str:
    """Accounts in a layout's columns and order; password cells empty, commands left out.

    A layout without a port column (the resellers') gets "host:port" in its host column.
    """
    chosen = layout(layout_id)
    names = [name for _h, name in chosen.columns]
    has_port = {p: f"{p.value}.port" in names for p in Protocol}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h, _n in chosen.columns])
    for account in accounts:
        writer.writerow([csv_cell(_value(account, n, has_port)) for n in names])
    return buf.getvalue()
