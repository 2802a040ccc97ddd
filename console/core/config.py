"""Read and validate the account file (DESIGN section 3).

Every problem becomes a ConfigIssue naming its account and dotted field, and the valid accounts
stay usable: one bad account never hides the other 300 (config_validate.py). Writing back lives in
config_write.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat as _stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from console.core.config_validate import is_secret_key, secret_locations, validate
from console.core.model import Account, ConfigIssue, Settings

ENV_VAR = "MAILCONSOLE_CONFIG"
APP_NAME = "mailconsole"
FILE_NAME = "accounts.toml"


class ConfigError(Exception):
    """Base of every account-file error; the message says what went wrong, where, and what to do."""

    def __init__(self, path: Path | None, message: str) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = path
        self.message = message


class ConfigNotFoundError(ConfigError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            path,
            "no account file here. Create it (accounts.example.toml documents every option), "
            f"or point to one with --config PATH or ${ENV_VAR}.",
        )


class ConfigUnreadableError(ConfigError):
    """The file exists but cannot be read (permissions, a directory, an I/O error)."""


class ConfigSyntaxError(ConfigError):
    """Malformed TOML; str is `path:line:col: message` so editors can jump to it."""

    def __init__(self, path: Path, line: int, column: int, message: str) -> None:
        Exception.__init__(self, f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message


# ---------------------------------------------------------------------------------------------
# Paths, fingerprint, the loaded file


def default_config_path() -> Path:
    """`$MAILCONSOLE_CONFIG`, else `<user config dir>/mailconsole/accounts.toml`."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / FILE_NAME


@dataclass(frozen=True)
class Fingerprint:
    """The file as read: content hash (the real test for changes) plus size and mtime."""

    sha256: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, data: bytes, stat: os.stat_result) -> Fingerprint:
        return cls(hashlib.sha256(data).hexdigest(), stat.st_size, stat.st_mtime_ns)

    def matches(self, data: bytes) -> bool:
        return hashlib.sha256(data).hexdigest() == self.sha256


@dataclass(frozen=True)
class LoadedConfig:
    """A parsed, validated account file, with the bytes it was read from (for write-back)."""

    path: Path
    settings: Settings
    accounts: tuple[Account, ...]
    issues: tuple[ConfigIssue, ...]
    data: bytes = field(repr=False)
    fingerprint: Fingerprint

    @property
    def raw(self) -> dict[str, Any]:
        """The TOML as read, parsed anew on each use: edits start from a fresh copy, and a large
        file's document is not held for the whole session (it is several times the file's size)."""
        return parse_toml(self.path, self.data)

    def account(self, email: str) -> Account | None:
        key = email.casefold()
        return next((a for a in self.accounts if a.email.casefold() == key), None)


MAX_CONFIG_BYTES = 64 * 1024 * 1024
"""The largest account file read (64 MiB: about 150,000 accounts); a larger one is refused."""

MAX_NESTING = 64
"""Where a file nested so deeply that tomllib ran out of recursion is reported: the first place
nesting passes this depth (no real account file comes near it)."""


def load_config(path: Path | str) -> LoadedConfig:
    """Read, parse and validate the account file; raises ConfigError subclasses only.

    Only a regular file is read (a FIFO would block, a device could be endless), and only up to
    `MAX_CONFIG_BYTES`.
    """
    path = Path(path).expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigNotFoundError(path) from None
    except IsADirectoryError:
        raise ConfigUnreadableError(path, "is a folder, not an account file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigUnreadableError(path, f"cannot read the account file: {reason}") from None
    try:
        stat = os.fstat(fd)
        if _stat.S_ISDIR(stat.st_mode):
            raise ConfigUnreadableError(path, "is a folder, not an account file")
        if not _stat.S_ISREG(stat.st_mode):
            raise ConfigUnreadableError(
                path, "is not a regular file (a pipe or a device); give the account file itself"
            )
        if stat.st_size > MAX_CONFIG_BYTES:
            raise ConfigUnreadableError(path, _too_large(stat.st_size))
        with open(fd, "rb", closefd=False) as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigUnreadableError(path, f"cannot read the account file: {reason}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:  # it grew while being read
        raise ConfigUnreadableError(path, _too_large(len(data)))
    return parse_config(path, data, stat)


def _too_large(size: int) -> str:
    return (
        f"is {size / 2**20:.0f} MiB; account files are read up to "
        f"{MAX_CONFIG_BYTES // 2**20} MiB (split the accounts over several files)"
    )


def parse_config(
    path: Path, data: bytes, stat: os.stat_result, raw: dict[str, Any] | None = None
) -> LoadedConfig:
    """Build a LoadedConfig from bytes already read (and parsed, when `raw` is given)."""
    if raw is None:
        raw = parse_toml(path, data)
    settings, accounts, issues = validate(raw, base_dir=path.parent)
    return LoadedConfig(path, settings, accounts, issues, data, Fingerprint.of(data, stat))


_TOML_POSITION = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", re.S)
_TOML_AT_END = re.compile(r"^(?P<msg>.*) \(at end of document\)$", re.S)


def parse_toml(path: Path, data: bytes) -> dict[str, Any]:
    """tomllib with errors turned into `path:line:col: message` (ConfigSyntaxError)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _position(data[: exc.start].decode("utf-8", "replace"))
        raise ConfigSyntaxError(path, line, col, "not valid UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nested array or inline table
        line, col = _too_deep(text) or (1, 1)
        raise ConfigSyntaxError(
            path, line, col, f"arrays or tables nested too deeply (keep below {MAX_NESTING} levels)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        text_of_error = str(exc)
        if m := _TOML_POSITION.match(text_of_error):
            line, col = int(m["line"]), int(m["col"])
            message = m["msg"]
        elif m := _TOML_AT_END.match(text_of_error):
            line, col = _position(text)
            message = f"{m['msg']} (at end of file)"
        else:
            line, col, message = 1, 1, text_of_error
        raise ConfigSyntaxError(path, line, col, message) from None


_NESTING = re.compile(r"""[\[\]{}"'#]""")


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where `[`/`{` nesting first passes MAX_NESTING (strings and comments skipped), or None.

    A scan, not a parser: quotes are matched naively, which only errs towards reporting nothing
    (tomllib then catches what is left)."""
    depth = 0
    pos = 0
    while m := _NESTING.search(text, pos):
        char, pos = m.group(), m.end()
        if char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return _position(text[: m.start()])
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif char in "\"'":
            end = text.find(char, pos)
            while end > 0 and char == '"' and text[end - 1] == "\\":
                end = text.find(char, end + 1)
            pos = len(text) if end < 0 else end + 1
    return None


def _position(text_before: str) -> tuple[int, int]:
    """1-based line and column just after `text_before`."""
    line = text_before.count("\n") + 1
    return line, len(text_before) - (text_before.rfind("\n") + 1) + 1


__all__ = [
    "ConfigError",
    "ConfigNotFoundError",
    "ConfigSyntaxError",
    "ConfigUnreadableError",
    "Fingerprint",
    "LoadedConfig",
    "default_config_path",
    "is_secret_key",
    "load_config",
    "parse_config",
    "parse_toml",
    "secret_locations",
    "validate",
]
