"""The user's own keys: a `[keymap]` table in `keymap.toml` in the config folder (next to the
default account file), binding ids to keys, applied with Textual's `App.set_keymap`:

    [keymap]
    "table.edit" = "E"            # one key
    "table.retest" = "r,f5"       # several, comma separated
    "app.quit" = "ctrl+q"

The ids are the ones the help screen and `keys.py` use ("<area>.<what>"). An unknown id or a value
that is not a string is reported (with the closest known id) and skipped; the rest still applies.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from textual.binding import Binding
from textual.dom import DOMNode

FILE_NAME = "keymap.toml"
ENV_VAR = "MAILCONSOLE_KEYMAP"


def default_keymap_path() -> Path:
    """`$MAILCONSOLE_KEYMAP`, else `<user config dir>/mailconsole/keymap.toml`."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("mailconsole", appauthor=False)) / FILE_NAME


@dataclass(frozen=True)
class Keymap:
    keys: dict[str, str]
    problems: tuple[str, ...] = ()


def load_keymap(path: Path, known: Iterable[str]) -> Keymap:
    """The `[keymap]` of `path` (no file: an empty keymap); problems are messages, not errors."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Keymap({})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Keymap({}, (f"{path}: not read ({exc}); the default keys apply",))
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        return Keymap({}, (f"{path}: [keymap] must be a table of binding id = keys",))
    ids = sorted(set(known))
    keys: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in table.items():
        if binding_id not in ids:
            close = difflib.get_close_matches(binding_id, ids, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            problems.append(f"{path}: unknown key binding id {binding_id!r}{hint}; skipped")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f'{path}: {binding_id} must be keys as a string, like "ctrl+e"')
        else:
            keys[binding_id] = ",".join(k.strip() for k in value.split(",") if k.strip())
    return Keymap(keys, tuple(problems))


def binding_ids() -> set[str]:
    """Every binding id declared by the console's widgets, screens and app."""
    return {
        binding.id
        for cls in _subclasses(DOMNode)
        if cls.__module__.startswith("console.ui")
        for binding in _bindings(cls)
        if binding.id
    }


def _subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _bindings(cls: type) -> Iterator[Binding]:
    for item in cls.__dict__.get("BINDINGS", ()):
        if isinstance(item, Binding):
            yield item
