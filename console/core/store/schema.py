"""The results store's tables, and the forward migrations that build them.

A database is opened only if it is a mailconsole results store (`meta.app`) at a schema version
this code knows; anything else is left untouched and reported (`StoreError`). Migrations only ever
go forward, one numbered SQL script per version, each in its own transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

APP_ID = "mailconsole-results"

MIGRATIONS: Sequence[str] = (
    # 1: the first schema: accounts by lower-cased email, one row per finished check.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        first_seen INTEGER NOT NULL
    );
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        cause TEXT NOT NULL DEFAULT '',
        stage TEXT NOT NULL DEFAULT '',
        UNIQUE (status, cause, stage)
    );
    CREATE TABLE states (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    INSERT INTO states (id, name) VALUES (1, 'connected'), (2, 'conditional'),
        (3, 'disconnected');
    CREATE TABLE checks (
        account INTEGER NOT NULL REFERENCES accounts (id),
        checked_at INTEGER NOT NULL,
        state INTEGER NOT NULL REFERENCES states (id),
        changed INTEGER NOT NULL,
        smtp INTEGER REFERENCES outcomes (id),
        imap INTEGER REFERENCES outcomes (id),
        smtp_ms INTEGER,
        imap_ms INTEGER,
        warnings TEXT,
        PRIMARY KEY (account, checked_at)
    ) WITHOUT ROWID;
    CREATE INDEX checks_changes ON checks (checked_at) WHERE changed = 1;
    CREATE TABLE latest (
        account INTEGER PRIMARY KEY REFERENCES accounts (id),
        checked_at INTEGER NOT NULL,
        state INTEGER NOT NULL,
        since INTEGER NOT NULL,
        smtp INTEGER,
        imap INTEGER,
        smtp_ms INTEGER,
        imap_ms INTEGER,
        warnings TEXT,
        facts TEXT
    );
    """,
    # 2: the canary result per check, and daily summaries of compacted checks.
    """
    ALTER TABLE checks ADD COLUMN canary TEXT;
    ALTER TABLE latest ADD COLUMN canary TEXT;
    CREATE TABLE daily (
        account INTEGER NOT NULL REFERENCES accounts (id),
        day INTEGER NOT NULL,
        state INTEGER NOT NULL,
        checks INTEGER NOT NULL,
        max_ms INTEGER NOT NULL,
        PRIMARY KEY (account, day, state)
    ) WITHOUT ROWID;
    """,
    # 3: reply canaries that are holding, so a hold survives a restart (store/holds.py).
    """
    CREATE TABLE canary_holds (
        token TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        hold_until INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be used; the message names the file and says what to do."""


def _version(db: sqlite3.Connection, path: Path) -> int:
    """0 for an empty file; the recorded version for ours; StoreError for anything else."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return 0
    if "meta" not in tables:
        raise StoreError(
            f"{path} is an SQLite database, but not mailconsole's results store. Results are "
            "not recorded; move the file elsewhere (or use --state-dir) and mailconsole starts a "
            "new one."
        )
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("app") != APP_ID or not str(meta.get("schema_version", "")).isdigit():
        raise StoreError(
            f"{path} is not mailconsole's results store (its meta table is foreign). Results are "
            "not recorded; move the file elsewhere and mailconsole starts a new one."
        )
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer mailconsole (results schema {version}; this one knows "
            f"up to {SCHEMA_VERSION}). It is left as it is and results are not recorded: upgrade "
            "mailconsole, or move the file elsewhere to start a new one."
        )
    return version


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the database up to SCHEMA_VERSION; returns the version it had before."""
    db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
    try:
        before = _version(db, path)
        for number in range(before + 1, SCHEMA_VERSION + 1):
            apply_migration(db, number)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return before


def apply_migration(db: sqlite3.Connection, number: int) -> None:
    """Run migration `number` (1-based) inside the caller's transaction."""
    for statement in _statements(MIGRATIONS[number - 1]):
        db.execute(statement)
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('app', ?), ('schema_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (APP_ID, str(number)),
    )


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit on its own)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
