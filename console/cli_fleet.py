"""`mailconsole import` and `mailconsole export` (DESIGN section 10).

Import: read the CSV, map its columns, validate and de-duplicate every row, test the rows against
their servers (unless --no-test), print the plan, then save (asked on a terminal; --yes
otherwise). The CSV is only read. Exit status as `check`: 0 every row connected (or untested and
valid), 1 any conditional, 2 any disconnected or any row in error, 3 the import could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.core.config import ConfigError, ConfigNotFoundError, default_config_path, load_config
from console.core.config_write import new_config_file
from console.core.fleet import (
    Action,
    CommitError,
    ImportPlan,
    MappingError,
    OnDuplicate,
    ReadError,
    commit,
    export_csv,
    failed_rows_csv,
    layouts,
    plan_import,
    preflight,
    save,
    to_json,
    to_table,
)
from console.core.model import State
from console.core.runner import AccountFinished, RunnerEvent
from console.core.safe_text import visible

if TYPE_CHECKING:
    from console.cli import Session

COMMANDS = ("import", "export")
DEMO_IMPORT_FILE = "import-demo.csv"  # console/lab/demo_import.toml writes it beside the demo file


def add_parsers(sub: Any, add_common: Callable[..., None]) -> None:
    """Register `import` and `export` on the main parser's subcommands."""
    imp = sub.add_parser(
        "import",
        help="import accounts from a CSV/TSV file, tested before anything is saved",
        description="Exit status: 0 every row connected, 1 any conditional, 2 any disconnected "
        "or any row in error, 3 the import could not run. Without --dry-run the accounts are "
        "saved after the pre-flight: a terminal asks first, otherwise --yes is needed.",
    )
    add_common(imp, default=argparse.SUPPRESS)
    imp.add_argument(
        "file",
        metavar="FILE",
        type=Path,
        nargs="?",
        help="the CSV/TSV file (with --demo: the demo's 500-row file when left out)",
    )
    imp.add_argument("--dry-run", action="store_true", help="show the plan; save nothing")
    imp.add_argument("--no-test", action="store_true", help="do not test the rows' servers")
    imp.add_argument(
        "--on-duplicate",
        choices=[d.value for d in OnDuplicate],
        default=None,
        help="for emails already in the account file (without it they are errors)",
    )
    imp.add_argument("--tag", action="append", default=[], help="tag every imported account")
    imp.add_argument("--mapping", metavar="NAME", help="a layout or saved mapping to use")
    imp.add_argument(
        "--save-mapping", metavar="NAME", help="save the mapping used as NAME for next time"
    )
    imp.add_argument(
        "--password-command",
        metavar="TEMPLATE",
        help="take passwords from a command, e.g. 'pass show mail/{email}' ({email}, "
        "{username}, {host}, {protocol}); the file's password columns are then not needed",
    )
    imp.add_argument(
        "--failed-rows", metavar="FILE", type=Path, help="write the failed rows with cause and fix"
    )
    imp.add_argument("--yes", action="store_true", help="save without asking")
    imp.add_argument("--format", choices=("json", "table"), default=None)
    exp = sub.add_parser(
        "export",
        help="write the accounts (without secrets) as CSV in a platform's layout",
        description="Layouts: " + ", ".join(f"{x.id} ({x.title})" for x in layouts()),
    )
    add_common(exp, default=argparse.SUPPRESS)
    exp.add_argument("--format", choices=("csv",), default="csv")
    exp.add_argument(
        "--layout", choices=[x.id for x in layouts()], default="mailconsole", metavar="NAME"
    )
    exp.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")


def run(args: argparse.Namespace, session: Session) -> int:
    if args.command == "export":
        return cmd_export(args, session)
    return cmd_import(args, session)


def _usage(message: str) -> Exception:
    from console.cli import UsageError

    return UsageError(message)


def cmd_export(args: argparse.Namespace, session: Session) -> int:
    try:
        loaded = load_config(session.config_path or default_config_path())
    except ConfigError as exc:
        raise _usage(str(exc)) from None
    text = export_csv(loaded.accounts, args.layout)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise _usage(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    return 0


def exit_code(plan: ImportPlan) -> int:
    states = {r.state for r in plan.rows if r.state is not None}
    if State.DISCONNECTED in states or any(r.action is Action.ERROR for r in plan.rows):
        return 2
    if State.CONDITIONAL in states:
        return 1
    return 0


def _progress(total: int) -> Callable[[RunnerEvent], None]:
    done = 0

    def on_event(event: RunnerEvent) -> None:
        nonlocal done
        if isinstance(event, AccountFinished):
            done += 1
            sys.stderr.write(f"\rtested {done}/{total}")
            sys.stderr.flush()

    return on_event


def cmd_import(args: argparse.Namespace, session: Session) -> int:
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if not args.dry_run and not args.yes and not interactive:
        raise _usage(
            "import saves accounts: add --yes to save without asking, or --dry-run to only "
            "see the plan"
        )
    path = session.config_path or default_config_path()
    if args.file is None:
        if not args.demo:
            raise _usage("import needs a FILE (a CSV or TSV export)")
        args.file = path.parent / DEMO_IMPORT_FILE
    try:
        loaded = load_config(path)
    except ConfigNotFoundError:
        loaded = None
    except ConfigError as exc:
        raise _usage(str(exc)) from None
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise _usage(f"{args.file}: cannot read ({exc.strerror or exc})") from None
    try:
        plan = plan_import(
            data,
            existing=loaded.accounts if loaded else (),
            source=args.file,
            on_duplicate=OnDuplicate(args.on_duplicate) if args.on_duplicate else None,
            tags=args.tag,
            mapping=args.mapping,
            password_command=args.password_command,
            server_defaults=dict(session.import_defaults),
            base_dir=path.parent,
        )
        if args.save_mapping:
            saved = save(args.save_mapping, plan.columns)
            sys.stderr.write(f"mapping saved: {visible(str(saved), keep_newlines=False)}\n")
    except (ReadError, MappingError) as exc:
        raise _usage(f"{args.file}: {exc}") from None
    for note in plan.notes:
        sys.stderr.write(f"note: {visible(note, keep_newlines=False)}\n")
    if not args.no_test and plan.to_commit():
        settings = loaded.settings if loaded else _default_settings()
        progress = _progress(len(plan.to_commit())) if sys.stderr.isatty() else None
        asyncio.run(
            preflight(
                plan,
                settings,
                fallback=session.secrets,
                allowed_hosts=session.allowed_hosts,
                on_event=progress,
            )
        )
        if progress is not None:
            sys.stderr.write("\n")
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    sys.stdout.write(to_json(plan) + "\n" if fmt == "json" else to_table(plan))
    if args.failed_rows is not None:
        _write_failed(args.failed_rows, plan, args.file)
    code = exit_code(plan)
    if args.dry_run or not plan.to_commit():
        return code
    if not args.yes and not _confirm(len(plan.to_commit()), path):
        sys.stderr.write("nothing was saved\n")
        return code
    try:
        if loaded is None:
            loaded = new_config_file(path, {})
        result = commit(plan, loaded, session.store_secret, session.forget_secret)
    except (CommitError, ConfigError) as exc:
        raise _usage(str(exc)) from None
    sys.stderr.write(
        f"saved: {result.added} added, {result.updated} updated, "
        f"{result.passwords_stored} password(s) stored in the keyring "
        f"({visible(str(path), keep_newlines=False)})\n"
    )
    return code


def _default_settings() -> Any:
    from console.core.model import Settings

    return Settings()


def _write_failed(target: Path, plan: ImportPlan, source: Path) -> None:
    if target.resolve() == source.resolve():
        raise _usage("--failed-rows must not be the imported file: the CSV is never modified")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(failed_rows_csv(plan))
    except OSError as exc:
        raise _usage(f"{target}: cannot write ({exc.strerror or exc})") from None


def _confirm(count: int, path: Path) -> bool:
    where = visible(str(path), keep_newlines=False)
    sys.stderr.write(
        f"Save {count} account(s) to {where} and their passwords to the keyring? [y/N] "
    )
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().casefold()
    return answer in ("y", "yes")
