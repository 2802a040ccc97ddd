"""Read and validate the account file (DESIGN section 3).

Every problem becomes a ConfigIssue naming its account and dotted field, and the valid accounts
stay usable: one bad account never hides the other 300 (config_validate.py). Writing back lives in
config_write.py.
"""

from __future__ import annotations

import hashlib
import os
import re
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


def load_config(path: Path | str) -> LoadedConfig:
    """Read, parse and validate the account file; raises ConfigError subclasses only."""
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as f:
            data = f.read()
            stat = os.fstat(f.fileno())
    except FileNotFoundError:
        raise ConfigNotFoundError(path) from None
    except IsADirectoryError:
        raise ConfigUnreadableError(path, "is a folder, not an account file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigUnreadableError(path, f"cannot read the account file: {reason}") from None
    return parse_config(path, data, stat)


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
