"""`mailconsole login EMAIL... | --tag T`: sign accounts in with their provider (docs/oauth2.md).

Microsoft 365 and Outlook.com sign in with the device-code flow: the command prints a page and a
short code and waits while the user enters the code on any device. Google signs in in a browser:
the command prints an address and waits for the browser's redirect to a loopback port, or (over
SSH, where the browser cannot reach it) for the redirected address pasted on stdin. The refresh
token goes to the keyring (`oauth2:<platform>:<email>`); then the account is checked the way
`check` does (same formats and exit codes; `--no-check` skips it). The instructions go to stderr,
so stdout holds only the check's report. No token is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from console.cli import EXIT_CANNOT_RUN, Session, UsageError, _load, cmd_check, select_accounts
from console.core.model import Account, SignIn
from console.core.oauth.store import Grant, SignIns
from console.core.safe_text import visible

if TYPE_CHECKING:
    from console.core.oauth.google import GoogleSignIn

EXIT_SIGNED_IN = 0


def add_parser(sub: argparse._SubParsersAction[Any], common: Callable[..., None]) -> None:
    login = sub.add_parser(
        "login",
        help="sign accounts in with their provider (Microsoft 365, Outlook.com, Google)",
        description="Sign in: Microsoft with a device code (open the page shown, enter the "
        "code), Google in a browser (open the address shown; over SSH paste back the address "
        "the browser ends on). The sign-in is kept in the keyring; then the accounts are "
        "checked. With --tag, every account of the tag that signs in this way, one after "
        "another. Exit status: check's (0 connected, 1 conditional, 2 disconnected), 3 when a "
        "sign-in failed.",
    )
    common(login, default=argparse.SUPPRESS)
    login.add_argument("email", metavar="EMAIL", nargs="*", help="the accounts to sign in")
    login.add_argument(
        "--tag", action="append", default=[], help="every account with this tag that signs in"
    )
    login.add_argument(
        "--no-check", action="store_true", help="sign in only; do not check the account after"
    )
    login.add_argument("--format", choices=("json", "csv", "table"), default=None)


def sign_in_of(account: Account) -> SignIn:
    """The account's built-in sign-in, or a UsageError saying what to set."""
    if account.sign_in is not None:
        return account.sign_in
    raise UsageError(
        f'{account.email} does not use a built-in sign-in: set auth = "oauth2" in its '
        "[account.smtp] and [account.imap] tables (without oauth2_token_command); the provider "
        "must be Microsoft 365, Outlook.com, Gmail or Google Workspace (set provider = "
        '"microsoft365" or "google_workspace" when the address does not show it)'
    )


def cmd_login(args: argparse.Namespace, session: Session) -> int:
    loaded = _load(session.config_path)
    if not args.email and not args.tag:
        raise UsageError("name the accounts to sign in (EMAIL ...) or a --tag")
    chosen = select_accounts(loaded.accounts, args.tag, args.email)
    if args.tag and not args.email:  # a client's roster: those with a built-in sign-in
        chosen = [a for a in chosen if a.sign_in is not None]
        if not chosen:
            raise UsageError("no account with these tags uses a built-in sign-in")
    accounts = [(account, sign_in_of(account)) for account in chosen]
    signed: list[str] = []
    failed = False
    for number, (account, sign_in) in enumerate(accounts, 1):
        if len(accounts) > 1:
            _tell(f"[{number}/{len(accounts)}] {account.email}")
        try:
            kept = asyncio.run(sign_in_now(sign_in, _tell, session.sign_ins, session.enter_code))
        except SignInFailed as exc:
            _tell(str(exc))
            failed = True
            continue
        signed.append(account.email)
        _tell(_kept_words(account.email, kept, session.demo))
    if args.no_check or not signed:
        return EXIT_CANNOT_RUN if failed else EXIT_SIGNED_IN
    check_args = argparse.Namespace(
        format=args.format,
        tag=[],
        account=signed,
        concurrency=None,
        timeout=None,
        changed=False,
        no_record=False,
    )
    status = cmd_check(check_args, session)
    return EXIT_CANNOT_RUN if failed else status


def _kept_words(email: str, kept: bool, demo: bool) -> str:
    if demo:
        return f"Signed in {email} (the demo keeps sign-ins in memory only)."
    if kept:
        return f"Signed in {email}; the sign-in is kept in the keyring."
    return (
        f"Signed in {email} for this command only: no keyring backend could keep the sign-in "
        "(on a server without a desktop session, install and unlock a keyring such as "
        "gnome-keyring, or use oauth2_token_command with your own token helper)."
    )


class SignInFailed(Exception):
    """The sign-in did not complete; the message says why and what to do."""


async def sign_in_now(
    sign_in: SignIn,
    tell: Callable[[str], None],
    sign_ins: SignIns | None = None,
    enter_code: Callable[[str, str], None] | None = None,
) -> bool:
    """Sign in once (Microsoft: device code; Google: browser, loopback or pasted address) and
    keep it in `sign_ins` (default: the process's store); returns whether the keyring kept it.
    `enter_code(email, code)` is told a device code as the user is (the demo enters it)."""
    from console.core.oauth.google import GoogleSignIn
    from console.core.oauth.microsoft import SignInError
    from console.core.oauth.session import SIGN_INS, client_for

    try:
        client = client_for(sign_in)
    except SignInError as exc:
        raise SignInFailed(str(exc)) from None
    try:
        if isinstance(client, GoogleSignIn):
            grant = await _browser_flow(client, tell)
        else:
            code = await client.start()
            minutes = max(1, round((code.expires_at - time.time()) / 60))
            tell(
                f"To sign in {sign_in.email}: {code.instructions} "
                f"(within {minutes} minutes). Waiting..."
            )
            if enter_code is not None:
                enter_code(sign_in.email, code.user_code)
            grant = await client.finish(code)
    except SignInError as exc:
        raise SignInFailed(f"{exc} Nothing was stored.") from None
    finally:
        client.close()
    return await asyncio.to_thread((sign_ins or SIGN_INS).remember, sign_in, grant)


async def _browser_flow(client: GoogleSignIn, tell: Callable[[str], None]) -> Grant:
    """Google: wait for the loopback redirect, or for the redirected address on stdin."""
    from console.core.oauth.microsoft import SignInError

    authorization = await client.start()
    tell(f"To sign in {client.sign_in.email}: {authorization.instructions} Waiting...")
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    pending = bytearray()  # raw reads: a buffered readline would hide a second pasted line

    def pasted() -> None:
        chunk = os.read(stdin, 65536)
        if not chunk:  # end of input: only the loopback redirect can finish now
            loop.remove_reader(stdin)
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                try:
                    client.paste(authorization, line.decode("utf-8", "replace"))
                except SignInError as exc:
                    tell(str(exc))

    try:
        loop.add_reader(stdin, pasted)
    except (OSError, ValueError, NotImplementedError):  # no readable stdin (a closed descriptor)
        stdin = -1
    try:
        return await client.finish(authorization)
    finally:
        if stdin >= 0:
            loop.remove_reader(stdin)


def _tell(message: str) -> None:
    sys.stderr.write(f"mailconsole: {visible(message, keep_newlines=False)}\n")
    sys.stderr.flush()
