"""Themes as data: TOML files become Textual `Theme`s; state colours are theme variables.

The shipped files live in `themes/` at the repository top (reached through the `console/ui/themes`
link, which is what a wheel carries); users may drop more files in `<user config dir>/themes`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from rich.color import Color as RichColor
from rich.style import Style
from textual.color import BLACK, WHITE, Color, ColorParseError
from textual.theme import Theme

from console.core.model import State

DEFAULT_THEME = "mailconsole-dark"
BUNDLED_THEMES_DIR = Path(__file__).parent / "themes"
_CHECKOUT_THEMES_DIR = Path(__file__).resolve().parents[2] / "themes"

STATE_VARIABLES: Mapping[State, str] = {state: f"state-{state.value}" for state in State}
"""The theme variable that colours each state: `$state-connected`, `$state-conditional`, ..."""

_STATE_FALLBACKS: Mapping[State, str] = {
    State.CONNECTED: "text-success",
    State.CONDITIONAL: "text-warning",
    State.DISCONNECTED: "text-error",
    State.CHECKING: "text-primary",
    State.UNCHECKED: "foreground-muted",
}
"""The generated Textual variable used when a theme (a built-in, say) has no state colours."""

_COLOUR_KEYS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_FLOAT_KEYS = ("luminosity_spread", "text_alpha")


class ThemeFileError(Exception):
    """A theme file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class ThemeLoad:
    themes: tuple[Theme, ...]
    errors: tuple[str, ...]


def default_theme_dirs() -> tuple[Path, ...]:
    """Bundled themes first, then the user's own (which may override a bundled name)."""
    bundled = BUNDLED_THEMES_DIR if BUNDLED_THEMES_DIR.is_dir() else _CHECKOUT_THEMES_DIR
    user = Path(platformdirs.user_config_dir("mailconsole")) / "themes"
    return (bundled, user)


def _colour(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{path}: {key} must be a colour: hex, rgb(...) or a colour name")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{path}: {key} = {value!r} is not a colour") from None
    return value


def theme_from_mapping(data: Mapping[str, object], path: Path) -> Theme:
    """Validate one parsed theme file; every complaint names the file and the key."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{path}: `name` is required (a string)")
    if "primary" not in data:
        raise ThemeFileError(f"{path}: `primary` is required")
    known = {"name", "dark", "variables", *_COLOUR_KEYS, *_FLOAT_KEYS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ThemeFileError(f"{path}: unknown key(s) {', '.join(unknown)}")
    colours = {key: _colour(path, key, data[key]) for key in _COLOUR_KEYS if key in data}
    floats: dict[str, float] = {}
    for key in _FLOAT_KEYS:
        if key in data:
            value = data[key]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ThemeFileError(f"{path}: {key} must be a number")
            floats[key] = float(value)
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{path}: dark must be true or false")
    raw_variables = data.get("variables", {})
    if not isinstance(raw_variables, dict):
        raise ThemeFileError(f"{path}: [variables] must be a table")
    variables = {str(k): _colour(path, f"variables.{k}", v) for k, v in raw_variables.items()}
    options: dict[str, Any] = {**colours, **floats}
    return Theme(name=name.strip(), dark=dark, variables=variables, **options)


def load_theme_file(path: Path) -> Theme:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ThemeFileError(f"{path}: {exc.strerror or exc}") from None
    return theme_from_mapping(data, path)


def load_themes(dirs: Iterable[Path]) -> ThemeLoad:
    """Every `*.toml` in the given folders; a broken file is reported, never fatal."""
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                errors.append(str(exc))
                continue
            themes[theme.name] = theme
    return ThemeLoad(tuple(themes.values()), tuple(errors))


def state_variable_defaults(generated: Mapping[str, str]) -> dict[str, str]:
    """State colours for themes that do not define them, taken from the theme's own palette."""
    defaults: dict[str, str] = {}
    for state, variable in STATE_VARIABLES.items():
        value = generated.get(_STATE_FALLBACKS[state], "")
        defaults[variable] = _solid(value, generated.get("background", "")) or "ansi_default"
    return defaults


_MONOCHROME_SHARE: Mapping[State, float] = {
    State.DISCONNECTED: 1.0,
    State.CONDITIONAL: 0.85,
    State.CHECKING: 0.75,
    State.CONNECTED: 0.62,
    State.UNCHECKED: 0.5,
}
"""Under NO_COLOR, how far each state's grey is from the background towards the foreground."""


def monochrome_states(variables: Mapping[str, str]) -> dict[str, str]:
    """State colours for NO_COLOR: Textual then shows every colour as its luminance, which made
    red "disconnected" the dimmest text of all; these greys rank the states by severity instead
    (the worst has the most contrast with the background, on dark and light themes alike)."""
    solid_background = _solid(variables.get("background", ""), "")
    background = Color.parse(solid_background) if solid_background else BLACK
    solid_foreground = _solid(variables.get("foreground", ""), variables.get("background", ""))
    if solid_foreground:
        foreground = Color.parse(solid_foreground)
    else:
        foreground = BLACK if background.brightness > 0.5 else WHITE
    return {
        STATE_VARIABLES[state]: background.blend(foreground, share).hex
        for state, share in _MONOCHROME_SHARE.items()
    }


def _solid(value: str, background: str) -> str | None:
    """A colour CSS and Rich both accept: alpha blended over the background, `auto` refused."""
    value = value.strip()
    if not value or value.startswith("auto"):
        return None
    base, _, percent = value.partition(" ")
    try:
        colour = Color.parse(base)
    except ColorParseError:
        return None
    alpha = colour.a
    if percent.endswith("%"):
        try:
            alpha *= float(percent[:-1]) / 100
        except ValueError:
            return None
    if colour.ansi is not None:
        return base
    if alpha < 1:
        try:
            colour = Color.parse(background).blend(colour.with_alpha(1), alpha)
        except ColorParseError:
            colour = colour.with_alpha(1)
    return colour.hex6


def state_styles(variables: Mapping[str, str]) -> dict[State, Style]:
    """Rich styles for DataTable cells, resolved from the active theme's variables."""
    background = variables.get("background", "")
    styles: dict[State, Style] = {}
    for state, variable in STATE_VARIABLES.items():
        solid = _solid(variables.get(variable, ""), background)
        colour: RichColor | None = None
        if solid is not None:
            try:
                colour = Color.parse(solid).rich_color
            except ColorParseError:
                colour = None
        styles[state] = Style(color=colour, bold=state is State.DISCONNECTED)
    return styles


def muted_style(variables: Mapping[str, str]) -> Style:
    solid = _solid(variables.get("foreground-muted", ""), variables.get("background", ""))
    return Style(color=Color.parse(solid).rich_color) if solid else Style(dim=True)


def theme_cycle(available: Iterable[str]) -> list[str]:
    """The order `t` walks through: ours first, then Textual's built-ins alphabetically."""
    names = sorted(set(available))
    ours = [n for n in names if n.startswith("mailconsole-")]
    ours.sort(key=lambda n: (n != DEFAULT_THEME, n))
    return ours + [n for n in names if n not in ours]
