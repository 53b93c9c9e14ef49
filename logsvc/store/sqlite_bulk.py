"""Bulk writes to the SQLite store: all of a stream of entries in one transaction, or none.

Two ways, one result. Staged (the default, for input of unknown pace such as a pipe): chunks go
to a private temporary database ATTACHed to the writer's own connection, so the store is locked
only for the final merge, however slowly the input arrives. Direct (input that is all there, a
file): chunks go straight into the store within one transaction, so nothing is written twice;
the store's write lock is held from the first chunk to the end. Either
refuses the whole input on any conflict (an id stored, or repeated within the input, with other
content): all or nothing, as `put` is.
"""

from __future__ import annotations

import functools
import sqlite3
from contextlib import contextmanager
from typing import Iterator

from logsvc.store import ConflictError
from logsvc.store.sqlite import _COLUMNS, SQLiteStore, _entry_to_row, _rollback

# Page cache for one bulk transaction, allocated only as used: a million random-UUID index inserts
# outgrow the store's usual 32 MiB (5 % slower either way); 256 MiB was no faster than 64.
_BULK_CACHE_KIB = 64 * 1024
_INSERT = f"INSERT OR IGNORE INTO main.entries ({_COLUMNS}) VALUES "
# Rows per INSERT in a direct bulk: one statement of many rows binds them in one call, where
# executemany runs the statement once a row (1.3x the time for 1,000,000 entries).
_ROWS_PER_INSERT = 1000
_MAX_CONFLICTS = 100


@functools.lru_cache(maxsize=8)
def _insert_statement(rows: int) -> str:
    return _INSERT + ", ".join(["(?, ?, ?, ?, ?)"] * rows)


@contextmanager
def bulk(store: SQLiteStore, *, direct: bool = False) -> Iterator["BulkWriter | DirectWriter"]:
    """Store a stream of chunks all at once on leaving the block; leaving it by an exception stores nothing.

    Staged (default): the store stays free for other writers however slowly the input arrives.
    `direct`: written as it comes, holding the store's write lock from the first chunk to the end.
    """
    if direct:
        with _direct(store) as writer:
            yield writer
        return
    conn = store._connect()
    writer = BulkWriter(store, conn)
    try:
        conn.execute("ATTACH DATABASE '' AS staging")
        conn.execute(
            "CREATE TABLE staging.pending (n INTEGER PRIMARY KEY, id TEXT, date_time TEXT,"
            " severity TEXT, message TEXT, source TEXT)"
        )
    except sqlite3.DatabaseError as exc:
        raise store._error(exc) from exc
    try:
        yield writer
        writer._merge()
    except BaseException:
        _detach_staging(conn)  # quietly: the error on its way out is the one to report
        raise
    try:
        conn.execute("DETACH DATABASE staging")
    except sqlite3.DatabaseError as exc:
        raise store._error(exc) from exc


class BulkWriter:
    """Stages chunks for `SQLiteStore.bulk`; `stored` and `replayed` are known once it merged."""

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self.stored = 0
        self.replayed = 0

    def write(self, entries: list[dict]) -> None:
        try:
            with self._store._transaction("DEFERRED") as conn:
                conn.executemany(
                    "INSERT INTO staging.pending (id, date_time, severity, message, source) VALUES (?, ?, ?, ?, ?)",
                    [_entry_to_row(entry) for entry in entries],
                )
        except sqlite3.DatabaseError as exc:
            raise self._store._error(exc) from exc

    @staticmethod
    def _conflicts_within_batch(conn: sqlite3.Connection) -> list[str]:
        repeated = [row[0] for row in conn.execute(
            "SELECT id FROM staging.pending GROUP BY id HAVING count(*) > 1")]
        conflicts = []
        for entry_id in repeated:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM staging.pending WHERE id = ?", (entry_id,))
            if len({tuple(row) for row in rows}) > 1:
                conflicts.append(entry_id)
        return conflicts

    def _merge(self) -> None:
        """Move the staged entries into the store: new ids stored, identical ones skipped, conflicts refused."""
        conn = self._conn
        try:
            conn.execute("CREATE INDEX staging.pending_by_id ON pending (id, n)")
            with _large_cache(conn), self._store._transaction() as conn:
                conflicts = [
                    row[0]
                    for row in conn.execute(
                        "SELECT DISTINCT p.id FROM staging.pending p JOIN main.entries e ON e.id = p.id"
                        " WHERE e.date_time IS NOT p.date_time OR e.severity IS NOT p.severity"
                        " OR e.message IS NOT p.message OR e.source IS NOT p.source LIMIT 100"
                    )
                ]
                # (an id may clash with the store and within the input: named once)
                conflicts += [entry_id for entry_id in self._conflicts_within_batch(conn) if entry_id not in conflicts]
                if conflicts:
                    raise ConflictError(conflicts)
                # Ids stored before this merge; an identical repeat within the input counts once.
                self.replayed = conn.execute(
                    "SELECT count(DISTINCT p.id) FROM staging.pending p JOIN main.entries e ON e.id = p.id"
                ).fetchone()[0]
                # Conflicts are ruled out, so every id clash left is an identical replay: ignore it.
                cursor = conn.execute(
                    f"INSERT OR IGNORE INTO main.entries ({_COLUMNS}) SELECT {_COLUMNS}"
                    " FROM staging.pending ORDER BY n"
                )
                self.stored = cursor.rowcount
        except sqlite3.DatabaseError as exc:
            raise self._store._error(exc) from exc


def _detach_staging(conn: sqlite3.Connection) -> None:
    _rollback(conn)
    try:
        conn.execute("DETACH DATABASE staging")
    except sqlite3.Error:
        pass


@contextmanager
def _large_cache(conn: sqlite3.Connection) -> Iterator[None]:
    usual = conn.execute("PRAGMA main.cache_size").fetchone()[0]
    conn.execute(f"PRAGMA main.cache_size=-{_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        try:
            conn.execute(f"PRAGMA main.cache_size={usual}")
        except sqlite3.Error:
            pass  # a closed connection: nothing to restore


@contextmanager
def _direct(store: SQLiteStore) -> Iterator["DirectWriter"]:
    # The store's own transaction: rolled back by any exception, the commit's failure reported.
    with _large_cache(store._connect()), store._transaction("IMMEDIATE") as conn:
        try:
            base = conn.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise store._error(exc) from exc
        writer = DirectWriter(store, conn, base)
        yield writer
        writer._finish()


class DirectWriter:
    """Writes chunks into the store as they come, inside one transaction the block commits.

    Conflicts are collected as they show (up to 100) and refused on leaving the block, so they
    are all named, as the staged merge names them. `stored` and `replayed` are known by then.
    """

    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection, base: int) -> None:
        self._store = store
        self._conn = conn
        self._base = base  # the store's last seq before this transaction: at or below it, stored before
        self._conflicts: list[str] = []
        self.stored = 0
        self.replayed = 0
        # Within SQLite's bound-variable limit (32,766 since 3.32; 999 before).
        self._per_insert = max(1, min(_ROWS_PER_INSERT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 5))


    def write(self, entries: list[dict]) -> None:
        conn = self._conn
        try:
            before = conn.total_changes
            for start in range(0, len(entries), self._per_insert):
                part = entries[start:start + self._per_insert]
                values: list = []
                add = values.extend  # (twice as fast as a nested comprehension)
                for entry in part:
                    add((entry["id"], entry["dateTime"], entry["severity"], entry["message"], entry.get("source")))
                conn.execute(_insert_statement(len(part)), values)
            inserted = conn.total_changes - before
            self.stored += inserted
            if inserted < len(entries):
                self._check([_entry_to_row(entry) for entry in entries])
        except sqlite3.DatabaseError as exc:
            raise self._store._error(exc) from exc

    def _check(self, rows: list[tuple]) -> None:
        """Some rows were not inserted, as their id is stored: each must be the stored entry again."""
        conn = self._conn
        existing = self._store._existing(conn, list({row[0]: None for row in rows}))
        replayed = []
        for row in rows:
            seq, stored = existing[row[0]]
            if _entry_to_row(stored) != row:
                if row[0] not in self._conflicts and len(self._conflicts) < _MAX_CONFLICTS:
                    self._conflicts.append(row[0])
            elif seq <= self._base:
                replayed.append((row[0],))
        if replayed:
            # Kept in SQLite, not in memory: a replayed file of millions of lines is counted once each.
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS logsvc_replayed (id TEXT PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO temp.logsvc_replayed VALUES (?)", replayed)

    def _finish(self) -> None:
        """Refuse the input on a conflict; else count the replays."""
        if self._conflicts:
            raise ConflictError(self._conflicts)
        conn = self._conn
        try:
            if conn.execute("SELECT count(*) FROM temp.sqlite_master WHERE name = 'logsvc_replayed'").fetchone()[0]:
                self.replayed = conn.execute("SELECT count(*) FROM temp.logsvc_replayed").fetchone()[0]
                conn.execute("DROP TABLE temp.logsvc_replayed")
        except sqlite3.DatabaseError as exc:
            raise self._store._error(exc) from exc
