"""The results store: every finished check, kept in a local SQLite file.

Location: `results.sqlite3` in the user's state directory (platformdirs'
`user_state_dir("mailconsole")`; `$MAILCONSOLE_STATE_DIR` or the `--state-dir` option move it).
The demo keeps its own `demo-results.sqlite3` next to it. Accounts are keyed by their email,
lower-cased; an account renamed in the account file starts a new history, and the history of
deleted accounts is kept until `mailconsole history --prune`.

Schema (version in `meta.schema_version`; `schema.MIGRATIONS` builds it forward, one script per
version, so a file written by an older mailconsole is upgraded in place on first open):

- `accounts(id, email, first_seen)`: one row per email ever checked.
- `checks(account, checked_at, state, changed, smtp, imap, smtp_ms, imap_ms, warnings, canary)`,
  keyed by (account, checked_at): one row per finished check. `state` is 1 connected,
  2 conditional, 3 disconnected (`states` table); `smtp`/`imap` point into `outcomes(status, cause,
  stage)`; `changed` = 1 when the state differs from the account's previous check (its first check
  counts as a change); `warnings` is a JSON list of our probes' warnings (certificate expiry,
  quota, plaintext login) and `canary` the canary's JSON object without its message.
- `latest(account, checked_at, state, since, ...)`: the newest check per account, and `since`,
  when its current state began (the console's first paint reads only this table).
- `daily(account, day, state, checks, max_ms)`: compacted checks, counted per day and state.
- `canary_holds(token, email, hold_until, data)`: reply canaries waiting out their hold, so a hold
  survives a restart (`holds.py`); a row goes when its canary is finished.

Nothing else is stored: no server text, no transcript, no step details, no secret.

Retention: checks older than `history_days` (account file [settings], default 90) are compacted
into `daily` counts, at most once a day when results are recorded; state changes (`changed = 1`)
are kept forever. Several processes may write at once (WAL, `BEGIN IMMEDIATE`, a 30 s busy
timeout). A file that is not ours, is damaged, or has a newer schema is never written to: the
message names it and says what to do, and checks run without recording.
"""

from __future__ import annotations

from console.core.store.flapping import FlapPolicy
from console.core.store.location import DEMO_STORE_FILE, STORE_FILE, results_path, state_dir
from console.core.store.recorder import DEFAULT_KEEP_DAYS, Recorder
from console.core.store.records import LastKnown, Outcome, Recorded, StoredCheck, key
from console.core.store.schema import SCHEMA_VERSION, StoreError
from console.core.store.store import Compacted, ResultsStore

__all__ = [
    "DEFAULT_KEEP_DAYS",
    "DEMO_STORE_FILE",
    "SCHEMA_VERSION",
    "STORE_FILE",
    "Compacted",
    "FlapPolicy",
    "LastKnown",
    "Outcome",
    "Recorded",
    "Recorder",
    "ResultsStore",
    "StoreError",
    "StoredCheck",
    "key",
    "results_path",
    "state_dir",
]
