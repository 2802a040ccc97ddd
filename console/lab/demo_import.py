"""The demo's 500-row import file (demo_import.toml): rows for the lab's servers, good and bad.

`demo_rows` says which logins the lab's servers must accept; `write_csv` writes the file once
the ports are known. The file is plain CSV in the snake_case layout plus provider and security
columns, with every kind of bad row an agency meets (see the toml for the list).
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from console.core.model import Security

HEADER = (
    "from_email",
    "from_name",
    "provider",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_username",
    "imap_password",
)


@dataclass(frozen=True)
class DemoRow:
    email: str
    kind: Mapping[str, Any]
    password: str  # what the file holds
    server_password: str  # what the servers accept

    @property
    def imap(self) -> str:
        return str(self.kind["imap"])

    @property
    def smtp(self) -> str:
        return str(self.kind["smtp"])

    def accepted(self, server: str) -> str:
        """The password the named server accepts for this row's address."""
        if server == self.imap and self.kind.get("imap_server_password"):
            return str(self.kind["imap_server_password"])
        return self.server_password

    @property
    def bad(self) -> str | None:
        value = self.kind.get("bad")
        return str(value) if value else None


def load_spec() -> dict[str, Any]:
    text = resources.files("console.lab").joinpath("demo_import.toml").read_text("utf-8")
    return tomllib.loads(text)


def demo_rows(spec: Mapping[str, Any] | None = None) -> list[DemoRow]:
    spec = spec or load_spec()
    rows: list[DemoRow] = []
    n = 0
    for kind in spec["kind"]:
        for i in range(int(kind["count"])):
            n += 1
            local = f"user{n:03d}"
            if kind.get("bad") == "duplicate_same":
                local = "twin"
            elif kind.get("bad") == "duplicate_different":
                local = f"pair{i // 2}"
            fill = {"local": local}
            password = str(kind.get("password", "")).format(**fill)
            server = str(kind.get("server_password", kind.get("password", ""))).format(**fill)
            rows.append(DemoRow(f"{local}@{kind['domain']}", kind, password, server))
    return rows


def write_csv(
    path: Path,
    rows: list[DemoRow],
    hosts: Mapping[str, str],
    ports: Mapping[str, int],
    security: Mapping[str, Security],
) -> Path:
    """Write the file; `hosts`/`ports`/`security` by server name (the lab's, as started)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    lines = [buf.getvalue()]
    for number, row in enumerate(rows):
        kind = row.kind
        words = {Security.TLS: "SSL", Security.STARTTLS: "STARTTLS", Security.NONE: "none"}
        imap_port: object = ports[row.imap]
        smtp_port: object = ports[row.smtp]
        if kind.get("spreadsheet_ports") and number % 3 == 0:
            imap_port, smtp_port = f"{imap_port}.0", f"{smtp_port}.0"
        cells: list[object] = [
            row.email,
            row.email.split("@")[0].title(),
            kind.get("provider", ""),
            hosts[row.smtp],
            smtp_port,
            words[security[row.smtp]],
            row.email,
            row.password,
            hosts[row.imap],
            imap_port,
            kind.get("imap_security") or words[security[row.imap]],
            row.email,
            row.password,
        ]
        bad = row.bad
        if bad == "port_text":
            cells[9] = "nine-nine-three"
        elif bad == "no_email":
            cells[0] = ""
        elif bad == "bad_email":
            cells[0] = row.email.replace("@", " at ")
        elif bad == "host_scheme":
            cells[8] = f"imaps://{hosts[row.imap]}"
        elif bad == "duplicate_different" and number % 2:
            cells[6] = "someone-else@" + row.email.split("@")[1]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(cells)
        line = buf.getvalue()
        if bad == "unquoted_separator":  # as a hand-made export writes it: no quotes
            line = ",".join(str(c) for c in cells) + "\r\n"
        lines.append(line)
        if number in (100, 101, 300):
            lines.append("\r\n" if number != 300 else ",,,,,,,,,,,,\r\n")  # empty rows
    path.write_text("".join(lines), encoding="utf-8", newline="")
    return path
