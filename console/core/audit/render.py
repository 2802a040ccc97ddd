"""The audit report as HTML (one self-contained file), Markdown or CSV.

HTML and Markdown come from Jinja2 templates next to this file. HTML autoescaping is on for every
value (account names and tags are untrusted); the page has inline CSS only: no script, no
stylesheet link, no image, no font to fetch, so it opens offline and prints as it shows.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from console.core.audit.build import STATE_GLYPHS, Audit, as_rows
from console.core.model import State
from console.core.safe_text import csv_cell

TEMPLATES = Path(__file__).parent / "templates"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%b %Y %H:%M} UTC"


def age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return ""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def md_escape(value: object) -> str:
    """Markdown punctuation escaped, so a hostile name cannot become a link or an image."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def _environment(*, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["when"] = when
    env.filters["md"] = md_escape
    env.globals["age"] = age
    env.globals["glyphs"] = STATE_GLYPHS
    env.globals["unchecked"] = State.UNCHECKED
    return env


def to_html(audit: Audit) -> str:
    return _environment(html=True).get_template("report.html.j2").render(audit=audit)


def to_markdown(audit: Audit) -> str:
    return _environment(html=False).get_template("report.md.j2").render(audit=audit)


def to_csv(audit: Audit) -> str:
    rows = as_rows(audit)
    fields = list(rows[0]) if rows else ["client", "email", "state"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(f) for f in fields])
    for row in rows:
        writer.writerow([csv_cell(str(row[f])) for f in fields])
    return buf.getvalue()
