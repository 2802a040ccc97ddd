"""Signing accounts in from the console (`L`), one account after another.

Microsoft: the dialog shows the page and the code (large, easy to read aloud or type on a phone)
and waits while MSAL polls. Google: it shows the address to open in a browser and waits for the
redirect to the loopback port, or for the redirected address pasted into its field (SSH). Each
account is marked signed in, or the dialog says why not. Many accounts
(the selection, or every account a filter shows: "all of this client's Microsoft 365 mailboxes")
are walked in turn, so an administrator signs fifty in one sitting; `s` skips the current one,
`esc` stops (the code in progress is abandoned). Dismissed with the emails that were signed in,
which the main screen re-tests. No token is ever shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from console.core.model import SignIn
from console.core.oauth.store import Grant, SignIns

if TYPE_CHECKING:
    from console.core.oauth.google import Authorization, GoogleSignIn

EnterCode = Callable[[str, str], None]


class SignInScreen(ModalScreen[list[str]]):
    DEFAULT_CSS = """
    SignInScreen {
        align: center middle;
    }
    SignInScreen > Vertical {
        width: 76;
        max-width: 98%;
        height: auto;
        max-height: 95%;
        padding: 0 1;
        border: thick $primary;
        background: $surface;
    }
    SignInScreen #current {
        margin: 1 0;
    }
    SignInScreen #code {
        text-style: bold;
        color: $text-primary;
        padding: 0 2;
    }
    SignInScreen #list {
        height: auto;
        max-height: 12;
        overflow-y: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "skip", "Skip this account", id="sign-in.skip"),
        Binding("escape", "close", "Close", id="sign-in.close"),
    ]

    def __init__(
        self,
        targets: Sequence[tuple[str, SignIn]],
        *,
        sign_ins: SignIns,
        enter_code: EnterCode | None = None,
    ) -> None:
        super().__init__()
        self.targets = list(targets)
        self.sign_ins = sign_ins
        self.enter_code = enter_code
        self.signed: list[str] = []
        self.lines: dict[str, Content] = {
            email: Content(f"  · {email}") for email, _ in self.targets
        }
        self._waiting: asyncio.Task[Grant] | None = None
        self._pasting: tuple[GoogleSignIn, Authorization] | None = None
        self._done = False

    def compose(self) -> ComposeResult:
        with Vertical():
            count = len(self.targets)
            title = "Sign in" if count == 1 else f"Sign in {count} accounts, one after another"
            yield Static(Content.styled(title, "bold"), id="title")
            yield Static(id="current")
            yield Static(id="code")
            yield Input(
                placeholder="the address the browser ended on (http://127.0.0.1:...)", id="paste"
            )
            yield Static(id="list")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#paste", Input).display = False
        self._show_list()
        self.run_worker(self._walk(), group="sign-in", exclusive=True)

    async def _walk(self) -> None:
        from console.core.oauth.google import GoogleSignIn
        from console.core.oauth.microsoft import SignInError
        from console.core.oauth.session import client_for

        for email, sign_in in self.targets:
            self._mark(email, "⟳", "starting...")
            try:
                client = client_for(sign_in)
            except SignInError as exc:
                self._mark(email, "✕", str(exc))
                continue
            try:
                if isinstance(client, GoogleSignIn):
                    authorization = await client.start()
                    self._say(
                        Content.assemble(
                            f"Signing in {email}. Open this address in a browser and sign in:\n",
                            (authorization.url, "underline"),
                            "\nIf the page it ends on does not load (the browser is on another "
                            "machine), paste that page's address below and press Enter.",
                        ),
                        "",
                    )
                    self._pasting = (client, authorization)
                    paste = self.query_one("#paste", Input)
                    paste.display = True
                    paste.focus()
                    self._mark(email, "⟳", "waiting for the browser")
                    finishing = client.finish(authorization)
                else:
                    code = await client.start()
                    self._say(
                        Content.assemble(
                            f"Signing in {email}. On any device, open\n",
                            (code.verification_uri, "underline"),
                            "\nand enter the code:",
                        ),
                        code.user_code,
                    )
                    self._mark(email, "⟳", "waiting for the code to be entered")
                    if self.enter_code is not None:
                        self.enter_code(email, code.user_code)
                    finishing = client.finish(code)
                self._waiting = asyncio.ensure_future(finishing)
                try:
                    grant = await self._waiting
                except asyncio.CancelledError:
                    if self._done:
                        raise
                    self._mark(email, "·", "skipped")
                    continue
                kept = await asyncio.to_thread(self.sign_ins.remember, sign_in, grant)
            except SignInError as exc:
                self._mark(email, "✕", str(exc))
                continue
            finally:
                self._waiting = None
                self._pasting = None
                self.query_one("#paste", Input).display = False
                client.close()
            self.signed.append(email)
            if not self.sign_ins.keep:
                where = "kept in memory (the demo never uses the keyring)"
            elif kept:
                where = "kept in the keyring"
            else:
                where = "for this session only: no keyring could keep it"
            self._mark(email, "✓", f"signed in, {where}")
        self._done = True
        done = f"Done: {len(self.signed)} of {len(self.targets)} signed in. Esc closes"
        self._say(Content(done + (" and re-tests them." if self.signed else ".")), "")

    def _say(self, text: Content, code: str) -> None:
        self.query_one("#current", Static).update(text)
        self.query_one("#code", Static).update(Content(code))

    def _mark(self, email: str, glyph: str, words: str) -> None:
        self.lines[email] = Content(f"  {glyph} {email}: {words}")
        self._show_list()

    def _show_list(self) -> None:
        self.query_one("#list", Static).update(Content("\n").join(self.lines.values()))

    @on(Input.Submitted, "#paste")
    def _pasted(self, event: Input.Submitted) -> None:
        from console.core.oauth.microsoft import SignInError

        if self._pasting is None or not event.value.strip():
            return
        client, authorization = self._pasting
        try:
            client.paste(authorization, event.value)
        except SignInError as exc:
            self.notify(str(exc), severity="warning", markup=False)
        event.input.value = ""

    def action_skip(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()

    def action_close(self) -> None:
        self._done = True  # a cancelled wait now ends the walk instead of skipping
        self.workers.cancel_group(self, "sign-in")
        self.dismiss(list(self.signed))
