"""The Textual application: themes, remembered preferences, and the one main screen.

Everything the engine needs comes in through the constructor, so tests and the demo can run the
console against lab servers with in-memory secrets and never touch the real keyring.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.filter import LineFilter
from textual.screen import Screen

from console.core.config import ConfigError, LoadedConfig, load_config
from console.core.model import ServerSettings
from console.core.oauth.store import SignIns
from console.core.runner import Runner
from console.core.secrets import (
    SecretProvider,
    fetch_secret,
    kill_secret_commands,
    store_password,
)
from console.core.store import results_path
from console.ui.cells import Palette
from console.ui.checks import RunnerFactory
from console.ui.control_filter import ControlFilter
from console.ui.keymap import binding_ids, default_keymap_path, load_keymap
from console.ui.keys import MAIN_BINDINGS
from console.ui.prefs import Prefs, load_prefs, save_prefs
from console.ui.screens.help import FILTER_HELP, HelpScreen, binding_rows
from console.ui.screens.main import MainScreen
from console.ui.themes import (
    DEFAULT_THEME,
    default_theme_dirs,
    load_themes,
    monochrome_states,
    muted_style,
    state_styles,
    state_variable_defaults,
    theme_cycle,
)


class MailConsoleApp(App[None]):
    """mailconsole's TUI. Construct with the account file's path; everything else is optional."""

    TITLE = "mailconsole"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "q",
            "quit",
            "Quit",
            id="app.quit",
            tooltip="Quit at once (checks in flight are cancelled)",
        ),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="This list of keys"),
        Binding(
            "t",
            "cycle_theme",
            "Theme",
            id="app.theme",
            show=False,
            tooltip="Next theme (remembered; ctrl+p lists them all)",
        ),
    ]

    def __init__(
        self,
        config_path: Path,
        *,
        secrets: SecretProvider | None = None,
        store_secret: Callable[[ServerSettings, str], None] | None = None,
        check_on_start: bool = True,
        loaded: LoadedConfig | None = None,
        runner_factory: RunnerFactory | None = None,
        clock: Callable[[], datetime] | None = None,
        theme_dirs: Iterable[Path] | None = None,
        state_dir: Path | None = None,
        allowed_hosts: frozenset[str] | None = None,
        keymap_path: Path | None = None,
        results: Path | None = None,
        sign_ins: SignIns | None = None,
        enter_code: Callable[[str, str], None] | None = None,
    ) -> None:
        """
        Args:
            config_path: the account file (it may not exist yet: the console says so).
            secrets: where passwords come from; the keyring/password_command by default.
            store_secret: where a password typed in the edit pane goes; the keyring by default.
            check_on_start: check every account as soon as the console opens.
            loaded: an already loaded account file (skips reading `config_path` again).
            runner_factory: builds the Runner (tests pass one bound to a source address).
            clock: "now" for the relative times (snapshot tests freeze it).
            theme_dirs: folders of theme files; the bundled and user folders by default.
            state_dir: where the chosen theme is remembered (else $MAILCONSOLE_STATE_DIR or
                the user state dir).
            allowed_hosts: the only hosts "find settings" may probe (the demo: loopback).
            keymap_path: the user's keys (`[keymap]`); default `keymap.toml` in the config dir.
            results: the results store file; `results.sqlite3` in the state dir by default.
            sign_ins: where `L` keeps sign-ins (the demo: in memory); the keyring by default.
            enter_code: the demo's stand-in for the user entering a device code (email, code).
        """
        self._sign_ins = sign_ins
        self._enter_code = enter_code
        super().__init__()
        self.config_path = Path(config_path)
        self._secrets: SecretProvider = secrets or fetch_secret
        self._store_secret = store_secret or store_password
        self._check_on_start = check_on_start
        self._runner_factory: RunnerFactory = runner_factory or Runner
        self._clock = clock or (lambda: datetime.now(UTC))
        self._state_dir = state_dir
        self._allowed_hosts = allowed_hosts
        self._keymap_path = keymap_path
        self._keys: dict[str, str] = {}
        self._results = results if results is not None else results_path(folder=state_dir)
        self._prefs = load_prefs(state_dir)
        self._loaded = loaded
        self._load_error: str | None = None
        if loaded is None:
            try:
                self._loaded = load_config(self.config_path)
            except ConfigError as exc:
                self._load_error = str(exc)
        found = load_themes(theme_dirs if theme_dirs is not None else default_theme_dirs())
        self.theme_errors = found.errors
        self.exit_signal: int | None = None
        """The signal (SIGTERM, SIGHUP) that ended the console, if one did."""
        for theme in found.themes:
            self.register_theme(theme)
        wanted = self._prefs.theme
        if wanted and wanted in self.available_themes:
            self.theme = wanted
        elif DEFAULT_THEME in self.available_themes:
            self.theme = DEFAULT_THEME

    # -- themes -------------------------------------------------------------------------------

    _control_filter = ControlFilter()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then `ControlFilter` (no control byte from outside is written)."""
        return [*super().get_line_filters(), self._control_filter]

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """State colours for themes that do not name them (Textual's own), from their palette."""
        try:
            theme = self.get_theme(self.theme)
        except AttributeError:  # asked during App.__init__, before themes exist
            theme = None
        if theme is None:
            return state_variable_defaults({})
        return state_variable_defaults(theme.to_color_system().generate())

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        if self.no_color:  # NO_COLOR: greys ranked by severity (console/ui/themes.py)
            variables.update(monochrome_states(variables))
            self.theme_variables = variables
        return variables

    def state_palette(self) -> Palette:
        variables = self.theme_variables
        return Palette(states=state_styles(variables), muted=muted_style(variables))

    def watch_theme(self, theme: str) -> None:
        if theme != self._prefs.theme:
            self._prefs = Prefs(theme=theme)
            save_prefs(self._prefs, self._state_dir)

    def action_cycle_theme(self) -> None:
        names = theme_cycle(self.available_themes)
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"Theme: {self.theme}", timeout=2, markup=False)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name in theme_cycle(self.available_themes):
            if name.startswith("mailconsole-"):
                yield SystemCommand(
                    f"Theme: {name}",
                    f"Switch to the {name} theme (remembered)",
                    lambda name=name: setattr(self, "theme", name),
                )

    # -- screens ------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        if self._load_error is not None and self._loaded is None:
            error = self._load_error
            if not self.config_path.exists():
                error = (
                    f"No account file yet.\n\nmailconsole looks for it at:\n  {self.config_path}"
                    "\n\nTo start:\n"
                    "  a  add the first account (the file is created for you)\n"
                    "  c  copy the documented example (accounts.example.toml) there and edit it\n"
                    "  D  try the demo: scripted servers on 127.0.0.1, no credentials needed\n"
                    "\nOr start mailconsole with --config PATH to open another file."
                )
        else:
            error = None
        return MainScreen(
            path=self.config_path,
            loaded=self._loaded,
            load_error=error,
            secrets=self._secrets,
            store_secret=self._store_secret,
            runner_factory=self._runner_factory,
            clock=self._clock,
            check_on_start=self._check_on_start,
            allowed_hosts=self._allowed_hosts,
            results=self._results,
            sign_ins=self._sign_ins,
            enter_code=self._enter_code,
        )

    def on_mount(self) -> None:
        self._handle_signals()
        for error in self.theme_errors:
            self.notify(error, title="Theme file skipped", severity="warning", markup=False)
        keymap = load_keymap(self._keymap_path or default_keymap_path(), binding_ids())
        self._keys = keymap.keys
        if keymap.keys:
            self.set_keymap(keymap.keys)
        for problem in keymap.problems:
            self.notify(problem, title="Keymap", severity="warning", markup=False, timeout=10)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return

        def keys(key: str) -> str:
            return self.get_key_display(Binding(key, ""))

        main = [replace(b, key=self._keys.get(b.id or "", b.key)) for b in MAIN_BINDINGS]
        own = [
            replace(b, key=self._keys.get(b.id or "", b.key))
            for b in self.BINDINGS
            if isinstance(b, Binding)
        ]
        sections = [
            (
                "Accounts table",
                binding_rows([b for b in main if (b.id or "").startswith("table.")], keys),
            ),
            (
                "Editing an account's IMAP and SMTP settings (in the detail pane)",
                binding_rows([b for b in main if (b.id or "").startswith("editor.")], keys),
            ),
            (
                "First run (no account file yet)",
                binding_rows([b for b in main if (b.id or "").startswith("first-run.")], keys),
            ),
            (
                "Anywhere",
                [
                    *binding_rows(own, keys),
                    ("ctrl+p", "Command palette (themes, keys, quit)"),
                ],
            ),
            ("Filter syntax (after /)", list(FILTER_HELP)),
        ]
        self.push_screen(HelpScreen(sections))

    def _quit_on_signal(self, signum: int) -> None:
        """SIGTERM or SIGHUP (an SSH drop closes the pty): quit as `q` does, after killing the
        running secret commands, so that none outlives the console."""
        self.exit_signal = signum
        kill_secret_commands()
        self.call_later(self.action_quit)

    def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._quit_on_signal, signum)

    async def action_quit(self) -> None:
        """Immediately, even with hundreds of checks in flight: they are cancelled, not awaited."""
        screen = self.screen_stack[0] if self.screen_stack else None
        if isinstance(screen, MainScreen):
            screen.scheduler.cancel_all()
        self.exit()
