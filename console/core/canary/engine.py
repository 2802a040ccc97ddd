"""The reply canary: send a real message to the reply mailbox, see where it lands, see it stay.

One run covers many accounts. Accounts that share a reply mailbox (same IMAP host, port, user and
mailbox) share one IMAP connection: it logs in and selects the mailbox *before* the canaries are
sent, waits with IDLE where the server offers it (else polls with back-off), and searches the
other folders (SPECIAL-USE \\Junk, \\Trash, \\Archive, \\All first) now and then and at the
arrival timeout. After the hold it logs in again (no connection is held while holding), looks
again, and deletes the canaries it can prove are its own (token header checked first).

Connections are bounded by the account file's `concurrency` and `per_host`, in two pools (sends,
mailbox sessions), so a waiting mailbox session never holds the slot its own send waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from console.core.canary.holds import HoldStore, PendingHold
from console.core.canary.mailbox import CommandRefused, Folder, Mailbox
from console.core.canary.message import new_token, read_evidence
from console.core.canary.model import (
    DEFAULT_ARRIVAL_TIMEOUT,
    AuthResults,
    CanaryPhase,
    CanaryResult,
    CanaryStatus,
    Progress,
)
from console.core.canary.send import send_canary
from console.core.model import Account, Cause, CheckResult, ServerSettings, Settings, Status
from console.core.probe.imap import probe_imap
from console.core.probe.imap_client import ImapSession
from console.core.probe.steps import Ladder, ProtocolViolation
from console.core.providers import resolve_provider
from console.core.secrets import SecretError, SecretProvider, fetch_secret

log = logging.getLogger(__name__)

FIRST_SWEEP_SECONDS = 2.0
"""Other folders are first searched this long after the sends, then at doubling intervals."""
POLL_START, POLL_MAX = 0.25, 15.0
"""Polling back-off (servers without IDLE), in seconds."""
RECONNECTS = 3
"""A dropped mailbox connection is opened again this many times before the canary gives up."""


@dataclass(frozen=True)
class CanaryProgress:
    email: str
    progress: Progress
    hold_until: datetime | None = None


@dataclass(frozen=True)
class CanaryFinished:
    result: CanaryResult


CanaryEvent = CanaryProgress | CanaryFinished
Clock = Callable[[], datetime]


def skip_reason(account: Account) -> str | None:
    """Why no canary can be sent for this account (None: it can)."""
    if account.send_only:
        return (
            "send-only account: it has no reply mailbox to watch, so no canary is sent "
            "(replies to it are read elsewhere)"
        )
    if account.smtp is None or account.issues_for(account.smtp.protocol):
        return "the SMTP settings are missing or invalid: the canary cannot be sent"
    if account.imap is None:
        return (
            "the reply mailbox has no IMAP settings: nothing could see the canary arrive, so "
            "none is sent"
        )
    if account.issues_for(account.imap.protocol):
        return "the reply mailbox's IMAP settings are invalid: fix them first"
    return None


def hold_seconds(account: Account, settings: Settings, override: float | None) -> float:
    if override is not None:
        return override
    minutes = account.canary_hold_minutes
    return 60.0 * (minutes if minutes is not None else settings.canary_hold_minutes)


def mailbox_key(imap: ServerSettings) -> tuple[str, int, str, str]:
    return (imap.host.strip().lower(), imap.port, imap.username.lower(), imap.mailbox)


@dataclass
class _Track:
    """One account's canary while it runs."""

    account: Account
    token: str
    hold: float  # seconds
    provider: str | None
    sent_at: float | None = None  # loop time
    sent_wall: datetime | None = None
    folder: Folder | None = None  # where it was found (None: the tracked mailbox)
    uid: int | None = None
    in_tracked: bool = False
    latency_ms: int | None = None
    auth: AuthResults | None = None
    warnings: tuple[str, ...] = ()
    evidence: list[str] = field(default_factory=list)
    hold_until: datetime | None = None
    result: CanaryResult | None = None
    send: CheckResult | None = None
    cleaned: bool = False
    resumed: bool = False


class CanaryEngine:
    """Runs reply canaries; `on_event` gets progress and results as they happen."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretProvider = fetch_secret,
        holds: HoldStore | None = None,
        on_event: Callable[[CanaryEvent], None] | None = None,
        arrival_timeout: float = DEFAULT_ARRIVAL_TIMEOUT,
        hold: float | None = None,
        local_addr: str | None = None,
        allowed_hosts: frozenset[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`hold` (seconds) overrides the account file's hold for every account when given."""
        self.settings = settings
        self._secrets = secrets
        self._holds = holds
        self._on_event = on_event
        self.arrival_timeout = arrival_timeout
        self._hold = hold
        self._local_addr = local_addr
        self._allowed = allowed_hosts
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pools: dict[str, asyncio.Semaphore] = {}
        self._host_pools: dict[tuple[str, str], asyncio.Semaphore] = {}
        self.connections_now = 0
        self.connections_max = 0
        """IMAP connections held at once by this engine (the measurement for shared mailboxes)."""

    # -- public ----------------------------------------------------------------------------

    async def run(self, accounts: Sequence[Account]) -> list[CanaryResult]:
        """One canary per account (or the pending hold it already has); results in order."""
        results: dict[str, CanaryResult] = {}
        groups: dict[tuple[str, int, str, str], list[_Track]] = {}
        pending = {h.email.lower(): h for h in (self._holds.pending() if self._holds else [])}
        for account in accounts:
            reason = skip_reason(account)
            if reason is None and self._allowed is not None:
                hosts = {s.host.lower() for s in (account.smtp, account.imap) if s is not None}
                if hosts - self._allowed:
                    reason = f"{', '.join(sorted(hosts - self._allowed))} may not be contacted"
            if reason is not None:
                result = CanaryResult(account.email, CanaryStatus.SKIPPED, message=reason)
                results[account.email] = result
                self._emit(CanaryFinished(result))
                continue
            assert account.imap is not None
            track = _Track(
                account,
                new_token(),
                hold_seconds(account, self.settings, self._hold),
                account.provider or resolve_provider(account),
            )
            held = pending.get(account.email.lower())
            if held is not None:
                _resume(track, held)
            groups.setdefault(mailbox_key(account.imap), []).append(track)
        tasks = [asyncio.ensure_future(self._group(tracks)) for tracks in groups.values()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for tracks in groups.values():
            for track in tracks:
                assert track.result is not None
                results[track.account.email] = track.result
        return [results[a.email] for a in accounts]

    # -- one reply mailbox -----------------------------------------------------------------

    async def _group(self, tracks: list[_Track]) -> None:
        imap = tracks[0].account.imap
        assert imap is not None
        try:
            secret = await asyncio.wait_for(self._secrets(imap), self.settings.timeout)
        except (SecretError, TimeoutError) as exc:
            text = str(exc) or "the secret source did not answer in time"
            for track in tracks:
                self._finish(
                    track,
                    CanaryStatus.FAILED,
                    Cause.SECRET_UNAVAILABLE,
                    message=f"the reply mailbox's password is not available ({text}); "
                    "no canary was sent",
                )
            return
        fresh = [t for t in tracks if not t.resumed]
        if fresh:
            await self._arrival(imap, secret, fresh)
        held = [t for t in tracks if t.result is None and t.hold_until is not None]
        if held:
            await self._hold_and_verify(imap, secret, held)

    async def _arrival(self, imap: ServerSettings, secret: str, tracks: list[_Track]) -> None:
        """Session 1: select, send, wait, search elsewhere, clean up what is not held."""
        state = _ArrivalState(tracks)

        async def body(ladder: Ladder, session: ImapSession) -> None:
            mailbox = Mailbox(session, self.settings.timeout)
            try:
                await self._arrival_body(mailbox, imap, state)
            except (ConnectionError, ProtocolViolation, TimeoutError, CommandRefused) as exc:
                state.dropped = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                ladder.transcript.note(f"mailbox session ended early: {state.dropped}")

        for attempt in range(RECONNECTS + 1):
            state.dropped = None
            async with self._connection(imap.host, "imap"):
                login = await probe_imap(
                    imap,
                    secret,
                    timeout=self.settings.timeout,
                    provider=tracks[0].provider,
                    local_addr=self._local_addr,
                    after_login=body,
                )
            if login.status is not Status.OK and not state.selected:
                for track in tracks:
                    if track.result is None and track.sent_at is None:
                        self._finish(
                            track,
                            CanaryStatus.FAILED,
                            login.cause or Cause.UNKNOWN,
                            message="the reply mailbox could not be opened, so no canary was "
                            f"sent: {login.message or login.cause}",
                        )
                return
            if state.dropped is None or state.finished:
                break
            for track in state.waiting():
                track.evidence.append(f"mailbox connection lost ({state.dropped}); reconnecting")
            await asyncio.sleep(min(2.0**attempt, 10.0))
        for track in tracks:
            if track.result is None and track.hold_until is None:
                self._finish(
                    track,
                    CanaryStatus.FAILED,
                    Cause.PROTOCOL_ERROR,
                    CanaryPhase.SENT,
                    message=f"the reply mailbox connection kept dropping ({state.dropped})",
                )

    async def _arrival_body(self, mb: Mailbox, imap: ServerSettings, state: _ArrivalState) -> None:
        loop = asyncio.get_running_loop()
        await mb.select_name(imap.mailbox)
        state.selected = True
        if not state.sent:
            state.sent = True
            await self._send_all(state.tracks)
            sent = [t.sent_at for t in state.tracks if t.sent_at is not None]
            state.deadline = max(sent, default=loop.time()) + self.arrival_timeout
            state.next_sweep = loop.time() + min(FIRST_SWEEP_SECONDS, self.arrival_timeout)
        backoff = POLL_START
        while state.waiting():
            await self._look_in_tracked(mb, imap, state)
            now = loop.time()
            if state.waiting() and (now >= state.next_sweep or now >= state.deadline):
                await self._sweep(mb, imap, state.waiting(), gone=False)
                await mb.select_name(imap.mailbox)
                state.sweep_every *= 2
                state.next_sweep = loop.time() + state.sweep_every
            if not state.waiting() or loop.time() >= state.deadline:
                break
            pause = max(0.0, min(state.next_sweep, state.deadline) - loop.time())
            if mb.can_idle:
                await mb.wait(pause)
            else:
                await asyncio.sleep(min(backoff, pause))
                backoff = min(backoff * 2, POLL_MAX)
        for track in state.waiting():
            minutes = self.arrival_timeout
            track.evidence.append(f"searched every folder; not found after {minutes:g} s")
            self._finish(
                track,
                CanaryStatus.FAILED,
                Cause.REPLY_NOT_RECEIVED,
                CanaryPhase.SENT,
                message=(
                    f"The canary was accepted for delivery to {_recipient(track)} but reached no "
                    f"folder of the reply mailbox within {minutes:g} s."
                ),
            )
        await self._clean(mb, imap, [t for t in state.tracks if t.folder is not None])
        for track in state.tracks:
            if track.in_tracked and track.result is None and track.hold <= 0:
                self._finish_held(track)
        await self._clean(mb, imap, [t for t in state.tracks if t.in_tracked and t.result])
        state.finished = True
        for track in state.tracks:
            if track.in_tracked and track.result is None:
                self._save_hold(track, imap)

    async def _send_all(self, tracks: list[_Track]) -> None:
        async def one(track: _Track) -> None:
            account = track.account
            assert account.smtp is not None
            self._emit(CanaryProgress(account.email, Progress.SENDING))
            try:
                secret = await asyncio.wait_for(self._secrets(account.smtp), self.settings.timeout)
            except (SecretError, TimeoutError) as exc:
                self._finish(
                    track,
                    CanaryStatus.FAILED,
                    Cause.SECRET_UNAVAILABLE,
                    message=f"the SMTP password is not available ({exc}); no canary was sent",
                )
                return
            async with self._connection(account.smtp.host, "smtp"):
                sent = await send_canary(
                    account,
                    secret,
                    track.token,
                    now=self._clock(),
                    timeout=self.settings.timeout,
                    provider=track.provider,
                    local_addr=self._local_addr,
                )
            track.send = sent.result
            if sent.result.status is not Status.OK:
                self._finish(
                    track,
                    CanaryStatus.FAILED,
                    sent.result.cause or Cause.UNKNOWN,
                    message=sent.result.message,
                )
            elif sent.refused is not None:
                self._finish(
                    track,
                    CanaryStatus.FAILED,
                    Cause.RECIPIENT_REFUSED,
                    message=f"{_recipient(track)} was refused: {sent.refused}",
                )
            elif sent.accepted:
                track.sent_at, track.sent_wall = sent.sent_at, self._clock()
                track.evidence.append(f"sent to {_recipient(track)} with token {track.token}")
                self._emit(CanaryProgress(account.email, Progress.WAITING))

        await asyncio.gather(*(one(t) for t in tracks))

    async def _look_in_tracked(
        self, mb: Mailbox, imap: ServerSettings, state: _ArrivalState
    ) -> None:
        found = await mb.canaries()
        now = asyncio.get_running_loop().time()
        for track in state.waiting():
            uid = found.get(track.token)
            if uid is None:
                continue
            assert track.sent_at is not None
            track.in_tracked, track.uid = True, uid
            track.latency_ms = int((now - track.sent_at) * 1000)
            track.evidence.append(f"arrived in {imap.mailbox} after {track.latency_ms} ms")
            await self._read_evidence(mb, track)
            if track.hold > 0:
                track.hold_until = self._clock() + timedelta(seconds=track.hold)
                self._emit(CanaryProgress(track.account.email, Progress.HOLDING, track.hold_until))

    async def _read_evidence(self, mb: Mailbox, track: _Track) -> None:
        assert track.uid is not None
        headers = (await mb.headers([str(track.uid)])).get(track.uid)
        if headers is not None:
            track.auth, track.warnings = read_evidence(headers)

    async def _sweep(
        self, mb: Mailbox, imap: ServerSettings, tracks: list[_Track], *, gone: bool
    ) -> None:
        """Search every other folder for these canaries; mark where each one is."""
        for track in tracks:
            self._emit(CanaryProgress(track.account.email, Progress.SEARCHING))
        folders = [f for f in await mb.folders() if f.selectable and not _same(f, imap.mailbox)]
        folders.sort(key=_search_order)
        names = ", ".join(f.describe() for f in folders)
        now = asyncio.get_running_loop().time()
        for folder in folders:
            await mb.select(folder.wire, read_only=True)
            found = await mb.canaries()
            for track in tracks:
                uid = found.get(track.token)
                if uid is None or track.folder is not None:
                    continue
                track.folder, track.uid = folder, uid
                if track.sent_at is not None and track.latency_ms is None:
                    track.latency_ms = int((now - track.sent_at) * 1000)
                await self._read_evidence(mb, track)
                self._verdict_elsewhere(track, imap, gone=gone)
        for track in tracks:
            track.evidence.append(f"searched {imap.mailbox} and {names or 'no other folder'}")

    def _verdict_elsewhere(self, track: _Track, imap: ServerSettings, *, gone: bool) -> None:
        folder = track.folder
        assert folder is not None
        if gone:
            self._finish(
                track,
                CanaryStatus.FAILED,
                Cause.REPLY_REMOVED_LATER,
                CanaryPhase.ARRIVED,
                message=f"The canary arrived in {imap.mailbox} but was moved to "
                f"{folder.describe()} during the hold.",
            )
        elif folder.spam:
            self._finish(
                track,
                CanaryStatus.FAILED,
                Cause.REPLY_IN_SPAM,
                CanaryPhase.ARRIVED,
                message=f"The canary arrived in the spam folder {folder.describe()}.",
            )
        else:
            self._finish(
                track,
                CanaryStatus.FAILED,
                Cause.REPLY_MOVED,
                CanaryPhase.ARRIVED,
                message=f"The canary arrived in {folder.describe()}, not in {imap.mailbox}.",
            )

    async def _hold_and_verify(
        self, imap: ServerSettings, secret: str, tracks: list[_Track]
    ) -> None:
        """No connection while holding; then session 2: look again and clean up."""
        for track in tracks:
            self._emit(CanaryProgress(track.account.email, Progress.HOLDING, track.hold_until))
        until = max(t.hold_until for t in tracks if t.hold_until is not None)
        wait = (until - self._clock()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)

        async def body(ladder: Ladder, session: ImapSession) -> None:
            mb = Mailbox(session, self.settings.timeout)
            for track in tracks:
                self._emit(CanaryProgress(track.account.email, Progress.CLEANING))
            await mb.select_name(imap.mailbox)
            found = await mb.canaries()
            gone: list[_Track] = []
            for track in tracks:
                uid = found.get(track.token)
                if uid is None:
                    track.in_tracked, track.folder = False, None
                    gone.append(track)
                else:
                    track.uid = uid
                    self._finish_held(track)
            if gone:
                await self._sweep(mb, imap, gone, gone=True)
                await mb.select_name(imap.mailbox)
            for track in gone:
                if track.result is None:
                    self._finish(
                        track,
                        CanaryStatus.FAILED,
                        Cause.REPLY_REMOVED_LATER,
                        CanaryPhase.ARRIVED,
                        message=f"The canary arrived in {imap.mailbox} but was gone after the "
                        "hold, and no folder holds it any more (deleted or moved away).",
                    )
            await self._clean(mb, imap, [t for t in tracks if t.uid is not None and t.in_tracked])
            await self._clean(mb, imap, [t for t in tracks if t.folder is not None])

        try:
            async with self._connection(imap.host, "imap"):
                login = await probe_imap(
                    imap,
                    secret,
                    timeout=self.settings.timeout,
                    provider=tracks[0].provider,
                    local_addr=self._local_addr,
                    after_login=body,
                )
        except asyncio.CancelledError:
            for track in tracks:
                if track.result is None:
                    track.result = self._pending(track)
            raise
        for track in tracks:
            if track.result is None:
                # the look after the hold could not be made: keep the hold for the next run
                track.result = replace(
                    self._pending(track),
                    message="the reply mailbox could not be opened after the hold "
                    f"({login.message or login.cause}); the hold is kept for the next run",
                )
                self._emit(CanaryFinished(track.result))
            elif self._holds is not None:
                self._holds.remove(track.token)

    async def _clean(self, mb: Mailbox, imap: ServerSettings, tracks: Iterable[_Track]) -> None:
        """Delete our canaries, folder by folder; each one's token is checked first."""
        by_folder: dict[str, list[_Track]] = {}
        for track in tracks:
            if track.uid is None or track.cleaned:
                continue
            wire = track.folder.wire if track.folder is not None else ""
            by_folder.setdefault(wire, []).append(track)
        for wire, group in by_folder.items():
            if wire:
                await mb.select(wire)
            else:
                await mb.select_name(imap.mailbox)
            where = group[0].folder.name if group[0].folder else imap.mailbox
            for track in group:
                assert track.uid is not None
                try:
                    expunged = await mb.delete(track.uid, track.token)
                except (ProtocolViolation, CommandRefused) as exc:
                    track.evidence.append(f"not deleted from {where}: {exc}")
                    continue
                track.cleaned = expunged
                if expunged:
                    track.evidence.append(f"deleted from {where} (UID EXPUNGE of UID {track.uid})")
                else:
                    track.evidence.append(
                        f"left in {where}, marked \\Seen \\Deleted: the server has no UIDPLUS, "
                        "and a plain EXPUNGE could remove other messages marked deleted"
                    )
                self._update_cleaned(track, where)
        if by_folder:
            await mb.select_name(imap.mailbox)

    # -- results ---------------------------------------------------------------------------

    def _finish(
        self,
        track: _Track,
        status: CanaryStatus,
        cause: Cause | None,
        phase: CanaryPhase | None = None,
        *,
        message: str | None = None,
    ) -> None:
        track.result = CanaryResult(
            email=track.account.email,
            status=status,
            cause=cause,
            phase=phase,
            folder=track.folder.name if track.folder else None,
            latency_ms=track.latency_ms,
            message=message,
            cleaned=track.cleaned,
            auth_results=track.auth,
            warnings=track.warnings,
            evidence=tuple(track.evidence),
            token=track.token,
            send=track.send,
        )
        if track.resumed and self._holds is not None:
            self._holds.remove(track.token)
        self._emit(CanaryFinished(track.result))

    def _finish_held(self, track: _Track) -> None:
        imap = track.account.imap
        assert imap is not None
        held = f"{track.hold:g} s" if track.hold < 120 else f"{track.hold / 60:g} min"
        track.evidence.append(f"still in {imap.mailbox} after the hold ({held})")
        self._finish(track, CanaryStatus.OK, None, CanaryPhase.HELD)
        assert track.result is not None
        track.result = replace(track.result, folder=imap.mailbox)

    def _update_cleaned(self, track: _Track, where: str) -> None:
        """The result, once more, with the cleanup recorded (the event is sent again)."""
        if track.result is None:
            return
        phase = track.result.phase
        if track.result.status is CanaryStatus.OK and track.cleaned:
            phase = CanaryPhase.CLEANED
        track.result = replace(
            track.result, cleaned=track.cleaned, phase=phase, evidence=tuple(track.evidence)
        )
        if self._holds is not None:
            self._holds.remove(track.token)
        self._emit(CanaryFinished(track.result))

    def _pending(self, track: _Track) -> CanaryResult:
        imap = track.account.imap
        return CanaryResult(
            email=track.account.email,
            status=CanaryStatus.PENDING,
            phase=CanaryPhase.ARRIVED,
            folder=imap.mailbox if imap else None,
            latency_ms=track.latency_ms,
            auth_results=track.auth,
            warnings=track.warnings,
            evidence=tuple(track.evidence),
            token=track.token,
            hold_until=track.hold_until,
            message="holding: the canary is looked at again after the hold (kept across restarts)",
        )

    def _save_hold(self, track: _Track, imap: ServerSettings) -> None:
        if self._holds is None or track.hold_until is None:
            return
        self._holds.save(
            PendingHold(
                token=track.token,
                email=track.account.email,
                mailbox=imap.mailbox,
                sent_at=track.sent_wall or self._clock(),
                hold_until=track.hold_until,
                latency_ms=track.latency_ms,
                uid=track.uid,
                auth_results=track.auth.to_dict() if track.auth else None,
                warnings=track.warnings,
                evidence=tuple(track.evidence),
            )
        )

    def _emit(self, event: CanaryEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken observer must not break the canary
            log.exception("canary event handler failed")

    # -- limits ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self, host: str, pool: str) -> AsyncIterator[None]:
        """One connection under the global and per-host limits of its pool."""
        slots = self._pools.setdefault(pool, asyncio.Semaphore(max(1, self.settings.concurrency)))
        key = (pool, host.strip().lower())
        per_host = self._host_pools.setdefault(
            key, asyncio.Semaphore(max(1, self.settings.per_host))
        )
        async with per_host, slots:
            if pool == "imap":
                self.connections_now += 1
                self.connections_max = max(self.connections_max, self.connections_now)
            try:
                yield
            finally:
                if pool == "imap":
                    self.connections_now -= 1


@dataclass
class _ArrivalState:
    tracks: list[_Track]
    selected: bool = False
    sent: bool = False
    finished: bool = False
    deadline: float = 0.0
    next_sweep: float = 0.0
    sweep_every: float = FIRST_SWEEP_SECONDS
    dropped: str | None = None

    def waiting(self) -> list[_Track]:
        return [
            t
            for t in self.tracks
            if t.result is None and t.sent_at is not None and not t.in_tracked and t.folder is None
        ]


def _resume(track: _Track, held: PendingHold) -> None:
    track.token = held.token
    track.resumed = True
    track.in_tracked = True
    track.uid = held.uid
    track.hold_until = held.hold_until
    track.sent_wall = held.sent_at
    track.latency_ms = held.latency_ms
    track.warnings = held.warnings
    track.evidence = [*held.evidence, "resumed from the saved hold"]
    if held.auth_results:
        track.auth = AuthResults(**held.auth_results)


def _recipient(track: _Track) -> str:
    return track.account.reply_address or track.account.email


def _same(folder: Folder, mailbox: str) -> bool:
    if mailbox.upper() == "INBOX":
        return folder.name.upper() == "INBOX"
    return folder.name == mailbox


def _search_order(folder: Folder) -> tuple[int, str]:
    order = ("\\Junk", "\\Trash", "\\Archive", "\\All")
    if folder.special in order:
        return (order.index(folder.special), folder.name)
    return (len(order) if folder.spam else len(order) + 1, folder.name)
