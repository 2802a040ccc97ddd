"""Validate the raw account file: raw TOML -> Settings, Accounts and every problem found.

Each problem becomes a ConfigIssue naming its account and dotted field; the valid accounts stay
usable, so one bad account never hides the other 300.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeGuard

from console.core.model import (
    AUTHORITIES,
    DEFAULT_PORTS,
    Account,
    AuthMethod,
    Cause,
    ConfigIssue,
    Protocol,
    Security,
    ServerSettings,
    Settings,
    SignIn,
)
from console.core.providers.catalog import ProviderDataError, all_providers, get_provider
from console.core.providers.detection import decide_provider

_MISSING = Cause.SETTINGS_MISSING
_INVALID = Cause.SETTINGS_INVALID

_SECRET_NAMES = frozenset({"password", "passwd", "pass", "token", "secret", "api_key", "apikey"})
_SECRET_SUFFIXES = ("_password", "_passwd", "_token", "_secret")
NOT_SECRET = "oauth2_client_secret"
"""Google's installed-app client secret: Google documents it as not confidential (it ships inside
every desktop app), so the account file may hold it."""


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Keys that would hold a password or token (never in the file); `*_command` keys are fine."""
    k = key.strip().lower()
    if k.endswith("_command") or k == NOT_SECRET:
        return False
    return k in _SECRET_NAMES or k.endswith(_SECRET_SUFFIXES)


def secret_locations(value: Any, where: str = "") -> list[str]:
    """Dotted locations of password/token keys that hold a value (names only, never values)."""
    found: list[str] = []
    _find_secrets(value, where, found)
    return found


def _find_secrets(value: Any, where: str, found: list[str]) -> None:
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(value, dict | Mapping):
        pairs, template = value.items(), (f"{where}.{{}}" if where else "{}")
    elif isinstance(value, list | tuple):
        pairs, template = enumerate(value), f"{where}[{{}}]"
    else:
        return
    for key, item in pairs:
        if isinstance(key, str) and item is not None and is_secret_key(key):
            found.append(template.format(key))
        elif isinstance(item, dict | list | tuple | Mapping):
            _find_secrets(item, template.format(key), found)


@functools.lru_cache(maxsize=256)
def _is_file(path: Path) -> bool:
    """A fleet shares a handful of CA files: 10,000 accounts need not stat one 20,000 times."""
    return path.is_file()


def validate(
    raw: Mapping[str, Any], *, base_dir: Path | None = None
) -> tuple[Settings, tuple[Account, ...], tuple[ConfigIssue, ...]]:
    """Turn parsed TOML into model objects, reporting every problem instead of stopping."""
    _is_file.cache_clear()  # one look per CA file per load, fresh on every load
    issues: list[ConfigIssue] = []
    report = _Reporter(None, issues)
    for where in secret_locations({k: v for k, v in raw.items() if k != "account"}):
        report(where, _SECRET_MESSAGE)
    settings = _settings(raw.get("settings"), report)
    accounts: list[Account] = []
    entries = raw.get("account", [])
    if "account" not in raw and "accounts" in raw:
        report("accounts", "accounts are written [[account]] (singular); none were read")
    elif isinstance(entries, dict):
        report("account", "write [[account]] (an array of tables), not [account]")
    elif not isinstance(entries, list):
        report("account", "must be a list of [[account]] tables")
    if not isinstance(entries, list):
        entries = []
    _unknown_keys(raw, issues)
    seen: dict[str, int] = {}
    settings_table = raw.get("settings")
    sign_in_table = _sign_in_keys(settings_table, report, "settings", base_dir)
    for n, entry in enumerate(entries, start=1):
        account = _account(n, entry, seen, issues, base_dir, sign_in_table)
        if account is not None:
            accounts.append(account)
    return settings, tuple(accounts), tuple(issues)


def _show(value: object) -> str:
    """A short rendering of a (non-secret) bad value; control characters escaped, never raw."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _settings(table: object, report: _Reporter) -> Settings:
    defaults = Settings()
    if table is None:
        return defaults
    if not isinstance(table, dict):
        report("settings", "[settings] must be a table")
        return defaults

    def whole(key: str, minimum: int, default: int) -> int:
        value = table.get(key, default)
        if _is_int(value) and value >= minimum:
            return int(value)
        report(f"settings.{key}", f"must be a whole number >= {minimum}, not {_show(value)}")
        return default

    timeout = table.get("timeout", defaults.timeout)
    if not (_is_number(timeout) and math.isfinite(timeout) and timeout > 0):
        report("settings.timeout", f"must be a number of seconds > 0, not {_show(timeout)}")
        timeout = defaults.timeout
    return Settings(
        concurrency=whole("concurrency", 1, defaults.concurrency),
        per_host=whole("per_host", 1, defaults.per_host),
        timeout=float(timeout),
        recheck_minutes=whole("recheck_minutes", 0, defaults.recheck_minutes),
        canary_hold_minutes=_hold_minutes(
            table, "canary_hold_minutes", defaults.canary_hold_minutes, report
        ),
        history_days=whole("history_days", 1, defaults.history_days),
        flap_changes=whole("flap_changes", 2, defaults.flap_changes),
        flap_window_hours=whole("flap_window_hours", 1, defaults.flap_window_hours),
        check_deadline=_check_deadline(table, report),
    )


def _check_deadline(table: dict[str, Any], report: _Reporter) -> float | None:
    """The overall deadline of one check in seconds (absent: 4 x timeout)."""
    value = table.get("check_deadline")
    if value is None:
        return None
    if _is_number(value) and math.isfinite(value) and value > 0:
        return float(value)
    report("settings.check_deadline", f"must be a number of seconds > 0, not {_show(value)}")
    return None


def _hold_minutes(table: dict[str, Any], key: str, default: float, report: _Reporter) -> float:
    """The reply canary's hold time in minutes: a number >= 0 (fractions allowed)."""
    value = table.get(key, default)
    if _is_number(value) and math.isfinite(value) and value >= 0:
        return float(value)
    report(f"settings.{key}", f"must be minutes >= 0, not {_show(value)}")
    return default


@functools.cache
def _known_providers() -> frozenset[str]:
    """Provider ids from the shipped catalogue; empty (no check) if it cannot be read."""
    try:
        return frozenset(p.id for p in all_providers())
    except (ProviderDataError, OSError):
        return frozenset()


class _Reporter:
    """Records issues for one account, so each names the account without repeating it."""

    def __init__(self, account: str | None, sink: list[ConfigIssue]) -> None:
        self.account = account
        self.sink = sink

    def __call__(self, field: str, message: str, cause: Cause = _INVALID) -> None:
        self.sink.append(ConfigIssue(message, self.account, field, cause))


MAX_EMAIL = 254  # RFC 5321's path limit
MAX_NAME = 256
MAX_TAG = 64
MAX_TAGS = 64
MAX_TEXT = 1024  # username, mailbox
MAX_COMMAND = 4096  # password_command, oauth2_token_command


def _valid_address(value: object) -> TypeGuard[str]:
    """name@domain, at most MAX_EMAIL characters, no spaces, controls, bidi or invisible chars."""
    if not isinstance(value, str) or not value or len(value) > MAX_EMAIL:
        return False
    if any(c.isspace() or not c.isprintable() for c in value):
        return False
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain and "." not in (domain[0], domain[-1]))


def _account(
    n: int,
    entry: object,
    seen: dict[str, int],
    issues: list[ConfigIssue],
    base_dir: Path | None,
    sign_in_table: Mapping[str, str],
) -> Account | None:
    """One [[account]] table; None (with an issue) when it has no usable email."""
    dropped = _Reporter(f"account #{n}", issues)
    if not isinstance(entry, dict):
        dropped("account", "each account must be a table ([[account]])")
        return None
    email = entry.get("email")
    if email is None or email == "":
        dropped("email", "missing: every account needs its From address; ignored", _MISSING)
        return None
    if not _valid_address(email):
        dropped("email", f"{_show(email)} is not an email address (name@domain); ignored")
        return None
    first = seen.setdefault(email.casefold(), n)
    if first != n:
        _Reporter(email, issues)("email", f"appears again as account #{n}; only #{first} is used")
        return None

    own: list[ConfigIssue] = []
    issue = _Reporter(email, own)

    def text(key: str) -> str | None:
        value = entry.get(key)
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        issue(key, f"must be a non-empty string, not {_show(value)}")
        return None

    name = text("name")
    if name is not None and len(name) > MAX_NAME:
        issue("name", f"is {len(name)} characters long; keep it under {MAX_NAME}")
        name = name[:MAX_NAME]
    provider = text("provider")
    if provider is not None:
        provider = provider.strip().lower()
        known = _known_providers()
        if known and provider not in known:
            issue(
                "provider",
                f"unknown provider {_show(provider)}; leave it out to detect it from "
                f"the domain, or use one of: {', '.join(sorted(known))}",
            )
            provider = None
    tags_value = entry.get("tags", [])
    tags: tuple[str, ...] = ()
    if isinstance(tags_value, list) and all(isinstance(t, str) for t in tags_value):
        tags = tuple(t for t in tags_value if len(t) <= MAX_TAG)[:MAX_TAGS]
        if len(tags) != len(tags_value):
            issue("tags", f"at most {MAX_TAGS} tags of at most {MAX_TAG} characters each are kept")
    else:
        issue("tags", f'must be a list of strings like ["acme"], not {_show(tags_value)}')
    send_only = entry.get("send_only", False)
    if not isinstance(send_only, bool):
        issue("send_only", f"must be true or false, not {_show(send_only)}")
        send_only = False
    reply_address = entry.get("reply_address")
    reply_ok = reply_address is None or _valid_address(reply_address)
    if not reply_ok:
        issue("reply_address", f"{_show(reply_address)} is not an email address (name@domain)")
        reply_address = None
    for where in secret_locations(entry):
        issue(where, _SECRET_MESSAGE)

    smtp = _server(Protocol.SMTP, entry, email, issue, base_dir)
    imap_username = reply_address or email
    imap_table = entry.get("imap")
    if not reply_ok and isinstance(imap_table, dict) and "username" not in imap_table:
        issue(
            "imap.username",
            "defaults to reply_address, which is not valid; fix reply_address or set imap.username",
        )
    imap = _server(Protocol.IMAP, entry, imap_username, issue, base_dir)
    own_sign_in = {**sign_in_table, **_sign_in_keys(entry, issue, None, base_dir)}
    account = Account(email=email, provider=provider, reply_address=reply_address)
    smtp = _with_sign_in(smtp, replace(account, smtp=smtp, imap=imap), own_sign_in, issue)
    imap = _with_sign_in(imap, replace(account, smtp=smtp, imap=imap), own_sign_in, issue)
    hold = entry.get("canary_hold_minutes")
    if hold is not None and not (_is_number(hold) and math.isfinite(hold) and hold >= 0):
        issue("canary_hold_minutes", f"must be minutes >= 0, not {_show(hold)}")
        hold = None
    issues.extend(own)
    return Account(
        email=email,
        name=name,
        tags=tags,
        provider=provider,
        reply_address=reply_address,
        send_only=send_only,
        smtp=smtp,
        imap=imap,
        issues=tuple(own),
        canary_hold_minutes=float(hold) if hold is not None else None,
    )


_SECRET_MESSAGE = (
    "passwords and tokens are never read from this file; remove it and store the secret in "
    "the keyring (mailconsole asks for it) or set password_command"
)
_HINTS = {"ssl": "tls", "ssl/tls": "tls", "plain": "none", "plaintext": "none"}


@functools.cache
def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


def _choice(
    table: Mapping[str, Any], key: str, default: StrEnum, field: str, issue: _Reporter
) -> str:
    """One of an enum's values (any case), else the default with an issue naming the choices."""
    value = table.get(key, default.value)
    choices = _values(type(default))
    word = value.strip().lower() if isinstance(value, str) else None
    if word in choices:
        return word
    hint = (
        f' (did you mean "{_HINTS[word]}"?)' if word in _HINTS and _HINTS[word] in choices else ""
    )
    listed = ", ".join(f'"{c}"' for c in choices)
    issue(field, f"must be one of {listed}, not {_show(value)}{hint}")
    return default.value


def _server(
    protocol: Protocol,
    entry: Mapping[str, Any],
    default_username: str,
    issue: _Reporter,
    base_dir: Path | None,
) -> ServerSettings | None:
    """[account.smtp] / [account.imap]: None when absent or without a host, else settings
    (possibly with issues recorded, which fail that protocol's check at the `config` stage)."""
    p = protocol.value
    table = entry.get(p)
    if table is None:
        return None  # simply not configured
    if not isinstance(table, dict):
        issue(
            f"{p}.host",
            f"{p} must be a table ([account.{p}] with host, port, ...), not {_show(table)}",
        )
        return None

    host = table.get("host")
    host_ok = isinstance(host, str) and host.strip() != ""
    if host is None or (isinstance(host, str) and not host_ok):
        issue(f"{p}.host", f"missing: the server name, e.g. {_EXAMPLE_HOST[protocol]}", _MISSING)
    elif not isinstance(host, str):
        issue(f"{p}.host", f"must be a server name, not {_show(host)}")
    elif problem := _host_problem(host):
        issue(f"{p}.host", problem)

    security = Security(_choice(table, "security", Security.TLS, f"{p}.security", issue))
    port = DEFAULT_PORTS[protocol][security]
    raw_port = table.get("port")
    if raw_port is not None:
        if _is_int(raw_port) and 1 <= raw_port <= 65535:
            port = int(raw_port)
        elif isinstance(raw_port, str) and raw_port.strip().isdigit():
            issue(f"{p}.port", f"must be a number without quotes: port = {raw_port.strip()}")
        else:
            issue(f"{p}.port", f"must be a whole number from 1 to 65535, not {_show(raw_port)}")

    def text(key: str, default: str | None, *, secret: bool = False) -> str | None:
        value = table.get(key)
        if value is None:
            return default
        limit = MAX_COMMAND if key.endswith(("_command", "_file")) else MAX_TEXT
        if isinstance(value, str) and value.strip() and len(value) <= limit:
            return value
        if isinstance(value, str) and len(value) > limit:
            issue(f"{p}.{key}", f"is {len(value)} characters long; at most {limit} are read")
            return default
        shown = "that value" if secret else _show(value)
        issue(f"{p}.{key}", f"must be a non-empty string, not {shown}")
        return default

    username = text("username", default_username) or default_username
    password_command = text("password_command", None, secret=True)
    token_command = text("oauth2_token_command", None, secret=True)
    mailbox = (text("mailbox", "INBOX") or "INBOX") if protocol is Protocol.IMAP else "INBOX"

    auth = AuthMethod(_choice(table, "auth", AuthMethod.PASSWORD, f"{p}.auth", issue))

    ca_file = text("tls_ca_file", None)
    if ca_file is not None:
        ca_path = Path(ca_file).expanduser()
        if not ca_path.is_absolute() and base_dir is not None:
            ca_path = base_dir / ca_path
        if not _is_file(ca_path):
            issue(f"{p}.tls_ca_file", f"no such file: {ca_path}")
        ca_file = str(ca_path)

    if not host_ok:
        return None
    return ServerSettings(
        protocol=protocol,
        host=str(host),
        port=port,
        security=security,
        username=username,
        auth=auth,
        password_command=password_command,
        oauth2_token_command=token_command,
        tls_ca_file=ca_file,
        mailbox=mailbox,
    )


SIGN_IN_KEYS = (
    "oauth2_client_id",
    "oauth2_client_secret",
    "oauth2_tenant",
    "oauth2_authority",
    "oauth2_ca_file",
)
"""Where a built-in sign-in goes ([settings], overridden per account; docs/oauth2.md)."""


def _sign_in_keys(
    table: object, issue: _Reporter, prefix: str | None, base_dir: Path | None
) -> dict[str, str]:
    """The sign-in keys a table sets, each a non-empty string (an https URL for the authority)."""
    if not isinstance(table, dict):
        return {}
    found: dict[str, str] = {}
    for key in SIGN_IN_KEYS:
        value = table.get(key)
        where = f"{prefix}.{key}" if prefix else key
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_COMMAND:
            issue(where, f"must be a non-empty string, not {_show(value)}")
            continue
        value = value.strip()
        if key == "oauth2_authority" and not value.startswith("https://"):
            issue(where, f"must be an https:// address, not {_show(value)}")
            continue
        if key == "oauth2_ca_file":
            path = Path(value).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not _is_file(path):
                issue(where, f"no such file: {path}")
                continue
            value = str(path)
        found[key] = value
    return found


def _with_sign_in(
    server: ServerSettings | None,
    account: Account,
    keys: Mapping[str, str],
    issue: _Reporter,
) -> ServerSettings | None:
    """`auth = "oauth2"` without a token command: the provider's built-in sign-in, or an issue."""
    if server is None or server.auth is not AuthMethod.OAUTH2 or server.oauth2_token_command:
        return server
    field = f"{server.protocol.value}.oauth2_token_command"
    decided = decide_provider(account, server.protocol).provider
    known = get_provider(decided) if decided else None
    platform = known.sign_in if known else None
    if known is None or platform is None:
        issue(
            field,
            'auth = "oauth2" needs oauth2_token_command (the command that prints an access '
            'token), or a provider whose sign-in is built in: set provider = "microsoft365" '
            'or "outlook" for a Microsoft mailbox (or "gmail", "google_workspace" for Google), '
            "then run `mailconsole login EMAIL`",
            _MISSING,
        )
        return server
    sign_in = SignIn(
        platform=platform,
        email=account.email,
        client_id=keys.get("oauth2_client_id"),
        tenant=keys.get("oauth2_tenant", SignIn.tenant),
        authority=keys.get("oauth2_authority", AUTHORITIES[platform]),
        ca_file=keys.get("oauth2_ca_file"),
        client_secret=keys.get("oauth2_client_secret"),
    )
    return replace(server, sign_in=sign_in)


_EXAMPLE_HOST = {Protocol.SMTP: "smtp.gmail.com", Protocol.IMAP: "imap.gmail.com"}
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+(%\w+)?$")


def _host_problem(host: str) -> str | None:
    """Why a host value is malformed (a scheme, spaces, a path, a port), or None."""
    if "://" in host:
        scheme, _, rest = host.partition("://")
        name = rest.split("/")[0]
        return f"remove {_show(scheme + '://')}: host is the server name only, e.g. {_show(name)}"
    if any(c.isspace() for c in host):
        return f"must not contain spaces: {_show(host)}"
    if "/" in host or "@" in host:
        return f"must be a server name only, not {_show(host)}"
    if ":" in host and not _IPV6.match(host):
        name, _, port = host.rpartition(":")
        port = port if port.isdigit() else "..."
        return f"must not include the port; write host = {_show(name)} and port = {port}"
    if len(host) > 253 or ".." in host or host.startswith((".", "-")):
        return f"is not a valid server name: {_show(host)}"
    labels = host.rstrip(".").split(".")
    if not _is_ip(host) and not all(_HOST_LABEL.match(label) for label in labels):
        return (
            f"is not a server name or IP address: {_show(host)} (letters, digits, '-' and '.' "
            "only; no control or invisible characters)"
        )
    return None


_HOST_LABEL = re.compile(r"^(?:[^\W_]|[-_]){1,63}$")
"""One label of a host name: letters (internationalised names too), digits, '-', '_'."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


SETTINGS_KEYS = frozenset(
    {
        "concurrency",
        "per_host",
        "timeout",
        "recheck_minutes",
        "check_deadline",
        "canary_hold_minutes",
        "history_days",
        "flap_changes",
        "flap_window_hours",
        *SIGN_IN_KEYS,
    }
)
ACCOUNT_KEYS = frozenset(
    {
        "email",
        "name",
        "tags",
        "provider",
        "reply_address",
        "send_only",
        "smtp",
        "imap",
        "canary_hold_minutes",
        *SIGN_IN_KEYS,
    }
)
SERVER_KEYS = frozenset(
    {
        "host",
        "port",
        "security",
        "username",
        "password_command",
        "auth",
        "oauth2_token_command",
        "tls_ca_file",
        "mailbox",
    }
)
"""The keys mailconsole reads (accounts.example.toml documents each). Others are kept when the
file is written back, and named once as a warning: a misspelled `pasword_command` would otherwise
be ignored without a word. Warnings never fail a check (they name no protocol field)."""


def _unknown_keys(raw: Mapping[str, Any], issues: list[ConfigIssue]) -> None:
    def check(table: object, known: frozenset[str], where: str) -> None:
        if not isinstance(table, dict):
            return
        for key in table:
            if key in known or is_secret_key(key):  # secrets have their own message
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else " (kept, not used by mailconsole)"
            issues.append(ConfigIssue(f"{where} has an unknown key {_show(key)}{hint}"))

    check(raw, frozenset({"settings", "account", "accounts"}), "the file")
    check(raw.get("settings"), SETTINGS_KEYS, "[settings]")
    entries = raw.get("account")
    for n, entry in enumerate(entries if isinstance(entries, list) else [], start=1):
        if not isinstance(entry, dict):
            continue
        who = entry.get("email") if isinstance(entry.get("email"), str) else f"account #{n}"
        check(entry, ACCOUNT_KEYS, f"[[account]] {_show(who)}")
        for protocol in ("smtp", "imap"):
            check(entry.get(protocol), SERVER_KEYS, f"[account.{protocol}] of {_show(who)}")
