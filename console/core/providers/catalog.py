"""The provider catalogue: providers.toml read once, checked strictly, and indexed for lookups.

The data file is knowledge a reviewer edits without reading Python, so every mistake in it (an
unknown key, a port out of range, a security mode we do not have) stops the load with the key's
path instead of turning into a wrong suggestion at run time.
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources

from console.core.model import Security
from console.core.providers.names import REGION, PatternIndex, pattern_error
from console.core.providers.records import (
    Catalog,
    Provider,
    ServerPreset,
    Target,
    UsernameForm,
    Variant,
)

DATA_FILE = "providers.toml"
_ID = re.compile(r"[a-z][a-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDERS = frozenset({"domain", "region"})


class ProviderDataError(ValueError):
    """providers.toml breaks its own rules; the message names the file and the key."""


class _Table:
    """One TOML table being read: typed getters, and `done()` rejects the keys nobody asked for."""

    def __init__(self, data: object, path: str, source: str) -> None:
        if not isinstance(data, dict):
            raise ProviderDataError(f"{source}: {path}: expected a table")
        self._data: dict[str, object] = dict(data)
        self.path = path
        self.source = source

    def error(self, key: str, message: str) -> ProviderDataError:
        return ProviderDataError(f"{self.source}: {self.path}.{key}: {message}")

    def _take(self, key: str, kind: type, what: str) -> object:
        value = self._data.pop(key, None)
        if value is None:
            return None
        # bool is an int in Python; in the data file a flag is never a number or the reverse.
        fits = isinstance(value, kind) and (isinstance(value, bool) == (kind is bool))
        if not fits:
            raise self.error(key, f"expected {what}, got {value!r}")
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._take(key, str, "a string")
        if value is None and required:
            raise self.error(key, "is required")
        if isinstance(value, str) and not value.strip():
            raise self.error(key, "must not be empty")
        return value if isinstance(value, str) else None

    def url(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and (not value.startswith("https://") or " " in value):
            raise self.error(key, f"{value!r} is not an https:// address")
        return value

    def flag(self, key: str) -> bool:
        return self._take(key, bool, "true or false") is True

    def integer(self, key: str) -> int | None:
        value = self._take(key, int, "a whole number")
        return value if isinstance(value, int) else None

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._take(key, list, "a list of strings")
        items = value if isinstance(value, list) else []
        if not all(isinstance(item, str) and item.strip() for item in items):
            raise self.error(key, "expected a list of non-empty strings")
        return tuple(str(item) for item in items)

    def patterns(self, key: str) -> tuple[str, ...]:
        values = self.texts(key)
        for value in values:
            if (why := pattern_error(value)) is not None:
                raise self.error(key, f"{value!r} {why}")
        return values

    def table(self, key: str) -> _Table | None:
        value = self._data.pop(key, None)
        return None if value is None else _Table(value, f"{self.path}.{key}", self.source)

    def tables(self, key: str) -> list[_Table]:
        value = self._take(key, list, "a list of tables")
        items = value if isinstance(value, list) else []
        return [
            _Table(item, f"{self.path}.{key}[{i}]", self.source) for i, item in enumerate(items)
        ]

    def done(self) -> None:
        if self._data:
            keys = ", ".join(sorted(self._data))
            raise ProviderDataError(f"{self.source}: {self.path}: unknown key(s): {keys}")


def _host_template(table: _Table, host: str, default_region: str | None) -> str:
    names = set(_PLACEHOLDER.findall(host))
    if unknown := names - _PLACEHOLDERS:
        raise table.error("host", f"unknown placeholder(s) {sorted(unknown)} in {host!r}")
    if "region" in names and default_region is None:
        raise table.error(
            "host", f"{host!r} uses {{region}} but the provider has no default_region"
        )
    sample = host.replace("{domain}", "example.com").replace("{region}", "us-east-1")
    if "*" in sample or pattern_error(sample) is not None:
        raise table.error("host", f"{host!r} is not a host name")
    return host


def _preset(
    table: _Table, default_region: str | None, default_form: UsernameForm | None
) -> ServerPreset:
    host = _host_template(table, table.text("host", required=True) or "", default_region)
    port = table.integer("port")
    if port is None or not 1 <= port <= 65535:
        raise table.error("port", f"{port!r} is not a port (1-65535)")
    security_text = table.text("security", required=True) or ""
    try:
        security = Security(security_text)
    except ValueError:
        choices = ", ".join(s.value for s in Security)
        raise table.error("security", f"{security_text!r} is not one of {choices}") from None
    form_text = table.text("username_form")
    if form_text is None:
        if default_form is None:
            raise table.error("username_form", "is required")
        form = default_form
    else:
        try:
            form = UsernameForm(form_text)
        except ValueError:
            choices = ", ".join(f.value for f in UsernameForm)
            raise table.error("username_form", f"{form_text!r} is not one of {choices}") from None
    label = table.text("label") or ""
    table.done()
    return ServerPreset(host, port, security, form, label)


def _presets(
    table: _Table, key: str, default_region: str | None
) -> tuple[ServerPreset | None, tuple[ServerPreset, ...]]:
    sub = table.table(key)
    main = _preset(sub, default_region, None) if sub is not None else None
    alternatives = tuple(
        _preset(alt, default_region, main.username_form if main else None)
        for alt in table.tables(f"{key}_alternatives")
    )
    if alternatives and main is None:
        raise table.error(f"{key}_alternatives", f"alternatives need a main {key} preset")
    return main, alternatives


def _variant(table: _Table, default_region: str | None) -> Variant:
    variant_id = table.text("id", required=True) or ""
    if not _ID.fullmatch(variant_id):
        raise table.error("id", f"{variant_id!r} is not an id (a-z, 0-9, _)")
    label = table.text("label", required=True) or ""
    domains, mx = table.patterns("domains"), table.patterns("mx")
    imap_table, smtp_table = table.table("imap"), table.table("smtp")
    imap = _preset(imap_table, default_region, None) if imap_table else None
    smtp = _preset(smtp_table, default_region, None) if smtp_table else None
    if imap is None and smtp is None:
        raise table.error("imap", "a variant needs an imap or an smtp preset")
    table.done()
    return Variant(variant_id, label, domains, mx, imap, smtp)


SIGN_IN_PLATFORMS = ("microsoft", "google")
"""Identity platforms `sign_in` may name (console/core/oauth signs in with them)."""


def _provider(provider_id: str, table: _Table) -> Provider:
    if not _ID.fullmatch(provider_id):
        raise ProviderDataError(f"{table.source}: {provider_id!r} is not an id (a-z, 0-9, _)")
    default_region = table.text("default_region")
    if default_region is not None and not REGION.fullmatch(default_region):
        raise table.error("default_region", f"{default_region!r} is not a region name")
    imap, imap_alternatives = _presets(table, "imap", default_region)
    smtp, smtp_alternatives = _presets(table, "smtp", default_region)
    variants = tuple(_variant(t, default_region) for t in table.tables("variants"))
    provider = Provider(
        id=provider_id,
        name=table.text("name", required=True) or "",
        domains=table.patterns("domains"),
        mx=table.patterns("mx"),
        hosts=table.patterns("hosts"),
        greetings=table.texts("greetings"),
        imap=imap,
        smtp=smtp,
        imap_alternatives=imap_alternatives,
        smtp_alternatives=smtp_alternatives,
        variants=variants,
        default_region=default_region,
        send_only=table.flag("send_only"),
        app_password_required=table.flag("app_password_required"),
        oauth2_required_imap=table.flag("oauth2_required_imap"),
        oauth2_required_smtp=table.flag("oauth2_required_smtp"),
        imap_switch=table.flag("imap_switch"),
        imap_off_by_default=table.flag("imap_off_by_default"),
        custom_domain_provider=table.text("custom_domain_provider"),
        sign_in=table.text("sign_in"),
        app_password_url=table.url("app_password_url"),
        enable_imap_url=table.url("enable_imap_url"),
        help_url=table.url("help_url"),
    )
    table.done()
    _check_rules(provider, table)
    return provider


def _check_rules(p: Provider, table: _Table) -> None:
    """Rules that tie fields together: a relay has no IMAP, a switch off by default exists, ..."""
    if p.sign_in is not None and p.sign_in not in SIGN_IN_PLATFORMS:
        raise table.error("sign_in", f"must be one of {', '.join(SIGN_IN_PLATFORMS)}")
    if len({v.id for v in p.variants}) != len(p.variants):
        raise table.error("variants", "variant ids must be unique")
    if p.smtp is None:
        raise table.error("smtp", "every provider needs an smtp preset")
    if p.send_only:
        if p.imap is not None or any(v.imap for v in p.variants):
            raise table.error("imap", "a send_only provider has no IMAP server")
        if p.imap_switch or p.enable_imap_url or p.oauth2_required_imap:
            raise table.error("send_only", "IMAP flags and links make no sense for a relay")
    elif p.imap is None:
        raise table.error("imap", "every provider that is not send_only needs an imap preset")
    if p.imap_off_by_default and not p.imap_switch:
        raise table.error("imap_off_by_default", "needs imap_switch = true")
    if p.custom_domain_provider == p.id:
        raise table.error("custom_domain_provider", "must name another provider")


def _index(source: str, kind: str, entries: list[tuple[str, Target]]) -> PatternIndex[Target]:
    seen: dict[str, Target] = {}
    for pattern, target in entries:
        if pattern in seen:
            first = seen[pattern]
            raise ProviderDataError(
                f"{source}: {kind} {pattern!r} is listed twice"
                f" ({first.provider} and {target.provider})"
            )
        seen[pattern] = target
    return PatternIndex(entries)


def parse_catalog(text: str, source: str = DATA_FILE) -> Catalog:
    """Read and check the provider data; raises ProviderDataError naming the first mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProviderDataError(f"{source}: {exc}") from None
    providers = {pid: _provider(pid, _Table(raw, pid, source)) for pid, raw in data.items()}
    domains: list[tuple[str, Target]] = []
    mx: list[tuple[str, Target]] = []
    hosts: list[tuple[str, Target]] = []
    greetings: list[tuple[str, str]] = []
    for p in providers.values():
        other = p.custom_domain_provider
        if other is not None and other not in providers:
            raise ProviderDataError(
                f"{source}: {p.id}.custom_domain_provider: unknown provider {other!r}"
            )
        domains += [(d, Target(p.id)) for d in p.domains]
        mx += [(m, Target(p.id)) for m in p.mx]
        hosts += [(h, Target(p.id)) for h in p.hosts]
        greetings += [(g.casefold(), p.id) for g in p.greetings]
        for v in p.variants:
            domains += [(d, Target(p.id, v.id)) for d in v.domains]
            mx += [(m, Target(p.id, v.id)) for m in v.mx]
    if len({g for g, _ in greetings}) != len(greetings):
        raise ProviderDataError(f"{source}: a greeting is listed twice")
    return Catalog(
        providers=providers,
        domains=_index(source, "domain", domains),
        mx=_index(source, "mx", mx),
        hosts=_index(source, "host", hosts),
        greetings=tuple(greetings),
    )


@functools.cache
def load_catalog() -> Catalog:
    """The shipped catalogue, read and checked on first use."""
    text = resources.files("console.core.providers").joinpath(DATA_FILE).read_text("utf-8")
    return parse_catalog(text)


def get_provider(provider_id: str) -> Provider:
    """The provider with this id; KeyError (naming the known ids) for any other."""
    providers = load_catalog().providers
    try:
        return providers[provider_id]
    except KeyError:
        known = ", ".join(providers)
        raise KeyError(f"unknown provider {provider_id!r}; known: {known}") from None


def all_providers() -> tuple[Provider, ...]:
    """Every provider, in the data file's order."""
    return tuple(load_catalog().providers.values())
