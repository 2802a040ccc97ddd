"""Pending reply-canary holds in the results store (table `canary_holds`, migration 3).

One row per canary that arrived and waits for its look after the hold: its token, the account's
email (lower-cased), when the hold ends, and the rest as JSON (mailbox, UID, latency, the
authentication results). No server text, no secret. Rows go when the canary is finished.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from console.core.canary.holds import PendingHold
from console.core.store.records import key
from console.core.store.store import ResultsStore


class StoredHolds:
    """A `HoldStore` (console/core/canary/holds.py) kept in the results store's file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: ResultsStore | None = None

    def _db(self) -> sqlite3.Connection:
        if self._store is None:
            self._store = ResultsStore.open(self.path)  # creates or migrates the file
        return self._store._db  # the store package's own connection

    def save(self, hold: PendingHold) -> None:
        self._db().execute(
            "INSERT INTO canary_holds (token, email, hold_until, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (token) DO UPDATE SET hold_until = excluded.hold_until, "
            "data = excluded.data",
            (
                hold.token,
                key(hold.email),
                int(hold.hold_until.timestamp()),
                json.dumps(hold.to_json()),
            ),
        )

    def remove(self, token: str) -> None:
        self._db().execute("DELETE FROM canary_holds WHERE token = ?", (token,))

    def pending(self) -> list[PendingHold]:
        rows = self._db().execute("SELECT data FROM canary_holds ORDER BY hold_until").fetchall()
        return [PendingHold.from_json(json.loads(row[0])) for row in rows]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
