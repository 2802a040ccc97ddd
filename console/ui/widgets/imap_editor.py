"""Edit one account's IMAP settings inside the detail pane; the table stays where it is.

The editor only gathers and checks values; saving and testing are the screen's job (it owns
the workers and the account file). The password field is masked and its value is handed over
only when the user tests or saves, never kept anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from console.core.model import Security
from console.ui.edits import ImapForm, validate

MismatchCheck = Callable[[int, Security], str | None]
"""(port, security) -> a warning when they do not belong together, else None."""


@dataclass(frozen=True)
class Preset:
    """One provider's recommended IMAP server, as the preset list offers it."""

    id: str
    name: str
    host: str
    port: int
    security: Security
    username: str | None = None
    """The login for this account at that provider, when it can be derived from the address."""


_SECURITY_OPTIONS = [
    (Text("tls (implicit TLS)"), Security.TLS.value),
    (Text("starttls (upgrade)"), Security.STARTTLS.value),
    (Text("none (no encryption)"), Security.NONE.value),
]


class ImapEditor(Vertical):
    """The form. Posts `ImapEditor.Submitted` for test/save and `Cancelled` for esc."""

    DEFAULT_CSS = """
    ImapEditor {
        height: auto;
        padding: 0 1;
    }
    ImapEditor .row {
        height: auto;
    }
    ImapEditor .row > Label {
        width: 15;
        padding: 0 1 0 0;
        color: $text-muted;
    }
    ImapEditor .row > Input, ImapEditor .row > Select {
        width: 1fr;
    }
    ImapEditor .error {
        color: $text-error;
        padding: 0 0 0 15;
        height: auto;
        display: none;
    }
    ImapEditor .error.-shown {
        display: block;
    }
    ImapEditor #mismatch {
        color: $text-warning;
        padding: 0 0 0 15;
        height: auto;
        display: none;
    }
    ImapEditor #mismatch.-shown {
        display: block;
    }
    ImapEditor #editor-title {
        text-style: bold;
        color: $text-accent;
    }
    ImapEditor #editor-note {
        color: $text-muted;
    }
    ImapEditor #buttons {
        height: auto;
        margin: 1 0 0 0;
    }
    ImapEditor #buttons Button {
        margin: 0 1 0 0;
        min-width: 12;
    }
    """

    @dataclass
    class Submitted(Message):
        """The user asked to test (`save=False`) or save (`save=True`) the form's values."""

        editor: ImapEditor
        save: bool

    @dataclass
    class Cancelled(Message):
        editor: ImapEditor

    def __init__(
        self,
        email: str,
        form: ImapForm,
        *,
        presets: Sequence[Preset] = (),
        mismatch: MismatchCheck | None = None,
        password_note: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.email = email
        self._initial = form
        self._presets = {p.id: p for p in presets}
        self._mismatch = mismatch
        self._password_note = password_note

    def compose(self) -> ComposeResult:
        form = self._initial
        yield Static(Content(f"Edit IMAP settings · {self.email}"), id="editor-title")
        yield Static(
            Content("ctrl+t tests these values · ctrl+s saves and re-tests · esc cancels"),
            id="editor-note",
        )
        if self._presets:
            options = [(Text(p.name), p.id) for p in self._presets.values()]
            with Horizontal(classes="row"):
                yield Label("Preset")
                yield Select(options, prompt="fill from a provider…", id="preset", compact=True)
        yield from self._field("host", "Host", Input(form.host, id="host", compact=True))
        yield from self._field(
            "port", "Port", Input(form.port, id="port", type="integer", compact=True)
        )
        yield from self._field(
            "security",
            "Security",
            Select(
                _SECURITY_OPTIONS,
                value=form.security or Security.TLS.value,
                allow_blank=False,
                id="security",
                compact=True,
            ),
        )
        yield Static(Content(""), id="mismatch")
        yield from self._field(
            "username", "Username", Input(form.username, id="username", compact=True)
        )
        password = Input(
            "",
            id="password",
            password=True,
            compact=True,
            placeholder="empty: keep the stored password",
            disabled=self._password_note is not None,
        )
        yield from self._field("password", "Password", password)
        if self._password_note:
            yield Static(Content(self._password_note), classes="error -shown")
        yield from self._field(
            "mailbox", "Mailbox", Input(form.mailbox, id="mailbox", compact=True)
        )
        yield from self._field(
            "reply_address",
            "Reply address",
            Input(
                form.reply_address,
                id="reply_address",
                compact=True,
                placeholder="empty: replies come to the From address",
            ),
        )
        with Horizontal(id="buttons"):
            yield Button("Test ^t", id="test", compact=True)
            yield Button("Save ^s", id="save", variant="primary", compact=True)
            yield Button("Cancel esc", id="cancel", compact=True)

    def _field(self, key: str, label: str, widget: Input | Select[str]) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(label)
            yield widget
        yield Static(Content(""), id=f"error-{key}", classes="error")

    def on_mount(self) -> None:
        self._check_mismatch()
        self.screen.set_focus(self.query_one("#host", Input))  # now, not after queued keys

    # -- values -------------------------------------------------------------------------------

    def values(self) -> ImapForm:
        security = self.query_one("#security", Select).value
        return ImapForm(
            host=self.query_one("#host", Input).value,
            port=self.query_one("#port", Input).value,
            security=security if isinstance(security, str) else "",
            username=self.query_one("#username", Input).value,
            password=self.query_one("#password", Input).value,
            mailbox=self.query_one("#mailbox", Input).value,
            reply_address=self.query_one("#reply_address", Input).value,
        )

    def show_errors(self, errors: dict[str, str]) -> None:
        """Each message next to its field; fields without one are cleared."""
        for key in ("host", "port", "security", "username", "password", "mailbox", "reply_address"):
            label = self.query_one(f"#error-{key}", Static)
            message = errors.get(key, "")
            label.update(Content(message))
            label.set_class(bool(message), "-shown")

    def validated(self) -> ImapForm | None:
        form = self.values()
        errors = validate(form)
        self.show_errors(errors)
        if errors:
            first = next(iter(errors))
            self.query_one(f"#{first}").focus()
            return None
        return form

    def apply_fix(self, changes: Mapping[str, object]) -> None:
        """Put what discovery found (host, port, security) into the form, unsaved."""
        if "host" in changes:
            self.query_one("#host", Input).value = str(changes["host"])
        if "port" in changes:
            self.query_one("#port", Input).value = str(changes["port"])
        if "security" in changes:
            self.query_one("#security", Select).value = str(changes["security"])

    def clear_password(self) -> None:
        self.query_one("#password", Input).value = ""

    # -- reactions ----------------------------------------------------------------------------

    @on(Input.Changed, "#port")
    @on(Select.Changed, "#security")
    def _check_mismatch(self) -> None:
        note = ""
        port_text = self.query_one("#port", Input).value.strip()
        security = self.query_one("#security", Select).value
        if self._mismatch is not None and port_text.isdigit() and isinstance(security, str):
            note = self._mismatch(int(port_text), Security(security)) or ""
        mismatch = self.query_one("#mismatch", Static)
        mismatch.update(Content(f"⚠ {note}" if note else ""))
        mismatch.set_class(bool(note), "-shown")

    @on(Input.Changed)
    def _clear_error(self, event: Input.Changed) -> None:
        if event.input.id:
            label = self.query_one_optional(f"#error-{event.input.id}", Static)
            if label is not None and label.has_class("-shown"):
                label.update(Content(""))
                label.remove_class("-shown")

    @on(Select.Changed, "#preset")
    def _fill_preset(self, event: Select.Changed) -> None:
        preset = self._presets.get(str(event.value)) if event.value is not Select.NULL else None
        if preset is None:
            return
        self.query_one("#host", Input).value = preset.host
        self.query_one("#port", Input).value = str(preset.port)
        self.query_one("#security", Select).value = preset.security.value
        if preset.username:
            self.query_one("#username", Input).value = preset.username
        self.query_one("#host", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted(self, save=False))

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.post_message(self.Cancelled(self))
        else:
            self.post_message(self.Submitted(self, save=event.button.id == "save"))
