"""The reply corpus (tests/data/replies/*.toml): real server replies with their causes and sources.

Format and rules: docs/reply-corpus.md. `load_corpus()` reads and checks every file (a typo in
the data fails loudly, naming the file and the entry); `Entry.failure()` is the evidence the
classifier sees for the reply. Used by tests/test_reply_corpus.py and
benchmarks/diagnosis_corpus.py.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from console.core.diagnosis import Failure
from console.core.diagnosis.failure import PROVIDER_IDS
from console.core.model import AuthMethod, Cause, Protocol, Stage

CORPUS_DIR = Path(__file__).parent / "data" / "replies"
KINDS = frozenset({"provider", "software", "relay", "standard"})
STAGES = frozenset(
    {Stage.GREETING, Stage.CAPABILITY, Stage.EHLO, Stage.STARTTLS, Stage.AUTH, Stage.MAILBOX}
)
_FILE_KEYS = frozenset({"family", "kind", "name", "reply"})
_REQUIRED = frozenset({"id", "protocol", "stage", "text", "cause", "source"})
_OPTIONAL = frozenset(
    {"code", "also", "provider", "greeting", "capabilities", "auth", "catalog", "note"}
)


class CorpusError(ValueError):
    """A corpus file breaks the format of docs/reply-corpus.md."""


@dataclass(frozen=True)
class Entry:
    id: str
    family: str
    kind: str
    protocol: Protocol
    stage: Stage
    text: str
    cause: Cause
    also: tuple[Cause, ...]
    source: str
    code: int | None = None
    provider: str | None = None
    greeting: str | None = None
    capabilities: frozenset[str] = frozenset()
    auth: AuthMethod | None = None
    catalog: str | None = None

    @property
    def accepted(self) -> frozenset[Cause]:
        return frozenset((self.cause, *self.also))

    def failure(self) -> Failure:
        return Failure(
            self.protocol,
            self.stage,
            self.text,
            smtp_code=self.code,
            greeting=self.greeting,
            capabilities=self.capabilities,
            auth=self.auth,
        )


@cache
def load_corpus(directory: Path = CORPUS_DIR) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        for entry in _load_file(path):
            if entry.id in seen:
                raise CorpusError(f"{path.name}: id {entry.id!r} is also in {seen[entry.id]}")
            seen[entry.id] = path.name
            entries.append(entry)
    return tuple(entries)


def _load_file(path: Path) -> list[Entry]:
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{where}: {exc}") from None
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise CorpusError(f"{where}: unknown keys {sorted(unknown)}")
    family, kind = data.get("family"), data.get("kind")
    if family != path.name.split(".")[0]:
        raise CorpusError(f"{where}: family {family!r} must be the file name up to its first dot")
    if kind not in KINDS:
        raise CorpusError(f"{where}: kind must be one of {sorted(KINDS)}, not {kind!r}")
    replies = data.get("reply", [])
    if not isinstance(replies, list) or not replies:
        raise CorpusError(f"{where}: no [[reply]] entries")
    return [_entry(raw, family, kind, where) for raw in replies]


def _entry(raw: dict[str, Any], family: str, kind: str, where: str) -> Entry:
    rid = raw.get("id")
    where = f"{where}: entry {rid!r}"
    missing = _REQUIRED - set(raw)
    if missing:
        raise CorpusError(f"{where}: missing {sorted(missing)}")
    unknown = set(raw) - _REQUIRED - _OPTIONAL
    if unknown:
        raise CorpusError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(rid, str) or not rid.startswith(f"{family}-"):
        raise CorpusError(f"{where}: the id must start with the family, {family}-")
    protocol = _enum(Protocol, raw["protocol"], where)
    stage = _enum(Stage, raw["stage"], where)
    if stage not in STAGES:
        raise CorpusError(f"{where}: stage {stage} is not one where a server replies")
    text = raw["text"]
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{where}: empty text")
    source = raw["source"]
    if not isinstance(source, str) or not source.startswith(("https://", "http://")):
        raise CorpusError(f"{where}: the source must be an address (https://...)")
    code = raw.get("code")
    if code is not None and (protocol is not Protocol.SMTP or not isinstance(code, int)):
        raise CorpusError(f"{where}: code is an SMTP reply code (an integer)")
    provider = raw.get("provider")
    if provider is not None and provider not in PROVIDER_IDS:
        raise CorpusError(f"{where}: unknown provider {provider!r}")
    auth = raw.get("auth")
    return Entry(
        id=rid,
        family=family,
        kind=kind,
        protocol=protocol,
        stage=stage,
        text=text,
        cause=_enum(Cause, raw["cause"], where),
        also=tuple(_enum(Cause, c, where) for c in raw.get("also", [])),
        source=source,
        code=code,
        provider=provider,
        greeting=raw.get("greeting"),
        capabilities=frozenset(str(c).upper() for c in raw.get("capabilities", [])),
        auth=None if auth is None else _enum(AuthMethod, auth, where),
        catalog=raw.get("catalog"),
    )


def _enum(kind: Any, value: object, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise CorpusError(f"{where}: {value!r} is not a {kind.__name__}") from None
