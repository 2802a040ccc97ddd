"""`a`: a new account, email first; the provider found from the address fills the servers.

The dialog returns what to write (an [[account]] table) and the passwords to put in the keyring;
it writes nothing itself.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from console.core import providers
from console.core.model import Protocol, Security, ServerSettings
from console.ui.edits import validate_server


@dataclass(frozen=True)
class NewAccount:
    table: dict[str, Any]
    passwords: tuple[tuple[ServerSettings, str], ...]

    @property
    def email(self) -> str:
        return str(self.table["email"])

    def __repr__(self) -> str:  # never the passwords
        return f"NewAccount({self.email!r}, {len(self.passwords)} password(s))"


_SECURITY = [(Text(s.value), s.value) for s in Security]


def _provider_options() -> list[tuple[Text, str]]:
    return [(Text(p.name), p.id) for p in sorted(providers.all_providers(), key=lambda p: p.name)]


class AddAccountScreen(ModalScreen[NewAccount | None]):
    DEFAULT_CSS = """
    AddAccountScreen {
        align: center middle;
    }
    AddAccountScreen > VerticalScroll {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    AddAccountScreen .row {
        height: auto;
    }
    AddAccountScreen .row > Label {
        width: 16;
        color: $text-muted;
    }
    AddAccountScreen .row > Input, AddAccountScreen .row > Select {
        width: 1fr;
    }
    AddAccountScreen .section {
        text-style: bold;
        color: $text-accent;
        margin: 1 0 0 0;
    }
    AddAccountScreen .error {
        color: $text-error;
        padding: 0 0 0 16;
        height: auto;
        display: none;
    }
    AddAccountScreen .error.-shown {
        display: block;
    }
    AddAccountScreen #detected {
        color: $text-muted;
        padding: 0 0 0 16;
    }
    AddAccountScreen #actions {
        height: auto;
        margin: 1 0 0 0;
    }
    AddAccountScreen #actions Button {
        margin: 0 1 0 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "add", "Add account", id="add.save"),
        Binding("escape", "cancel", "Cancel", id="add.cancel"),
    ]

    def __init__(self, existing: Collection[str]) -> None:
        super().__init__()
        self._existing = {e.casefold() for e in existing}
        self._touched: set[str] = set()

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll()
        scroll.border_title = Content("Add an account · ctrl+s adds · esc cancels")
        with scroll:
            yield from self._row(
                "email",
                "Email (From)",
                Input(id="email", compact=True, placeholder="alice@example.com"),
            )
            yield Static(Content(""), id="detected")
            yield from self._row("name", "Name", Input(id="name", compact=True))
            yield from self._row(
                "tags",
                "Tags",
                Input(id="tags", compact=True, placeholder="comma separated: acme, eu"),
            )
            yield from self._row(
                "provider",
                "Provider",
                Select(
                    _provider_options(),
                    prompt="detected from the address",
                    id="provider",
                    compact=True,
                ),
            )
            for protocol in (Protocol.SMTP, Protocol.IMAP):
                p = protocol.value
                yield Static(
                    Content(f"{p.upper()} ({'sending' if p == 'smtp' else 'replies'})"),
                    classes="section",
                    id=f"{p}-section",
                )
                yield from self._row(f"{p}-host", "Host", Input(id=f"{p}-host", compact=True))
                yield from self._row(
                    f"{p}-port", "Port", Input(id=f"{p}-port", compact=True, type="integer")
                )
                yield from self._row(
                    f"{p}-security",
                    "Security",
                    Select(
                        _SECURITY,
                        value=Security.TLS.value,
                        allow_blank=False,
                        id=f"{p}-security",
                        compact=True,
                    ),
                )
                yield from self._row(
                    f"{p}-username", "Username", Input(id=f"{p}-username", compact=True)
                )
                yield from self._row(
                    f"{p}-password",
                    "Password",
                    Input(
                        id=f"{p}-password",
                        password=True,
                        compact=True,
                        placeholder="stored in the keyring; empty: set up later",
                    ),
                )
            with Horizontal(id="actions"):
                yield Button("Add ^s", id="add", variant="primary", compact=True)
                yield Button("Cancel esc", id="cancel", compact=True)
        yield Footer()  # the dialog's keys, not the table's behind it

    def _row(self, key: str, label: str, widget: Input | Select[str]) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(label)
            yield widget
        yield Static(Content(""), id=f"error-{key}", classes="error")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#email", Input))  # now, not after queued keys

    def _value(self, key: str) -> str:
        widget = self.query_one(f"#{key}")
        if isinstance(widget, Select):
            value = widget.value
            return value if isinstance(value, str) else ""
        assert isinstance(widget, Input)
        return widget.value.strip()

    def _set(self, key: str, value: str) -> None:
        widget = self.query_one(f"#{key}")
        if isinstance(widget, Select | Input):
            widget.value = value

    # -- filling from the provider -----------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        key = event.input.id or ""
        if event.input.has_focus and key != "email":
            self._touched.add(key)
        if key == "email":
            self._detect(event.value.strip())

    def _detect(self, email: str) -> None:
        found = providers.detect_offline(email) if "@" in email else None
        note = self.query_one("#detected", Static)
        if found is None:
            note.update(Content("provider not recognised: choose one, or fill the servers in"))
            return
        note.update(Content(f"recognised: {found.provider.name}"))
        self._fill(found.provider.id, email)

    @on(Select.Changed, "#provider")
    def _provider_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self._touched.difference_update({k for k in self._touched if "-" in k})
            self._fill(event.value, self._value("email"))

    def _fill(self, provider_id: str, email: str) -> None:
        try:
            imap, smtp = providers.presets(provider_id, email)
        except (KeyError, ValueError):
            return
        provider = providers.get_provider(provider_id)
        for protocol, preset in ((Protocol.SMTP, smtp), (Protocol.IMAP, imap)):
            p = protocol.value
            values = {
                f"{p}-host": preset.host if preset else "",
                f"{p}-port": str(preset.port) if preset else "",
                f"{p}-username": (preset.username_for(email) or "") if preset else "",
            }
            for key, value in values.items():
                if key not in self._touched:
                    self._set(key, value)
            if preset is not None and f"{p}-security" not in self._touched:
                self._set(f"{p}-security", preset.security.value)
        self.query_one("#imap-section", Static).update(
            Content(
                "IMAP: none, this is a send-only relay" if provider.send_only else "IMAP (replies)"
            )
        )

    # -- result -------------------------------------------------------------------------------

    def _errors(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        email = self._value("email")
        local, at, domain = email.partition("@")
        if not (local and at and "." in domain) or any(c.isspace() for c in email):
            errors["email"] = "the account's From address, e.g. alice@example.com"
        elif email.casefold() in self._existing:
            errors["email"] = "this account is already in the file"
        for protocol in (Protocol.SMTP, Protocol.IMAP):
            p = protocol.value
            fields = [self._value(f"{p}-{k}") for k in ("host", "port", "username")]
            if protocol is Protocol.IMAP and not any(fields):
                continue  # no IMAP: allowed (send-only relay, or set up later)
            problems = validate_server(
                protocol, fields[0], fields[1], self._value(f"{p}-security"), fields[2]
            )
            errors.update({f"{p}-{k}": v for k, v in problems.items()})
        return errors

    def _server(self, protocol: Protocol) -> dict[str, Any] | None:
        p = protocol.value
        if not self._value(f"{p}-host"):
            return None
        return {
            "host": self._value(f"{p}-host"),
            "port": int(self._value(f"{p}-port")),
            "security": self._value(f"{p}-security"),
            "username": self._value(f"{p}-username"),
        }

    def action_add(self) -> None:
        errors = self._errors()
        for label in self.query(".error").results(Static):
            key = (label.id or "").removeprefix("error-")
            label.update(Content(errors.get(key, "")))
            label.set_class(key in errors, "-shown")
        if errors:
            self.query_one(f"#{next(iter(errors))}").focus()
            return
        email = self._value("email")
        table: dict[str, Any] = {"email": email}
        if name := self._value("name"):
            table["name"] = name
        tags = [t.strip() for t in self._value("tags").split(",") if t.strip()]
        if tags:
            table["tags"] = tags
        if provider := self._value("provider"):
            table["provider"] = provider
        passwords: list[tuple[ServerSettings, str]] = []
        for protocol in (Protocol.SMTP, Protocol.IMAP):
            server = self._server(protocol)
            if server is None:
                continue
            table[protocol.value] = server
            password = self.query_one(f"#{protocol.value}-password", Input).value
            if password:
                settings = ServerSettings(
                    protocol,
                    server["host"],
                    server["port"],
                    Security(server["security"]),
                    server["username"],
                )
                passwords.append((settings, password))
        if "imap" not in table and provider and providers.get_provider(provider).send_only:
            table["send_only"] = True
        self.dismiss(NewAccount(table, tuple(passwords)))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self.action_add()
        else:
            self.action_cancel()
