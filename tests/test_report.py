"""`mailconsole report`: the audit report from recorded checks, as HTML (parsed, not eyeballed:
structure, escaping of hostile names, no script, nothing fetched), Markdown and CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from console.core.model import AccountResult, Cause, CheckResult, Protocol, Stage, Status
from console.core.store import ResultsStore, results_path

SECRET = "Hunter2-secret-pw"
HOSTILE_NAME = "<script>alert('x')</script> [click](http://evil.example) \x1b[31mred"
HOSTILE_TAG = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://evil.example","x")'

ACCOUNTS = f"""
[[account]]
email = "ok@acme.example"
name = {json.dumps(HOSTILE_NAME)}
tags = ["acme"]
[account.smtp]
host = "smtp.acme.example"
port = 465
security = "tls"
password_command = "printf {SECRET}"
[account.imap]
host = "imap.acme.example"
port = 993
security = "tls"
password_command = "printf {SECRET}"

[[account]]
email = "app@acme.example"
name = {json.dumps(FORMULA)}
tags = ["acme", {json.dumps(HOSTILE_TAG)}]
provider = "gmail"
[account.smtp]
host = "smtp.gmail.com"
port = 465
security = "tls"
[account.imap]
host = "imap.gmail.com"
port = 993
security = "tls"

[[account]]
email = "app2@acme.example"
tags = ["acme"]
provider = "gmail"
[account.smtp]
host = "smtp.gmail.com"
port = 465
security = "tls"
[account.imap]
host = "imap.gmail.com"
port = 993
security = "tls"

[[account]]
email = "down@globex.example"
tags = ["globex"]
[account.smtp]
host = "smtp.globex.example"
port = 465
security = "tls"
[account.imap]
host = "imap.globex.example"
port = 993
security = "tls"

[[account]]
email = "never@globex.example"
tags = ["globex"]
[account.smtp]
host = "smtp.globex.example"
port = 465
security = "tls"
"""
NOW = datetime.now(UTC).replace(microsecond=0)


def ok(protocol: Protocol, **facts: object) -> CheckResult:
    return CheckResult(protocol, Status.OK, elapsed_ms=100, facts=facts)  # type: ignore[arg-type]


def failed(protocol: Protocol, cause: Cause, stage: Stage) -> CheckResult:
    text = f"NO [AUTHENTICATIONFAILED] {SECRET}"
    return CheckResult(protocol, Status.FAILED, cause, stage, message=text, transcript=(text,))


@pytest.fixture
def setup(tmp_path: Path, state_dir: Path) -> Path:
    config = tmp_path / "accounts.toml"
    config.write_text(ACCOUNTS, encoding="utf-8")
    with ResultsStore.open(results_path()) as store:
        store.record(
            AccountResult(
                "ok@acme.example",
                ok(Protocol.SMTP, cert_days_left=5, cert_not_after="2026-12-08T00:00:00Z"),
                ok(Protocol.IMAP, quota_percent=96.5),
                NOW - timedelta(days=2),
            ),
            canary={"status": "ok", "message": SECRET},
        )
        for email in ("app@acme.example", "app2@acme.example"):
            store.record(
                AccountResult(
                    email,
                    ok(Protocol.SMTP),
                    failed(Protocol.IMAP, Cause.APP_PASSWORD_REQUIRED, Stage.AUTH),
                    NOW - timedelta(days=3),
                )
            )
        store.record(
            AccountResult(
                "down@globex.example",
                failed(Protocol.SMTP, Cause.AUTH_FAILED, Stage.AUTH),
                ok(Protocol.IMAP),
                NOW - timedelta(hours=5),
            )
        )
    return config


def report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILCONSOLE_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "console", "report", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if not (self._in and self._in[-1] == "style"):
            self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def test_html_report_is_one_safe_self_contained_file(setup: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = report(setup, "-o", str(out))
    assert done.returncode == 2, done.stderr  # one account disconnected
    html = out.read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    tags = {t for t, _ in page.tags}
    assert "script" not in tags and "img" not in tags and "link" not in tags
    assert "iframe" not in tags and "object" not in tags
    assert len(page.named("style")) == 1
    assert all("src" not in attrs for _, attrs in page.tags)
    assert all(
        (attrs.get("href") or "").startswith("#") for attrs in page.named("a")
    )  # links only within the page
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    assert "@import" not in html and "url(" not in html
    text = " ".join(" ".join(page.text).split())
    # The hostile name and tag are shown as text, exactly (the ESC made visible).
    assert "<script>alert('x')</script> [click](http://evil.example)" in text
    assert "\x1b" not in html
    assert f"Client: {HOSTILE_TAG}" in text
    clients = [" ".join(t.split()) for t in page.text if t.strip().startswith("Client:")]
    assert sorted(clients) == sorted(["Client: acme", "Client: globex", f"Client: {HOSTILE_TAG}"])
    # Grouped by cause, the fix once per group.
    title = "IMAP: App password required"
    assert text.count(title) == 2  # once for acme (two accounts), once for the hostile tag
    assert f"{title} · 2 account(s) · Gmail" in text
    assert len(page.named("ol")) == 3  # acme: app passwords; globex: auth; hostile tag: app
    assert "Certificates and quota" in text and "expires in 5 day(s)" in text
    assert "mailbox 96.5% full" in text
    assert "never@globex.example" in text and "unchecked" in text
    assert SECRET not in html and "AUTHENTICATIONFAILED" not in html
    assert "@media print" in html


def test_markdown_and_csv(setup: Path) -> None:
    md = report(setup, "--format", "md", "--tag", "acme")
    assert md.returncode == 1, md.stderr  # acme: conditional at worst
    assert "## Client: acme" in md.stdout and "globex" not in md.stdout
    assert "\\<script\\>" in md.stdout and "\\[click\\]" in md.stdout
    assert SECRET not in md.stdout
    done = report(setup, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    app = next(r for r in rows if r["email"] == "app@acme.example" and r["client"] == "acme")
    assert app["name"].startswith("'=")  # a spreadsheet will not run it
    assert app["state"] == "conditional" and "App password" in app["cause"] and app["fix"]
    assert SECRET not in done.stdout
    unknown = report(setup, "--tag", "nope")
    assert unknown.returncode == 3 and "nope" in unknown.stderr
