"""Edit one account's servers inside the detail pane: IMAP (where replies are read) and SMTP
(sending), one section each; the table stays where it is.

The editor only gathers and checks values; saving and testing are the screen's job (it owns
the workers and the account file). The password fields are masked and their values are handed
over only when the user tests or saves, never kept anywhere else. IMAP fields have the ids
`host`, `port`, ...; SMTP fields `smtp-host`, `smtp-port`, ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from console.core.model import Protocol, Security
from console.ui.edits import ImapForm, SmtpForm, username_warnings, validate, validate_smtp

MismatchCheck = Callable[[int, Security, Protocol], str | None]
"""(port, security, protocol) -> a warning when they do not belong together, else None."""


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
    smtp: Preset | None = None
    """The same provider's SMTP server, filled into the SMTP section with the IMAP one."""


_SECURITY_OPTIONS = [
    (Text("tls (implicit TLS)"), Security.TLS.value),
    (Text("starttls (upgrade)"), Security.STARTTLS.value),
    (Text("none (no encryption)"), Security.NONE.value),
]


def _input(value: str, **options: Any) -> Input:
    """A compact field that keeps its text when focused (no select-all that a typed-ahead key
    would replace) and puts the cursor at the end."""
    return Input(value, compact=True, select_on_focus=False, **options)


class AccountEditor(Vertical):
    """The form. Posts `Submitted` for test/save (button, Enter in a field) and `Cancelled`."""

    DEFAULT_CSS = """
    AccountEditor {
        height: auto;
        padding: 0 1;
    }
    AccountEditor .row {
        height: auto;
    }
    AccountEditor .row > Label {
        width: 15;
        padding: 0 1 0 0;
        color: $text-muted;
    }
    AccountEditor .row > Input, AccountEditor .row > Select {
        width: 1fr;
    }
    AccountEditor .error, AccountEditor .warning {
        padding: 0 0 0 15;
        height: auto;
        display: none;
    }
    AccountEditor .error {
        color: $text-error;
    }
    AccountEditor .warning {
        color: $text-warning;
    }
    AccountEditor .-shown {
        display: block;
    }
    AccountEditor .section {
        text-style: bold;
        color: $text-accent;
        margin: 1 0 0 0;
    }
    AccountEditor .section.-first {
        margin: 0;
    }
    AccountEditor #buttons {
        height: auto;
        margin: 1 0 0 0;
    }
    AccountEditor #buttons Button {
        margin: 0 1 0 0;
        min-width: 12;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the focus moves as the key is read, so keys typed right behind a tab (a burst
        # over SSH) go to the next field, not to the one the tab left
        Binding("tab", "move_focus(1)", show=False, priority=True),
        Binding("shift+tab", "move_focus(-1)", show=False, priority=True),
    ]

    @dataclass
    class Submitted(Message):
        """The user asked to test (`save=False`) or save (`save=True`) the form's values."""

        editor: AccountEditor
        save: bool

    @dataclass
    class Cancelled(Message):
        editor: AccountEditor

    def __init__(
        self,
        email: str,
        form: ImapForm | None,
        smtp: SmtpForm | None = None,
        *,
        presets: Sequence[Preset] = (),
        mismatch: MismatchCheck | None = None,
        password_note: str | None = None,
        smtp_password_note: str | None = None,
        id: str | None = None,
    ) -> None:
        """`form` None: no IMAP section (a send-only account); `smtp` None: no SMTP section."""
        super().__init__(id=id)
        self.email = email
        self._initial = form
        self._smtp = smtp
        self._presets = {p.id: p for p in presets}
        self._mismatch = mismatch
        self._notes = {Protocol.IMAP: password_note, Protocol.SMTP: smtp_password_note}
        self._accepted_warnings: dict[str, str] = {}
        self.ready = asyncio.Event()
        """Set once the form is laid out and painted: keys typed ahead can go in from then on."""

    @property
    def protocols(self) -> tuple[Protocol, ...]:
        """The servers this form edits, in the order shown."""
        shown = (Protocol.IMAP, self._initial), (Protocol.SMTP, self._smtp)
        return tuple(p for p, form in shown if form is not None)

    def compose(self) -> ComposeResult:
        first = True
        if self._initial is not None:
            yield Static(Content("IMAP · where replies are read"), classes="section -first")
            first = False
            yield from self._imap(self._initial)
        if self._smtp is not None:
            classes = "section -first" if first else "section"
            yield Static(Content("SMTP · sending"), classes=classes)
            yield from self._server(Protocol.SMTP, "smtp-", self._smtp)
        with Horizontal(id="buttons"):
            yield Button("Test ^t", id="test")
            yield Button("Save ^s", id="save", variant="primary")
            yield Button("Cancel esc", id="cancel")

    def _imap(self, form: ImapForm) -> ComposeResult:
        if self._presets:
            options = [(Text(p.name), p.id) for p in self._presets.values()]
            with Horizontal(classes="row"):
                yield Label("Preset")
                yield Select(options, prompt="fill from a provider…", id="preset")
        yield from self._server(Protocol.IMAP, "", form)
        yield from self._field("mailbox", "Mailbox", _input(form.mailbox, id="mailbox"))
        yield from self._field(
            "reply_address",
            "Reply address",
            _input(
                form.reply_address,
                id="reply_address",
                placeholder="empty: replies come to the From address",
            ),
        )

    def _server(self, protocol: Protocol, prefix: str, form: ImapForm | SmtpForm) -> ComposeResult:
        yield from self._field("host", "Host", _input(form.host, id=f"{prefix}host"), prefix)
        yield from self._field(
            "port",
            "Port",
            _input(form.port, id=f"{prefix}port", type="integer"),
            prefix,
        )
        yield from self._field(
            "security",
            "Security",
            Select(
                _SECURITY_OPTIONS,
                value=form.security or Security.TLS.value,
                allow_blank=False,
                id=f"{prefix}security",
            ),
            prefix,
        )
        yield Static(Content(""), id=f"{prefix}mismatch", classes="warning")
        yield from self._field(
            "username",
            "Username",
            _input(form.username, id=f"{prefix}username"),
            prefix,
        )
        note = self._notes[protocol]
        password = _input(
            "",
            id=f"{prefix}password",
            password=True,
            placeholder="empty: keep the stored password",
            disabled=note is not None,
        )
        yield from self._field("password", "Password", password, prefix)
        if note:
            yield Static(Content(note), classes="error -shown")

    def _field(
        self, key: str, label: str, widget: Input | Select[str], prefix: str = ""
    ) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(label)
            yield widget
        yield Static(Content(""), id=f"error-{prefix}{key}", classes="error")
        yield Static(Content(""), id=f"warning-{prefix}{key}", classes="warning")

    def on_mount(self) -> None:
        self._check_mismatch()
        first = "#host" if self._initial is not None else "#smtp-host"
        self.screen.set_focus(self.query_one(first, Input))  # now, not after queued keys
        self.call_after_refresh(self.ready.set)

    def action_move_focus(self, step: int) -> None:
        if step > 0:
            self.screen.focus_next()
        else:
            self.screen.focus_previous()

    # -- values -------------------------------------------------------------------------------

    def _text(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def _security(self, selector: str) -> str:
        value = self.query_one(selector, Select).value
        return value if isinstance(value, str) else ""

    def values(self) -> ImapForm:
        """The IMAP part (as the account has it when there is no IMAP section)."""
        if self._initial is None:
            return ImapForm()
        return ImapForm(
            host=self._text("#host"),
            port=self._text("#port"),
            security=self._security("#security"),
            username=self._text("#username"),
            password=self._text("#password"),
            mailbox=self._text("#mailbox"),
            reply_address=self._text("#reply_address"),
        )

    def smtp_values(self) -> SmtpForm | None:
        if self._smtp is None:
            return None
        return SmtpForm(
            host=self._text("#smtp-host"),
            port=self._text("#smtp-port"),
            security=self._security("#smtp-security"),
            username=self._text("#smtp-username"),
            password=self._text("#smtp-password"),
        )

    def show_errors(self, errors: dict[str, str], warnings: dict[str, str] | None = None) -> None:
        """Each message next to its field (keys as the field ids); others are cleared."""
        for label in self.query(".error"):
            if label.id and label.id.startswith("error-"):
                self._say(label, errors.get(label.id.removeprefix("error-"), ""))
        for label in self.query(".warning"):
            if label.id and label.id.startswith("warning-"):
                self._say(label, (warnings or {}).get(label.id.removeprefix("warning-"), ""))

    @staticmethod
    def _say(label: Widget, message: str) -> None:
        if isinstance(label, Static):
            label.update(Content(message))
            label.set_class(bool(message), "-shown")

    def validated(self, *, saving: bool = False) -> tuple[ImapForm, SmtpForm | None] | None:
        """The form's values when they can be used; else messages next to the fields and None.

        When saving, a username with a space is a warning: the first save stops on it, a second
        save with the same value goes ahead."""
        form, smtp = self.values(), self.smtp_values()
        errors: dict[str, str] = dict(validate(form)) if self._initial is not None else {}
        if smtp is not None:
            errors.update({f"smtp-{k}": v for k, v in validate_smtp(smtp).items()})
        pairs = [("username", form.username)] if self._initial is not None else []
        if smtp is not None:
            pairs.append(("smtp-username", smtp.username))
        warnings = username_warnings(*pairs)
        self.show_errors(errors, warnings)
        if errors:
            self.query_one(f"#{next(iter(errors))}").focus()
            return None
        fresh = [k for k in warnings if self._accepted_warnings.get(k) != self._text(f"#{k}")]
        if saving and fresh:
            for key in fresh:  # the value the user was warned about: saving it again is a yes
                self._accepted_warnings[key] = self._text(f"#{key}")
            self.query_one(f"#{fresh[0]}").focus()
            return None
        return form, smtp

    def apply_fix(self, changes: Mapping[str, object]) -> None:
        """Put what discovery found (host, port, security) into the IMAP part, unsaved."""
        if self._initial is None:
            return
        if "host" in changes:
            self.query_one("#host", Input).value = str(changes["host"])
        if "port" in changes:
            self.query_one("#port", Input).value = str(changes["port"])
        if "security" in changes:
            self.query_one("#security", Select).value = str(changes["security"])

    def clear_password(self) -> None:
        for field in self.query("#password, #smtp-password"):
            if isinstance(field, Input):
                field.value = ""

    # -- reactions ----------------------------------------------------------------------------

    @on(Input.Changed, "#port, #smtp-port")
    @on(Select.Changed, "#security, #smtp-security")
    def _check_mismatch(self) -> None:
        for protocol, prefix in ((Protocol.IMAP, ""), (Protocol.SMTP, "smtp-")):
            if protocol not in self.protocols:
                continue
            note = ""
            port_text = self._text(f"#{prefix}port").strip()
            security = self.query_one(f"#{prefix}security", Select).value
            if self._mismatch is not None and port_text.isdigit() and isinstance(security, str):
                note = self._mismatch(int(port_text), Security(security), protocol) or ""
            self._say(self.query_one(f"#{prefix}mismatch", Static), f"⚠ {note}" if note else "")

    @on(Input.Changed)
    def _clear_error(self, event: Input.Changed) -> None:
        if event.input.id:
            for kind in ("error", "warning"):
                label = self.query_one_optional(f"#{kind}-{event.input.id}", Static)
                if label is not None and label.has_class("-shown"):
                    self._say(label, "")

    @on(Select.Changed, "#preset")
    def _fill_preset(self, event: Select.Changed) -> None:
        preset = self._presets.get(str(event.value)) if event.value is not Select.NULL else None
        if preset is None:
            return
        self._fill("", preset)
        if preset.smtp is not None and self._smtp is not None:
            self._fill("smtp-", preset.smtp)
        self.query_one("#host", Input).focus()

    def _fill(self, prefix: str, preset: Preset) -> None:
        self.query_one(f"#{prefix}host", Input).value = preset.host
        self.query_one(f"#{prefix}port", Input).value = str(preset.port)
        self.query_one(f"#{prefix}security", Select).value = preset.security.value
        if preset.username:
            self.query_one(f"#{prefix}username", Input).value = preset.username

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
