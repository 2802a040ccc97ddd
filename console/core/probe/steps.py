"""The ladder recorder shared by both probes: timed stages, the transcript, and the first rungs.

Every stage runs under its own deadline; whatever goes wrong inside one becomes a `StageFailure`
carrying the server's text verbatim, which `Ladder.failed()` turns into a classified result.
Every string that reaches a result passes through `Ladder.redact`, so a secret that a server or a
library echoes back is still never shown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from console.core.diagnosis import Failure, classify, port_security_mismatch
from console.core.diagnosis.classify import provider_hint
from console.core.model import (
    Cause,
    CheckResult,
    FactValue,
    Protocol,
    Security,
    ServerSettings,
    Stage,
    Status,
    Step,
)
from console.core.redact import Redactor
from console.core.resolver import Resolve, resolve_once
from console.core.secrets import OUT_OF_FDS, RESOURCE_ERRNOS

log = logging.getLogger(__name__)

TRANSCRIPT_LINES = 200
TRANSCRIPT_LINE_CHARS = 400
DETAIL_CHARS = 2000
CLOSE_WAIT_SECONDS = 1.0


class StageFailure(Exception):
    """A rung failed. `text` is what the server said verbatim, or what went wrong.

    `cause` is set only for structural findings the server's text cannot carry (no STARTTLS
    offered, a greeting from another protocol); everything else is left to the classifier.
    """

    def __init__(
        self,
        text: str,
        *,
        exc: BaseException | None = None,
        smtp_code: int | None = None,
        cause: Cause | None = None,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.exc = exc
        self.smtp_code = smtp_code
        self.cause = cause
        self.stage: Stage | None = None


class ServerClosed(ConnectionResetError):
    """The server closed the connection while we waited for it."""


class ProtocolViolation(ValueError):
    """The server sent something the protocol does not allow (endless line, flood, garbage)."""


@dataclass
class StepNote:
    """What a stage body reports about itself: the server's text, TLS facts, counts."""

    detail: str = ""


class Transcript:
    """`C:`/`S:` lines, bounded in count and width, redacted when the result is built.

    Lines are kept as said and redacted once, together, in `freeze()`: a check's secrets are all
    known by then (a SASL payload is registered before it is sent), most transcripts hold none,
    and one test on the joined text costs less than one per line. Width is cut after redaction,
    so a cut never leaves part of a secret that the whole form would have matched.
    """

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._lines: list[str] = []
        self.dropped = 0

    def server(self, text: str) -> None:
        self._add(f"S: {text}")

    def client(self, text: str) -> None:
        self._add(f"C: {text}")

    def note(self, text: str) -> None:
        self._add(f"-- {text}")

    def _add(self, line: str) -> None:
        if len(self._lines) >= TRANSCRIPT_LINES:
            self.dropped += 1
            return
        self._lines.append(line)

    def freeze(self) -> tuple[str, ...]:
        kept = tuple(
            _cut(line, TRANSCRIPT_LINE_CHARS) for line in redact_all(self._lines, self._redact)
        )
        if self.dropped:
            return (*kept, f"-- {self.dropped} more lines not kept")
        return kept


def redact_all(texts: Sequence[str], redact: Callable[[str], str]) -> Sequence[str]:
    """`texts` redacted: one test on them all, then one per text only if a secret is there."""
    joined = "\n".join(texts)
    if redact(joined) == joined:
        return texts
    return [redact(text) for text in texts]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text) - limit} more)"


class Ladder:
    """Records one check: steps, facts, warnings, transcript; builds the `CheckResult`."""

    def __init__(
        self,
        protocol: Protocol,
        settings: ServerSettings,
        secret: str | None,
        *,
        timeout: float,
        provider: str | None,
        on_stage: Callable[[Stage], None] | None,
        resolve: Resolve | None = None,
    ) -> None:
        self.protocol = protocol
        self.resolve: Resolve = resolve or resolve_once
        """Host name -> addresses; a fleet run shares one `Resolver` (console/core/resolver.py)."""
        self.settings = settings
        self.timeout = timeout
        self.provider = provider
        self._on_stage = on_stage
        self._redactor = Redactor((secret,) if secret else ())
        self._started = time.monotonic()
        self.steps: list[Step] = []
        self.facts: dict[str, FactValue] = {}
        self.warnings: list[str] = []
        self.transcript = Transcript(self.redact)
        self._deadline = 0.0
        self._task: asyncio.Task[Any] | None = None
        """The task running the current rung; None between rungs."""
        self._expired = False
        self._timer: asyncio.TimerHandle | None = None
        self.capability_names: set[str] = set()
        """CAPABILITY names or EHLO keywords last seen, upper-case (evidence for diagnosis)."""

    # -- secrets ---------------------------------------------------------------------------

    def add_secret(self, text: str) -> None:
        """Register one more string that must never be shown (a SASL payload, a quoted login)."""
        self._redactor.add(text)

    def redact(self, text: str) -> str:
        return self._redactor(text)

    # -- stages ----------------------------------------------------------------------------

    def stage(self, stage: Stage) -> _Stage:
        """Run one rung under its own deadline and record it as a `Step` (`async with`)."""
        return _Stage(self, stage)

    def _arm(self) -> None:
        """A new rung starts: its deadline is `timeout` from now.

        One timer serves the whole ladder (no timer per rung): when it fires early because a
        later rung moved the deadline, it re-arms itself for that deadline. Most ladders end
        before the first firing, so a rung costs a float, not a timer.
        """
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.timeout
        self._task = asyncio.current_task()
        self._expired = False
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._task is None:  # between rungs: the next one re-arms
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._on_timer)
            return
        self._expired = True
        self._task.cancel()

    def _disarm(self, exc: BaseException | None) -> bool:
        """The rung ended; True when `exc` is the cancellation its deadline caused."""
        task, self._task = self._task, None
        if not self._expired:
            return False
        self._expired = False
        assert task is not None
        # our own cancel, unless someone else cancelled the task too (then it goes on up)
        others = task.uncancel()
        return isinstance(exc, asyncio.CancelledError) and others == 0

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _end_stage(
        self, stage: Stage, started: float, note: StepNote, exc: BaseException | None
    ) -> StageFailure | None:
        """Record the rung; the failure to raise instead of `exc`, or None to let `exc` be."""
        timed_out = self._disarm(exc)
        if exc is None:
            self.steps.append(Step(stage, True, _ms_since(started), note.detail))
            return None
        if timed_out or isinstance(exc, TimeoutError):
            reason = exc if isinstance(exc, TimeoutError) else TimeoutError()
            failure = StageFailure(f"no answer within {self.timeout:g} s", exc=reason)
        elif isinstance(exc, StageFailure):
            failure = exc
        elif isinstance(exc, Exception):
            failure = from_exception(exc)
        else:  # cancelled from outside, or KeyboardInterrupt: not a finding about the server
            return None
        return self._failed_step(stage, started, note, failure)

    def _failed_step(
        self, stage: Stage, started: float, note: StepNote, failure: StageFailure
    ) -> StageFailure:
        failure.stage = stage
        failure.text = self.redact(failure.text)
        detail = note.detail
        if failure.text not in detail:
            detail = f"{detail}\n{failure.text}" if detail else failure.text
        self.steps.append(Step(stage, False, _ms_since(started), detail))
        return failure

    def _steps(self) -> tuple[Step, ...]:
        """The steps with their details redacted (one test for all) and cut to `DETAIL_CHARS`."""
        details = redact_all([step.detail for step in self.steps], self.redact)
        return tuple(
            step
            if step.detail == detail and len(detail) <= DETAIL_CHARS
            else dataclasses.replace(step, detail=_cut(detail, DETAIL_CHARS))
            for step, detail in zip(self.steps, details, strict=True)
        )

    def _notify(self, stage: Stage) -> None:
        if self._on_stage is None:
            return
        try:
            self._on_stage(stage)
        except Exception:  # a broken observer must not break the check
            log.exception("on_stage callback failed")

    # -- results ---------------------------------------------------------------------------

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def _elapsed_ms(self) -> int:
        return _ms_since(self._started)

    def ok(self) -> CheckResult:
        self._stop_timer()
        return CheckResult(
            protocol=self.protocol,
            status=Status.OK,
            elapsed_ms=self._elapsed_ms(),
            steps=self._steps(),
            facts=dict(self.facts),
            warnings=tuple(self.warnings),
            transcript=self.transcript.freeze(),
        )

    def failed(self, failure: StageFailure) -> CheckResult:
        self._stop_timer()
        stage = failure.stage or Stage.CONNECT
        return CheckResult(
            protocol=self.protocol,
            status=Status.FAILED,
            cause=self._cause(stage, failure),
            stage=stage,
            message=self.redact(failure.text),
            elapsed_ms=self._elapsed_ms(),
            steps=self._steps(),
            facts=dict(self.facts),
            warnings=tuple(self.warnings),
            transcript=self.transcript.freeze(),
        )

    def crashed(self, exc: Exception) -> CheckResult:
        """A bug in the probe: logged with its traceback (redacted), reported as `unknown`."""
        trace = self.redact("".join(traceback.format_exception(exc)))
        log.error(
            "%s probe of %s failed unexpectedly:\n%s", self.protocol, self.settings.address, trace
        )
        failure = StageFailure(
            f"internal error: {self.redact(str(exc))}", exc=exc, cause=Cause.UNKNOWN
        )
        failure.stage = self.steps[-1].stage if self.steps else Stage.DNS
        return self.failed(failure)

    def _cause(self, stage: Stage, failure: StageFailure) -> Cause:
        if failure.cause is not None:
            return failure.cause
        if self._mismatch_evidence(stage, failure):
            return Cause.TLS_MISMATCH
        greeting = self.facts.get("greeting", self.facts.get("banner"))
        evidence = Failure(
            protocol=self.protocol,
            stage=stage,
            text=self.redact(failure.text),
            exc=failure.exc,
            smtp_code=failure.smtp_code,
            greeting=greeting if isinstance(greeting, str) else None,
            capabilities=frozenset(self.capability_names),
            auth=self.settings.auth,
        )
        if self.provider is None:
            # the diagnosis recognised the provider from the banner or reply: say so, so the
            # runner carries that provider in the result instead of dropping it (issue 11)
            hint = provider_hint(evidence)
            if hint is not None:
                self.facts["provider_hint"] = hint
        cause: Cause = classify(evidence, self.provider)
        return cause

    def _mismatch_evidence(self, stage: Stage, failure: StageFailure) -> bool:
        """A timeout or "wrong version number" where a known port/security mismatch predicts it."""
        settings = self.settings
        if not port_security_mismatch(settings.protocol, settings.port, settings.security):
            return False
        if isinstance(failure.exc, TimeoutError):
            return stage in (Stage.TLS, Stage.GREETING)
        return stage is Stage.TLS and "WRONG_VERSION_NUMBER" in failure.text.upper().replace(
            " ", "_"
        )


class _Stage:
    """`async with ladder.stage(Stage.X) as note:` one rung, timed and recorded (no generator)."""

    __slots__ = ("_ladder", "_note", "_stage", "_started")

    def __init__(self, ladder: Ladder, stage: Stage) -> None:
        self._ladder = ladder
        self._stage = stage

    async def __aenter__(self) -> StepNote:
        ladder = self._ladder
        ladder._notify(self._stage)
        self._note = StepNote()
        self._started = time.monotonic()
        ladder._arm()
        return self._note

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        failure = self._ladder._end_stage(self._stage, self._started, self._note, exc)
        if failure is not None:
            raise failure from None


def from_exception(exc: BaseException) -> StageFailure:
    """The text for an exception: the library's own words, never a repr with arguments."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
        # out of file descriptors here: a local resource problem, never the account's fault
        reason = exc.strerror or text
        return StageFailure(OUT_OF_FDS.format(reason=reason), exc=exc, cause=Cause.UNKNOWN)
    if isinstance(exc, ProtocolViolation):
        return StageFailure(text, exc=exc, cause=Cause.PROTOCOL_ERROR)
    if isinstance(exc, socket.gaierror):
        text = f"host name lookup failed: {exc.strerror or text}"
    elif isinstance(exc, ConnectionRefusedError):
        text = f"connection refused: {exc.strerror or text}"
    return StageFailure(text, exc=exc)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# -- the first rungs, shared by IMAP and SMTP -------------------------------------------------


async def open_socket(ladder: Ladder, local_addr: str | None) -> socket.socket:
    """DNS and TCP connect as two timed stages; returns a connected, non-blocking socket."""
    settings = ladder.settings
    async with ladder.stage(Stage.DNS) as note:
        infos = await ladder.resolve(settings.host, settings.port)
        if local_addr is not None:
            family = socket.AF_INET6 if ":" in local_addr else socket.AF_INET
            infos = [info for info in infos if info[0] == family]
        if not infos:
            raise StageFailure(f"{settings.host} has no address usable from {local_addr}")
        note.detail = ", ".join(_unique(str(info[4][0]) for info in infos))
    async with ladder.stage(Stage.CONNECT) as note:
        return await _connect_any(infos, local_addr, note)
    raise AssertionError("unreachable")  # pragma: no cover  (mypy: the stage may swallow)


async def _connect_any(
    infos: Sequence[tuple[Any, ...]],
    local_addr: str | None,
    note: StepNote,
) -> socket.socket:
    """Try each resolved address in order; the last error wins when none accepts."""
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if local_addr is not None:
                sock.bind((local_addr, 0))
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        here = sock.getsockname()
        note.detail = f"connected to {address[0]} port {address[1]} from {here[0]}"
        return sock
    assert last is not None
    raise last


async def close_connection(
    sock: socket.socket | None,
    tls: asyncio.BaseTransport | None,
    raw: asyncio.Transport | None,
) -> None:
    """Close the TLS and the raw transport and wait until the socket itself is closed.

    The raw transport is aborted rather than closed: a hostile peer that never answers the TLS
    close_notify must not keep the socket open for asyncio's 30 s shutdown timeout. Transports
    close their socket one loop tick later; returning before that leaks it at loop shutdown.
    """
    if tls is not None and not tls.is_closing():
        tls.close()
    if raw is not None:
        raw.abort()
    elif sock is not None:
        sock.close()
    if sock is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_WAIT_SECONDS
    ticks = 0
    while sock.fileno() != -1 and loop.time() < deadline:
        await asyncio.sleep(0 if ticks < 10 else 0.01)
        ticks += 1
    if sock.fileno() != -1:  # pragma: no cover (the transport did not let go in time)
        sock.close()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def security_label(security: Security) -> str:
    return {Security.TLS: "implicit TLS", Security.STARTTLS: "STARTTLS", Security.NONE: "no TLS"}[
        security
    ]
