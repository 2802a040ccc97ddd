"""One home per fact (issue 11): each test fails when a second place disagrees with the first.

- transient causes: causes.toml `transient` (model.TRANSIENT_CAUSES is read from it);
- provider ids: the providers catalogue (providers.toml); diagnosis.PROVIDER_IDS is derived;
- provider greetings: providers.toml `greetings`; the diagnosis consults them before its
  [[hint]] patterns, so every catalogue greeting names its provider in a diagnosis too.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from console.core.diagnosis import PROVIDER_IDS, Failure, advise
from console.core.diagnosis.classify import provider_hint
from console.core.model import TRANSIENT_CAUSES, Cause, Protocol, Stage
from console.core.providers.catalog import all_providers

ROOT = Path(__file__).parent.parent
DIAGNOSIS = ROOT / "console" / "core" / "diagnosis"


def _toml(path: Path) -> dict[str, object]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def test_transient_causes_come_from_causes_toml() -> None:
    causes = _toml(DIAGNOSIS / "causes.toml")["cause"]
    assert isinstance(causes, dict)
    in_file = {Cause(name) for name, entry in causes.items() if entry.get("transient") is True}
    assert in_file == TRANSIENT_CAUSES
    for cause in Cause:
        assert advise(cause, Protocol.SMTP).transient is (cause in in_file), cause


def test_provider_ids_are_the_catalogue_ids() -> None:
    assert {p.id for p in all_providers()} == PROVIDER_IDS


def _named_providers() -> dict[str, set[str]]:
    rules = _toml(DIAGNOSIS / "rules.toml")
    named: dict[str, set[str]] = {}
    for rule in rules.get("rule", []):  # type: ignore[union-attr]
        for provider in rule.get("providers", []):
            named.setdefault(provider, set()).add(f"rules.toml rule {rule['id']}")
    for hint in rules.get("hint", []):  # type: ignore[union-attr]
        named.setdefault(hint["provider"], set()).add("rules.toml [[hint]]")
    for provider in _toml(DIAGNOSIS / "provider_fixes.toml"):
        named.setdefault(provider, set()).add("provider_fixes.toml")
    example = (ROOT / "accounts.example.toml").read_text(encoding="utf-8")
    for provider in re.findall(r'^provider\s*=\s*"([^"]+)"', example, re.MULTILINE):
        named.setdefault(provider, set()).add("accounts.example.toml")
    return named


def test_every_provider_id_in_any_data_file_is_in_the_catalogue() -> None:
    named = _named_providers()
    assert named  # the scan found the files
    unknown = {p: sorted(where) for p, where in named.items() if p not in PROVIDER_IDS}
    assert unknown == {}


@pytest.mark.parametrize(
    ("provider", "greeting"),
    [(p.id, g) for p in all_providers() for g in p.greetings],
)
def test_every_catalogue_greeting_names_its_provider_in_a_diagnosis(
    provider: str, greeting: str
) -> None:
    failure = Failure(Protocol.IMAP, Stage.AUTH, "a NO nope", greeting=f"* OK {greeting} x")
    assert provider_hint(failure) == provider


def test_the_port_table_is_one_table() -> None:
    """model.DEFAULT_PORTS is the home; the presets, the advice wording, the editor's hint and
    the diagnosis's well-known-port table (rules.toml [ports]) all agree with it."""
    from console.core.diagnosis.advice import _PORTS
    from console.core.diagnosis.rules import rule_table
    from console.core.model import DEFAULT_PORTS, Security
    from console.core.providers import STANDARD_PAIRS
    from console.ui.edits import _PORT_HINT

    well_known = rule_table().ports
    for protocol in (Protocol.IMAP, Protocol.SMTP):
        ports = DEFAULT_PORTS[protocol]
        tls, starttls = ports[Security.TLS], ports[Security.STARTTLS]
        assert STANDARD_PAIRS[protocol] == ((tls, Security.TLS), (starttls, Security.STARTTLS))
        assert _PORTS[protocol] == (str(tls), str(starttls))
        assert _PORT_HINT[protocol] == f"{tls} for TLS, {starttls} for STARTTLS"
        for mode, port in ports.items():
            assert mode in well_known[protocol][port], (protocol, port, mode)
