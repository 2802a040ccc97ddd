"""Which CSV column is which account field: detected from the header, or a saved named mapping.

The known layouts and the generic header words are data (layouts.toml). A mapping the user
corrected is saved as `<config dir>/mailconsole/mappings/NAME.toml`:

    title = "Client X export"
    password_command = "pass show mail/{email}"   # optional: no password columns needed
    [columns]
    "Mailbox" = "email"
    "Outgoing" = "smtp.host"
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

FIELDS: tuple[str, ...] = (
    "email",
    "name",
    "tags",
    "provider",
    "reply_address",
    "smtp.host",
    "smtp.port",
    "smtp.security",
    "smtp.username",
    "smtp.password",
    "smtp.password_command",
    "imap.host",
    "imap.port",
    "imap.security",
    "imap.username",
    "imap.password",
    "imap.password_command",
    "imap.mailbox",
    "password",
    "password_command",
    "ignore",
)
SECRET_FIELDS = frozenset({"smtp.password", "imap.password", "password"})
"""Cells of these fields are passwords: held in memory only, never shown, written or logged."""

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAPPINGS_ENV = "MAILCONSOLE_MAPPINGS_DIR"


class MappingError(Exception):
    """A named mapping is unknown or its file is unusable; the message says what to do."""


@dataclass(frozen=True)
class Layout:
    id: str
    title: str
    columns: tuple[tuple[str, str], ...]  # (header, field) in the platform's order


@dataclass(frozen=True)
class ColumnMap:
    """The mapping applied to one file's header."""

    name: str  # a layout id, "generic", or a saved mapping's name
    title: str
    fields: tuple[tuple[int, str, str], ...]  # (0-based column index, header, field)
    ignored: tuple[tuple[int, str], ...] = ()  # unknown columns: (index, header)
    password_command: str | None = None  # a template such as "pass show mail/{email}"
    notes: tuple[str, ...] = field(default=())

    @functools.cached_property
    def _by_field(self) -> dict[str, tuple[int, str]]:
        return {f: (i, h) for i, h, f in reversed(self.fields)}

    def index(self, name: str) -> int | None:
        found = self._by_field.get(name)
        return found[0] if found else None

    def header_of(self, name: str) -> str | None:
        found = self._by_field.get(name)
        return found[1] if found else None

    def as_dict(self) -> dict[str, str]:
        """`{"SMTP server": "smtp.host", ...}`: the JSON's `mapping` (DESIGN section 10)."""
        return {h: f for _i, h, f in self.fields}


def normalise(header: str) -> str:
    """Lower case, letters and digits only: "SMTP Host:" == "smtp_host" == "smtphost"."""
    return re.sub(r"[^0-9a-z]", "", header.casefold())


@functools.cache
def _data() -> dict[str, Any]:
    text = resources.files("console.core.fleet").joinpath("layouts.toml").read_text("utf-8")
    return tomllib.loads(text)


@functools.cache
def layouts() -> tuple[Layout, ...]:
    out = []
    for layout_id, table in _data()["layout"].items():
        columns = tuple((str(h), str(f)) for h, f in table["columns"].items())
        out.append(Layout(layout_id, str(table["title"]), columns))
    return tuple(out)


def layout(layout_id: str) -> Layout:
    for candidate in layouts():
        if candidate.id == layout_id:
            return candidate
    known = ", ".join(x.id for x in layouts())
    raise MappingError(f"no layout named {layout_id!r}; the layouts are: {known}")


@functools.cache
def _generic() -> dict[str, str]:
    """normalised header word -> field."""
    words: dict[str, str] = {}
    for name, spellings in _data()["generic"].items():
        for word in spellings:
            words.setdefault(normalise(str(word)), str(name))
    return words


def detect(header: Sequence[str]) -> ColumnMap:
    """The known layout whose every column is in the header (the largest one), else generic
    words; columns outside the layout are still matched by the generic words."""
    normal = [normalise(h) for h in header]
    exact = {h.strip() for h in header}
    best: Layout | None = None
    best_score = (0, 0)
    for candidate in layouts():
        wanted = [normalise(h) for h, _f in candidate.columns]
        if not all(w in normal for w in wanted):
            continue
        # the most columns wins; between equal ones, the one spelled exactly as in the file
        score = (len(wanted), sum(1 for h, _f in candidate.columns if h in exact))
        if score > best_score:
            best, best_score = candidate, score
    by_header: dict[str, str] = {}
    if best is not None:
        by_header = {normalise(h): f for h, f in best.columns}
    name, title = (
        (best.id, best.title) if best else ("generic", "generic (matched by header words)")
    )
    return _apply(header, lambda n: by_header.get(n) or _generic().get(n), name, title, None)


def _apply(
    header: Sequence[str],
    field_of: Any,
    name: str,
    title: str,
    password_command: str | None,
) -> ColumnMap:
    fields: list[tuple[int, str, str]] = []
    ignored: list[tuple[int, str]] = []
    taken: set[str] = set()
    notes: list[str] = []
    for index, text in enumerate(header):
        target = field_of(normalise(text)) if text.strip() else None
        if target is None:
            ignored.append((index, text))
        elif target != "ignore" and target in taken:
            ignored.append((index, text))
            notes.append(f"column {index + 1} is a second {target} column; only the first is used")
        else:
            taken.add(target)
            fields.append((index, text, target))
    return ColumnMap(name, title, tuple(fields), tuple(ignored), password_command, tuple(notes))


def custom(
    header: Sequence[str],
    columns: Mapping[str, str],
    *,
    name: str = "custom",
    password_command: str | None = None,
) -> ColumnMap:
    """A mapping the user wrote (header -> field), applied to this header."""
    bad = [f for f in columns.values() if f not in FIELDS]
    if bad:
        raise MappingError(f"unknown field(s) {', '.join(bad)}; fields are: {', '.join(FIELDS)}")
    by_header = {normalise(h): f for h, f in columns.items()}
    return _apply(header, by_header.get, name, "corrected by hand", password_command)


def parse_lines(text: str) -> dict[str, str]:
    """`Header = field` lines (as the import dialog shows them) -> {header: field}."""
    columns: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        header, sep, name = line.rpartition("=")
        if not sep or not header.strip():
            raise MappingError(f"line {number}: write `Header = field`")
        columns[header.strip()] = name.strip()
    return columns


def mappings_dir() -> Path:
    env = os.environ.get(MAPPINGS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("mailconsole", appauthor=False)) / "mappings"


def _check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise MappingError(
            f"{name!r} is not a mapping name: use letters, digits, '-', '_' or '.' (up to 64)"
        )
    return name


def saved_names() -> tuple[str, ...]:
    folder = mappings_dir()
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.stem for p in folder.glob("*.toml") if NAME.fullmatch(p.stem)))


def named(name: str, header: Sequence[str]) -> ColumnMap:
    """A built-in layout by id, or a saved mapping by name, applied to this header."""
    if any(x.id == name for x in layouts()) and not (mappings_dir() / f"{name}.toml").exists():
        chosen = layout(name)
        by_header = {normalise(h): f for h, f in chosen.columns}
        return _apply(header, by_header.get, chosen.id, chosen.title, None)
    path = mappings_dir() / f"{_check_name(name)}.toml"
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        known = [x.id for x in layouts()] + list(saved_names())
        raise MappingError(f"no mapping named {name!r}; known: {', '.join(known)}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path}: cannot read this mapping ({exc})") from None
    columns = data.get("columns", {})
    if not isinstance(columns, dict):
        raise MappingError(f"{path}: [columns] must be a table of header = field")
    bad = [str(f) for f in columns.values() if f not in FIELDS]
    if bad:
        raise MappingError(
            f"{path}: unknown field(s) {', '.join(bad)}; fields are: {', '.join(FIELDS)}"
        )
    command = data.get("password_command")
    if command is not None and not isinstance(command, str):
        raise MappingError(f"{path}: password_command must be a string")
    by_header = {normalise(str(h)): str(f) for h, f in columns.items()}
    title = str(data.get("title", name))
    return _apply(header, by_header.get, name, title, command)


def save(
    name: str,
    column_map: ColumnMap | Mapping[str, str],
    *,
    title: str | None = None,
    password_command: str | None = None,
) -> Path:
    """Write `<mappings dir>/NAME.toml` (atomically); returns its path."""
    _check_name(name)
    columns = column_map.as_dict() if isinstance(column_map, ColumnMap) else dict(column_map)
    bad = [f for f in columns.values() if f not in FIELDS]
    if bad:
        raise MappingError(f"unknown field(s) {', '.join(bad)}; fields are: {', '.join(FIELDS)}")
    if isinstance(column_map, ColumnMap):
        password_command = password_command or column_map.password_command
    doc: dict[str, Any] = {"title": title or name}
    if password_command:
        doc["password_command"] = password_command
    doc["columns"] = columns
    folder = mappings_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomli_w.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)
    return path
