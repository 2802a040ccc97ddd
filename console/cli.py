"""Entry point: the TUI by default, `check` for headless audits and monitoring.

Textual is imported only when the TUI starts, so `mailconsole check` stays quick to start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from console import signals
from console.core import report
from console.core.config import ConfigError, LoadedConfig, default_config_path, load_config
from console.core.fdlimit import raise_soft_limit
from console.core.model import Account, AccountResult, Protocol, ServerSettings, Settings
from console.core.oauth.store import SignIns
from console.core.providers.discovery import (
    Discovery,
    check_host,
    discover,
    discover_account,
    fix_summary,
)
from console.core.providers.names import email_domain
from console.core.runner import AccountFinished, Runner, RunnerEvent
from console.core.safe_text import visible
from console.core.secrets import (
    SecretProvider,
    delete_password,
    fetch_secret,
    kill_secret_commands,
    store_password,
)
from console.core.store import results_path

EXIT_CANNOT_RUN = 3
START_DEMO = "start-demo"  # console.ui.screens.main.START_DEMO, without importing Textual here


class UsageError(Exception):
    """Bad arguments or an unusable account file: exit status 3."""


def _version() -> str:
    """The installed distribution's version (pyproject.toml), else the package's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mailconsole")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT_RUN, f"{self.prog}: error: {message}\n")


def _add_common_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=default,
        help="account file (default: $MAILCONSOLE_CONFIG, else the user config dir)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="use the built-in lab: scripted servers on 127.0.0.1, no credentials needed",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="PATH",
        default=default,
        help="where the results store lives (default: $MAILCONSOLE_STATE_DIR, else the user "
        "state dir)",
    )


def build_parser() -> argparse.ArgumentParser:
    from console import cli_history  # it imports this module

    parser = _Parser(
        prog="mailconsole",
        description="Check the SMTP and IMAP connections of many sender mailboxes. "
        "Without a command, `mailconsole` starts the console (the terminal UI) on the account "
        "file; `mailconsole --demo` starts it on a built-in lab.",
    )
    parser.add_argument("--version", action="version", version=f"mailconsole {_version()}")
    _add_common_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser(
        "check",
        help="check accounts headless and print a report",
        description="Exit status: 0 all connected, 1 any conditional, 2 any disconnected, "
        "3 the check could not run.",
    )
    # SUPPRESS: the subcommand's own defaults must not undo options given before it.
    _add_common_options(check, default=argparse.SUPPRESS)
    check.add_argument("--format", choices=("json", "csv", "table"), default=None)
    check.add_argument("--tag", action="append", default=[], help="only accounts with this tag")
    check.add_argument(
        "--account", action="append", default=[], metavar="EMAIL", help="only this account"
    )
    check.add_argument("--concurrency", type=_positive_int, help="checks in flight at once")
    check.add_argument("--timeout", type=_positive_float, help="seconds for one check stage")
    cli_history.add_check_options(check)
    discover = sub.add_parser(
        "discover",
        help="find the server settings that answer, without sending any credential",
        description="Try the standard port/security pairs of the account's host (or --host, the "
        "provider's servers, or guessed hosts) and recommend one. Exit status: 0 a working pair "
        "for every asked protocol, 2 not, 3 bad arguments.",
    )
    _add_common_options(discover, default=argparse.SUPPRESS)
    discover.add_argument("email", metavar="EMAIL")
    discover.add_argument("--host", help="try this server host instead of the account's")
    discover.add_argument("--protocol", choices=("imap", "smtp"), default=None)
    discover.add_argument("--format", choices=("table", "json"), default=None)
    discover.add_argument(
        "--timeout", type=_positive_float, default=5.0, help="seconds for one stage (default 5)"
    )
    from console import cli_fleet

    cli_fleet.add_parsers(sub, _add_common_options)
    from console import cli_canary

    cli_canary.add_parser(sub, _add_common_options)
    from console import cli_login

    cli_login.add_parser(sub, _add_common_options)
    cli_history.add_history_parser(sub)
    cli_history.add_report_parser(sub)
    return parser


def select_accounts(
    accounts: Sequence[Account], tags: Sequence[str], emails: Sequence[str]
) -> list[Account]:
    known = {a.email.casefold() for a in accounts}
    unknown = [e for e in emails if e.casefold() not in known]
    if unknown:
        raise UsageError(f"no such account in the account file: {', '.join(unknown)}")
    wanted = {e.casefold() for e in emails}
    chosen = [
        a
        for a in accounts
        if (not wanted or a.email.casefold() in wanted) and (not tags or set(tags) & set(a.tags))
    ]
    if not chosen:
        raise UsageError("no account matches the given --tag/--account filters")
    return chosen


def _load(path: Path | None) -> LoadedConfig:
    try:
        return load_config(path or default_config_path())
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc


async def run_checks(
    accounts: Sequence[Account], settings: Settings, session: Session, *, progress: bool
) -> list[AccountResult]:
    done = 0

    def on_event(event: RunnerEvent) -> None:
        nonlocal done
        if progress and isinstance(event, AccountFinished):
            done += 1
            sys.stderr.write(f"\rchecked {done}/{len(accounts)}")
            sys.stderr.flush()

    runner = Runner(
        settings,
        on_event=on_event,
        secrets=session.secrets,
        allowed_hosts=session.allowed_hosts,
    )
    results = await runner.check_accounts(accounts)
    if progress:
        sys.stderr.write("\n")
    return results


def cmd_check(args: argparse.Namespace, session: Session) -> int:
    loaded = _load(session.config_path)
    for issue in loaded.issues:
        sys.stderr.write(
            f"{visible(str(loaded.path), keep_newlines=False)}: "
            f"{visible(str(issue), keep_newlines=False)}\n"
        )
    accounts = select_accounts(loaded.accounts, args.tag, args.account)
    settings = loaded.settings
    if args.concurrency or args.timeout:
        settings = Settings(
            concurrency=args.concurrency or settings.concurrency,
            per_host=settings.per_host,
            timeout=args.timeout or settings.timeout,
            recheck_minutes=settings.recheck_minutes,
        )
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    started = datetime.now(UTC)
    results = asyncio.run(run_checks(accounts, settings, session, progress=sys.stderr.isatty()))
    from console import cli_history

    status = report.exit_code(results)  # of every account, also with --changed
    accounts, results = cli_history.record_check(
        args, session, loaded.settings, accounts, results, started
    )
    if fmt == "json":
        from console import cli_canary

        canaries = cli_canary.recorded_canaries(session, accounts)
        sys.stdout.write(report.to_json(accounts, results, started, canaries) + "\n")
    elif fmt == "csv":
        sys.stdout.write(report.to_csv(accounts, results))
    elif args.changed and not accounts:
        sys.stdout.write("no account changed state since its last recorded check\n")
    else:
        sys.stdout.write(report.to_table(accounts, results))
    return status


def _discover_account(email: str, session: Session) -> Account | None:
    """The account file's account for EMAIL, if any; only an explicit --config must be readable."""
    path = session.config_path
    try:
        loaded = load_config(path or default_config_path())
    except ConfigError as exc:
        if path is not None:
            raise UsageError(str(exc)) from exc
        return None
    wanted = email.strip().casefold()
    return next((a for a in loaded.accounts if a.email.casefold() == wanted), None)


def _discover_table(result: Discovery, account: Account | None) -> str:
    lines: list[str] = []
    for protocol in result.protocols:
        best = result.best(protocol)
        provider = result.providers.get(protocol)
        lines.append(
            f"{protocol.value.upper()} candidates" + (f" ({provider})" if provider else "")
        )
        lines.append(
            f"    {'SERVER':<30} {'SECURITY':<9} {'RESULT':<21} {'TLS':<8} {'LOGIN':<12} MS"
        )
        for c in result.ranked(protocol):
            mark = "*" if c is best else " "
            text = visible(c.message or c.greeting or "", keep_newlines=False)[:70]
            lines.append(
                f"  {mark} {visible(c.address):<30} {c.security.value:<9} "
                f"{'ok' if c.ok else str(c.cause):<21} {c.tls_version or '-':<8} "
                f"{c.login or '-':<12} {c.elapsed_ms}  {text}".rstrip()
            )
        current = account.settings_for(protocol) if account else None
        lines += [visible(fix_summary(protocol, result, current)), ""]
    if result.not_contacted:
        lines.append("not contacted (outside this session): " + ", ".join(result.not_contacted))
    return "\n".join(lines).rstrip() + "\n"


def cmd_discover(args: argparse.Namespace, session: Session) -> int:
    """Probe candidate servers without credentials; recommend the pair that answers."""
    if email_domain(args.email) is None:
        raise UsageError(f"{args.email!r} is not an email address")
    if args.host is not None:
        try:
            check_host(args.host)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    account = _discover_account(args.email, session)
    protocol = Protocol(args.protocol) if args.protocol else None
    if protocol is None and account is not None and account.send_only:
        protocol = Protocol.SMTP  # a send-only relay has no IMAP server to find
    allowed = session.allowed_hosts
    if account is not None:
        run = discover_account(
            account, protocol, host=args.host, timeout=args.timeout, allowed_hosts=allowed
        )
    else:
        run = discover(
            args.email, protocol, host=args.host, timeout=args.timeout, allowed_hosts=allowed
        )
    result = asyncio.run(run)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(account), indent=2) + "\n")
    else:
        sys.stdout.write(_discover_table(result, account))
    return 0 if all(result.best(p) for p in result.protocols) else 2


def cmd_tui(session: Session) -> object:
    """Run the console; returns what the app exited with (START_DEMO: the user asked for it)."""
    from console.ui.app import MailConsoleApp

    app = MailConsoleApp(
        session.config_path or default_config_path(),
        secrets=session.secrets,
        store_secret=session.store_secret,
        runner_factory=partial(Runner, allowed_hosts=session.allowed_hosts),
        allowed_hosts=session.allowed_hosts,
        results=results_path(demo=session.demo, folder=session.state_dir),
        sign_ins=session.sign_ins,
        enter_code=session.enter_code,
    )
    outcome = app.run()
    if app.exit_signal is not None:  # the console quit on SIGTERM/SIGHUP (console/signals.py)
        signals.note(app.exit_signal)
        raise KeyboardInterrupt
    return outcome


@dataclass(frozen=True)
class Session:
    """Where accounts and secrets come from: the user's file and keyring, or the demo lab."""

    config_path: Path | None
    secrets: SecretProvider = fetch_secret
    store_secret: Callable[[ServerSettings, str], None] = store_password
    allowed_hosts: frozenset[str] | None = None
    forget_secret: Callable[[ServerSettings], None] = delete_password
    import_defaults: tuple[tuple[str, str], ...] = ()  # set in every imported server table
    demo: bool = False
    state_dir: Path | None = None
    """--state-dir: where the results store lives instead of the default."""
    sign_ins: SignIns | None = None
    """Where sign-ins are kept; None: the process's store (refresh tokens in the keyring)."""
    enter_code: Callable[[str, str], None] | None = None
    """The demo's stand-in for the user entering a device code elsewhere (email, code)."""


@contextmanager
def open_session(args: argparse.Namespace) -> Iterator[Session]:
    state_dir = getattr(args, "state_dir", None)
    if not args.demo:
        yield Session(args.config, state_dir=state_dir)
        return
    if args.config is not None:
        raise UsageError("--demo uses its own account file; leave out --config")
    from console.lab.demo import DEMO_HOSTS, DemoLab

    with DemoLab() as demo:
        yield Session(
            demo.config_path,
            demo.secrets,
            demo.secrets.set,
            DEMO_HOSTS,
            forget_secret=demo.secrets.delete,
            import_defaults=(("tls_ca_file", str(demo.ca_file)),),
            demo=True,
            sign_ins=demo.sign_ins,
            enter_code=demo.enter_code,
            state_dir=state_dir,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signals.install()  # SIGTERM/SIGHUP: clean up like Ctrl+C (console/signals.py)
    raise_soft_limit()  # more file descriptors for many checks at once (console/core/fdlimit.py)
    try:
        with open_session(args) as session:
            if args.command == "check":
                return cmd_check(args, session)
            if args.command == "discover":
                return cmd_discover(args, session)
            if args.command in ("import", "export"):
                from console import cli_fleet

                return cli_fleet.run(args, session)
            if args.command == "canary":
                from console import cli_canary

                return cli_canary.cmd_canary(args, session)
            if args.command == "login":
                from console import cli_login

                return cli_login.cmd_login(args, session)
            if args.command == "history":
                from console import cli_history

                return cli_history.cmd_history(args, session)
            if args.command == "report":
                from console import cli_history

                return cli_history.cmd_report(args, session)
            outcome = cmd_tui(session)
        if outcome == START_DEMO:  # asked for on the first-run screen
            with open_session(argparse.Namespace(demo=True, config=None)) as session:
                cmd_tui(session)
        return 0
    except UsageError as exc:
        sys.stderr.write(f"mailconsole: {visible(str(exc))}\n")
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        kill_secret_commands()  # any started while the checks unwound
        return signals.exit_status()


if __name__ == "__main__":
    sys.exit(main())
