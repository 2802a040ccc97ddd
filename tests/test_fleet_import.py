"""Import planning from real files: every layout, every encoding and every bad input of issue 15.

Files are written as bytes exactly as spreadsheets and platforms write them; no cell content
(a password above all) may appear in any problem, note or output.
"""

from __future__ import annotations

import codecs
import time
from pathlib import Path

import pytest

from console.core.fleet import (
    Action,
    MappingError,
    OnDuplicate,
    ReadError,
    failed_rows_csv,
    named,
    plan_import,
    save,
    to_json,
    to_table,
)
from console.core.model import Account, Protocol

SECRET = 'se,cr;et"pw'  # the separator, the other separator and a quote
SECRET_CSV = '"se,cr;et""pw"'

WOODPECKER = (
    "SMTP email,SMTP login,SMTP password,SMTP server,SMTP port,IMAP email,IMAP password,"
    "IMAP server,IMAP port\r\n"
    f"ana@fern.example,ana@fern.example,{SECRET_CSV},smtp.fern.example,587,ana@fern.example,"
    f"{SECRET_CSV},imap.fern.example,993\r\n"
)
SNOVIO = (
    "From email,From name,SMTP host,SMTP port,SMTP username,SMTP password,IMAP host,IMAP port,"
    "IMAP username,IMAP password\n"
    f"ana@fern.example,Ana,smtp.fern.example,465,ana,{SECRET_CSV},imap.fern.example,143,ana,"
    f"{SECRET_CSV}\n"
)
SNAKE = (
    "from_email,from_name,smtp_host,smtp_port,smtp_username,smtp_password,imap_host,imap_port,"
    "imap_username,imap_password\n"
    f"ana@fern.example,Ana,smtp.fern.example,587,ana@fern.example,{SECRET_CSV},imap.fern.example,"
    f"993,ana@fern.example,{SECRET_CSV}\n"
)
RESELLER = (
    "Email,App Password,SMTP,IMAP\n"
    f"ana@fern.example,{SECRET_CSV},smtp.fern.example,imap.fern.example\n"
)


def plan_of(text: str | bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    data = text.encode("utf-8") if isinstance(text, str) else text
    return plan_import(data, **kwargs)  # type: ignore[arg-type]


def assert_no_secret(plan, *secrets: str) -> None:  # type: ignore[no-untyped-def]
    outputs = [to_json(plan), to_table(plan), failed_rows_csv(plan), repr(plan.rows)]
    outputs += plan.notes
    for secret in secrets or (SECRET,):
        for text in outputs:
            assert secret not in text


@pytest.mark.parametrize(
    ("text", "layout", "smtp", "imap"),
    [
        (WOODPECKER, "woodpecker", (587, "starttls", "ana@fern.example"), (993, "tls")),
        (SNOVIO, "snovio", (465, "tls", "ana"), (143, "starttls")),
        (SNAKE, "smtp_imap", (587, "starttls", "ana@fern.example"), (993, "tls")),
        (RESELLER, "reseller", (465, "tls", "ana@fern.example"), (993, "tls")),
    ],
)
def test_each_layout_is_detected_and_ports_imply_security(
    text: str, layout: str, smtp: tuple[object, ...], imap: tuple[object, ...]
) -> None:
    plan = plan_of(text)
    assert plan.columns.name == layout
    (row,) = plan.rows
    assert row.action is Action.ADD, row.problems
    table = row.candidate.table
    assert (table["smtp"]["port"], table["smtp"]["security"], table["smtp"]["username"]) == smtp
    assert (table["imap"]["port"], table["imap"]["security"]) == imap
    assert row.candidate.passwords.get(Protocol.SMTP) == SECRET
    assert row.candidate.passwords.get(Protocol.IMAP) == SECRET
    assert "password" not in str(table)
    assert_no_secret(plan)


def test_generic_header_words_in_any_order_and_unknown_columns_noted() -> None:
    text = (
        "Notes;IMAP Port;Password;Outgoing server;E-mail address;IMAP Server;SMTP Port;Client\n"
        f"vip;993;{SECRET_CSV};smtp.fern.example;ana@fern.example;imap.fern.example;465;acme\n"
    )
    plan = plan_of(text)
    assert plan.table.separator == ";"
    assert plan.columns.name == "generic"
    assert plan.columns.as_dict() == {
        "IMAP Port": "imap.port",
        "Password": "password",
        "Outgoing server": "smtp.host",
        "E-mail address": "email",
        "IMAP Server": "imap.host",
        "SMTP Port": "smtp.port",
        "Client": "tags",
    }
    assert any("column(s) not used: 1 (Notes)" in n for n in plan.notes)
    (row,) = plan.rows
    assert row.action is Action.ADD
    assert row.candidate.table["tags"] == ["acme"]
    assert row.candidate.passwords.get(Protocol.IMAP) == SECRET


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
        lambda s: s.encode("utf-16"),  # with its BOM, as Excel's "Unicode text"
        lambda s: s.encode("utf-16-le"),  # no BOM
        lambda s: s.encode("cp1252"),
    ],
    ids=["utf-8-bom", "utf-16", "utf-16-le-no-bom", "windows-1252"],
)
def test_encodings(encode) -> None:  # type: ignore[no-untyped-def]
    text = (
        "Email\tName\tApp Password\tSMTP\tIMAP\r\n"
        f"ana@fern.example\tJosé Müller\t{SECRET}\tsmtp.fern.example\timap.fern.example\r\n"
    )
    plan = plan_of(encode(text))
    assert plan.table.separator == "\t"
    (row,) = plan.rows
    assert row.action is Action.ADD, row.problems
    assert row.candidate.table["name"] == "José Müller"
    assert row.candidate.passwords.get(Protocol.SMTP) == SECRET


def test_quoted_newlines_empty_rows_and_line_numbers() -> None:
    text = (
        "email,name,password,smtp_host,imap_host\n"
        "\n"
        'ana@fern.example,"Ana\nsecond line",pw1,smtp.fern.example,imap.fern.example\n'
        ",,,,\n"
        "\n"
        "bob@fern.example,Bob,pw2,smtp.fern.example,imap.fern.example:abc\n"
    )
    plan = plan_of(text)
    assert [(r.line, r.action) for r in plan.rows] == [(3, Action.ADD), (7, Action.ERROR)]
    assert plan.rows[0].candidate.table["name"] == "Ana\nsecond line"
    assert [p.column for p in plan.rows[1].problems] == ["imap_host"]


def test_header_only_and_empty_files() -> None:
    plan = plan_of("Email,App Password,SMTP,IMAP\r\n")
    assert plan.rows == [] and plan.counts() == {"add": 0, "update": 0, "skip": 0, "error": 0}
    with pytest.raises(ReadError):
        plan_of(b"")
    with pytest.raises(ReadError):
        plan_of(b"\r\n\r\n")


def test_malformed_rows_are_named_by_line_and_column_never_by_content() -> None:
    text = (
        "email,password,smtp_host,imap_host\n"
        f"ana@fern.example,{SECRET.replace(chr(34), '')},smtp.fern.example,imap.fern.example\n"
        'bob@fern.example,"hunter2"x,smtp.fern.example,imap.fern.example\n'
        "cid@fern.example,ok-pw,smtp.fern.example,imap.fern.example\n"
        'dan@fern.example,"Zq9-unclosed-pw,smtp.fern.example,imap.fern.example\n'
    )
    plan = plan_of(text)
    by_line = {r.line: r for r in plan.rows}
    # an unquoted password holding the separator shifts the row: named by its extra column
    assert by_line[2].action is Action.ERROR
    assert by_line[2].problems[0].column == "column 5"
    assert by_line[3].action is Action.ERROR and by_line[3].problems[0].column == "column 2"
    assert by_line[4].action is Action.ADD
    assert by_line[5].action is Action.ERROR and by_line[5].problems[0].column == "column 2"
    assert_no_secret(plan, "hunter2", "Zq9-unclosed-pw", "se,cr;etpw", "cr;etpw")


def test_spreadsheet_ports_and_bad_ports() -> None:
    text = (
        "email,password,smtp_host,smtp_port,imap_host,imap_port,imap_security\n"
        "ana@fern.example,pw,smtp.fern.example,587.0,imap.fern.example,993.0,\n"
        "bob@fern.example,pw,smtp.fern.example,70000,imap.fern.example,993,\n"
        "cid@fern.example,pw,smtp.fern.example,2525,imap.fern.example,143,SSL\n"
    )
    plan = plan_of(text)
    ana, bob, cid = plan.rows
    assert ana.candidate.table["smtp"]["port"] == 587
    assert ana.candidate.table["smtp"]["security"] == "starttls"
    assert ana.candidate.table["imap"] == {
        "host": "imap.fern.example",
        "port": 993,
        "security": "tls",
        "username": "ana@fern.example",
    }
    assert bob.action is Action.ERROR and bob.problems[0].column == "smtp_port"
    assert cid.candidate.table["smtp"]["security"] == "starttls"  # 2525: assumed, with a note
    assert cid.candidate.table["imap"]["security"] == "tls"  # said explicitly
    assert any("port 2525 is not a standard one" in n for n in plan.notes)


def test_presets_fill_what_is_missing() -> None:
    text = "Email,App Password,SMTP,IMAP\nana@gmail.com,abcd efgh ijkl mnop,,\n"
    (row,) = plan_of(text).rows
    assert row.action is Action.ADD
    assert row.candidate.table["smtp"]["host"] == "smtp.gmail.com"
    assert row.candidate.table["imap"]["host"] == "imap.gmail.com"
    assert row.candidate.table["imap"]["port"] == 993


def test_same_email_twice() -> None:
    text = (
        "email,password,smtp_host,imap_host\n"
        "ana@fern.example,pw,smtp.fern.example,imap.fern.example\n"
        "ANA@fern.example,pw,smtp.fern.example,imap.fern.example\n"
        "bob@fern.example,pw,smtp.fern.example,imap.fern.example\n"
        "bob@fern.example,pw,smtp.other.example,imap.fern.example\n"
    )
    plan = plan_of(text)
    assert [r.action for r in plan.rows] == [Action.ADD, Action.SKIP, Action.ERROR, Action.ERROR]
    assert "line(s) 5" in plan.rows[2].problems[0].message
    assert "line(s) 4" in plan.rows[3].problems[0].message


def test_existing_accounts_are_updated_or_skipped_only_when_chosen() -> None:
    text = (
        "email,password,smtp_host,imap_host\n"
        "ana@fern.example,pw,smtp.fern.example,imap.fern.example\n"
    )
    existing = [Account(email="Ana@Fern.example")]
    assert plan_of(text, existing=existing).rows[0].action is Action.ERROR
    assert plan_of(text, existing=existing, on_duplicate=OnDuplicate.ADD).rows[0].action is (
        Action.ERROR
    )
    skip = plan_of(text, existing=existing, on_duplicate=OnDuplicate.SKIP)
    assert skip.rows[0].action is Action.SKIP
    update = plan_of(text, existing=existing, on_duplicate=OnDuplicate.UPDATE)
    assert update.rows[0].action is Action.UPDATE


def test_tags_from_column_option_or_file_name() -> None:
    base = (
        "email,password,smtp_host,imap_host{extra}\n"
        "ana@fern.example,pw,smtp.f.example,imap.f.example{value}\n"
    )
    plain = base.format(extra="", value="")
    assert plan_of(plain, source=Path("Acme Clients.csv")).rows[0].candidate.table["tags"] == [
        "acme-clients"
    ]
    assert plan_of(plain, source=Path("x.csv"), tags=["q3"]).rows[0].candidate.table["tags"] == [
        "q3"
    ]
    tagged = base.format(extra=",tags", value=',"a; b"')
    assert plan_of(tagged, source=Path("x.csv")).rows[0].candidate.table["tags"] == ["a", "b"]


def test_password_command_template_is_shell_quoted() -> None:
    text = "email,smtp_host,imap_host\nana+x@fern.example,smtp.fern.example,imap.fern.example\n"
    plan = plan_of(text, password_command="pass show mail/{email}")
    (row,) = plan.rows
    assert row.action is Action.ADD
    assert row.candidate.table["smtp"]["password_command"] == "pass show mail/ana+x@fern.example"
    assert not row.candidate.passwords
    hostile = (
        "email,smtp_host,imap_host\n$(touch${IFS}x)@fern.example,smtp.f.example,imap.f.example\n"
    )
    assert plan_of(hostile, password_command="pass show {email}").rows[0].action is Action.ERROR


def test_saved_mapping_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCONSOLE_MAPPINGS_DIR", str(tmp_path / "mappings"))
    header = ("Mailbox", "Secret", "Out", "In")
    text = f"{','.join(header)}\nana@fern.example,pw,smtp.fern.example,imap.fern.example\n"
    assert plan_of(text).rows[0].action is Action.ERROR  # nothing says which column is which
    save(
        "client-x",
        {"Mailbox": "email", "Secret": "password", "Out": "smtp.host", "In": "imap.host"},
    )
    plan = plan_of(text, mapping="client-x")
    assert plan.rows[0].action is Action.ADD
    assert named("woodpecker", header).name == "woodpecker"
    with pytest.raises(MappingError):
        plan_of(text, mapping="nope")
    with pytest.raises(MappingError):
        save("../escape", {"Mailbox": "email"})


def test_a_hundred_thousand_rows() -> None:
    header = "email,name,password,smtp_host,smtp_port,imap_host,imap_port\n"
    body = "".join(
        f"u{i}@fern{i % 40}.example,User {i},pw-{i},smtp.fern{i % 40}.example,587,"
        f"imap.fern{i % 40}.example,993\n"
        for i in range(100_000)
    )
    started = time.perf_counter()
    plan = plan_of(header + body)
    elapsed = time.perf_counter() - started
    assert plan.counts()["add"] == 100_000
    assert plan.rows[-1].line == 100_001
    assert elapsed < 90  # no cap on size; generous for a shared CI machine


def test_a_file_without_a_header_row_leaks_nothing() -> None:
    text = (
        "ana@fern.example,Zq-first-row-pw,smtp.fern.example\nbob@fern.example,pw2,smtp.f.example\n"
    )
    plan = plan_of(text)
    assert all(r.action is Action.ERROR for r in plan.rows)
    assert any("no column is mapped to email" in n for n in plan.notes)
    assert_no_secret(plan, "Zq-first-row-pw", "pw2")
