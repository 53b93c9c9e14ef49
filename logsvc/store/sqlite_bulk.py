"""Bulk writes to the SQLite store: stage a stream of entries, then merge them in one transaction.

Staging goes to a private temporary database ATTACHed to the writer's own connection, so the
store is locked only for the final merge, however slowly the input arrives (a pipe, a 1M-line
file). The merge refuses the whole input on any conflict (an id stored, or repeated within the
input, with other content): all or nothing, as `put` is.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

from logsvc.store import ConflictError
from logsvc.store.sqlite import _COLUMNS, SQLiteStore, _entry_to_row, _rollback


@contextmanager
def bulk(store: SQLiteStore) -> Iterator["BulkWriter"]:
    """Stage a stream of chunks, then store them all in one short transaction on leaving the block.

    Staging goes to a private temporary database, so the store stays free for other writers
    however slowly the input arrives; leaving the block by an exception stores nothing.
    """
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
            with self._store._transaction() as conn:
                conflicts = [
                    row[0]
                    for row in conn.execute(
                        "SELECT p.id FROM staging.pending p JOIN main.entries e ON e.id = p.id"
                        " WHERE e.date_time IS NOT p.date_time OR e.severity IS NOT p.severity"
                        " OR e.message IS NOT p.message OR e.source IS NOT p.source LIMIT 100"
                    )
                ]
                conflicts += self._conflicts_within_batch(conn)
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
