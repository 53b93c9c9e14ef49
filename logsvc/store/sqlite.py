"""The embedded default: a SQLite file in WAL mode.

An ingestion sequence (`seq`, never reused) orders entries by arrival, so "everything after
cursor X" is exact: writers are serialised by SQLite, so a later commit always holds higher
sequence numbers than any reader has seen. `recent` walks the (dateTime, id) index backwards,
so its cost does not grow with the store.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from logsvc.entry import FIELDS, at_least, same_content
from logsvc.errors import StoreError, StoreFull
from logsvc.store import BadCursor, ConflictError, Page, PutResult, Query, unique_by_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    date_time TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    source TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (date_time, id);
"""
_COLUMNS = "id, date_time, severity, message, source"
_INSERT_OR_IGNORE = f"INSERT OR IGNORE INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_CHUNK = 500  # ids per existence check; well under SQLite's bound-variable limit
_CURSOR_PREFIX = "s"


def _row_to_entry(row: tuple) -> dict:
    entry = {"id": row[0], "dateTime": row[1], "severity": row[2], "message": row[3]}
    if row[4] is not None:
        entry["source"] = row[4]
    return entry


def _entry_to_row(entry: dict) -> tuple:
    return (entry["id"], entry["dateTime"], entry["severity"], entry["message"], entry.get("source"))


class SQLiteStore:
    """A local store in one SQLite file; safe for several threads and processes at once."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 60.0, create: bool = True) -> None:
        """`create=False` is for reading: a missing file is an error rather than a new empty store
        (a typo in --store creates nothing), and a store in a folder this user cannot write is
        opened read-only instead of failing."""
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._create = create
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._autocheckpoint = 4096  # WAL pages a commit may leave before it checkpoints itself

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if not self._create:
            conn = self._connect_existing()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is one transaction.
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._enable_wal(conn)
            # NORMAL in WAL mode is durable against process crashes and fsyncs at checkpoints.
            conn.execute("PRAGMA synchronous=NORMAL")
            # 32 MiB of page cache: random-UUID index inserts stay in memory for large stores.
            conn.execute("PRAGMA cache_size=-32768")
            # Random-UUID index inserts dirty pages all over the file; checkpointing every 16 MiB
            # of WAL instead of SQLite's 4 MiB copies a page once rather than once every few
            # commits (batch writes 1.3x faster at 300,000 entries). Larger intervals write faster
            # still but stall a writer for longer at each checkpoint: p99 of `serve` went 22 -> 43 ms.
            conn.execute(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")
            conn.executescript(SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise self._error(exc) from exc
        conn.create_function("regexp", 3, _regexp, deterministic=True)
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _connect_existing(self) -> sqlite3.Connection:
        """A connection to the store as it is, for reading: never creates a file or a folder."""
        from urllib.parse import quote

        if not self.path.is_file():
            raise StoreError(f"the local store {self.path} does not exist",
                             hint="check the path (--store, LOGSVC_STORE, the profile's store); sending creates a store")
        uri = "file:" + quote(str(self.path.absolute()))
        # Read-write first (a tail sees new entries as they are written); where this user cannot
        # write the file or its folder, read-only; where WAL's -shm cannot be created either, as
        # an immutable snapshot, since nobody could be writing there through this folder.
        for mode in ("rw", "ro", "ro&immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(f"{uri}?mode={mode}", uri=True, timeout=self._busy_timeout,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                if mode == "rw":
                    conn.executescript(SCHEMA)  # a store written by an older logsvc gains what reads need
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                if isinstance(exc, sqlite3.OperationalError) and ("readonly" in str(exc) or "unable to open" in str(exc)):
                    continue
                raise self._error(exc) from exc
            conn.create_function("regexp", 3, _regexp, deterministic=True)
            return conn
        raise StoreError(f"cannot open the local store {self.path} for reading",
                         hint="check that this user can read the file and its folder")

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL, waiting while another process initialises the file.

        Changing the journal mode answers SQLITE_BUSY at once, without the busy handler, while
        another connection writes in rollback mode: retry until the busy timeout.
        """
        import time

        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _error(self, exc: BaseException) -> StoreError:
        text = str(exc)
        if _disk_full(exc):
            return StoreFull(
                f"the disk holding the local store {self.path} is full ({text}); nothing of this write was stored",
                hint=f"free space on the disk of {self.path.parent}, or move the store (LOGSVC_HOME / --store)",
            )
        if "not a database" in text or "malformed" in text:
            return StoreError(
                f"the local store {self.path} is corrupt or not a logsvc store ({text})",
                hint="move it aside, or point LOGSVC_HOME / --store at another location",
            )
        if "locked" in text or "busy" in text:
            return StoreError(f"the local store {self.path} is busy ({text})", hint="try again")
        return StoreError(
            f"cannot open the local store {self.path} ({text})",
            hint="check that the directory exists and is writable, or set LOGSVC_HOME / --store",
        )

    def checkpoint_in_background(self, interval: float = 0.1) -> Callable[[], None]:
        """Copy the write-ahead log into the file on a thread of its own; returns what stops it.

        For `serve`: a commit crossing the checkpoint threshold copies the log on the committing
        thread, 40 % of the ingest handler's time under batch load. This thread checkpoints every
        `interval` (PASSIVE: waiting for no reader or writer); the writers' own threshold becomes a
        backstop four times higher. WAL with synchronous=NORMAL syncs at checkpoints, now as often.
        """
        stopping = threading.Event()
        self._autocheckpoint = 4 * 4096  # for connections opened from now on

        def checkpoints() -> None:
            conn = None
            try:
                while not stopping.wait(interval):
                    try:
                        if conn is None and self.path.is_file():  # the store is made by its first write
                            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                                                   check_same_thread=False)
                        if conn is not None:
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.DatabaseError:
                        pass  # busy or read-only now: the writers' own threshold still holds
            finally:
                if conn is not None:
                    conn.close()

        thread = threading.Thread(target=checkpoints, name="logsvc-checkpoint", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join()

        return stop

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute(f"BEGIN {mode}")
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            raise self._error(exc) from exc

    # -- writing -----------------------------------------------------------------------------

    def put(self, entries: list[dict]) -> PutResult:
        """Store entries in one transaction: all of them, or (on a conflict) none."""
        with self._transaction() as conn:
            stored, replayed = self._insert(conn, entries)
        return PutResult(stored, replayed)

    def bulk(self, *, direct: bool = False):
        """Store a stream of chunks in one transaction on leaving the block: staged, or with `direct`
        written as they come (see `logsvc.store.sqlite_bulk`)."""
        from logsvc.store.sqlite_bulk import bulk

        return bulk(self, direct=direct)

    def _insert(self, conn: sqlite3.Connection, entries: list[dict]) -> tuple[list[str], list[str]]:
        """Insert within the caller's transaction; ConflictError (the caller rolls back) on a clash."""
        unique = unique_by_id(entries)  # an identical repeat within the batch is stored and reported once
        replayed: list[str] = []
        conflicts: list[str] = []
        try:
            before_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0]
            before_changes = conn.total_changes
            conn.executemany(_INSERT_OR_IGNORE, [_entry_to_row(entry) for entry in unique.values()])
            if conn.total_changes - before_changes == len(unique):
                return list(unique), replayed  # the common case: every id is new
            # Some ids were stored already: rows newer than before_seq are ours, the rest must match.
            stored = []
            for entry_id, (seq, existing) in self._existing(conn, list(unique)).items():
                if seq > before_seq:
                    stored.append(entry_id)
                elif same_content(existing, unique[entry_id]):
                    replayed.append(entry_id)
                else:
                    conflicts.append(entry_id)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc
        if conflicts:
            raise ConflictError(conflicts)
        return stored, replayed

    @staticmethod
    def _existing(conn: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[int, dict]]:
        """Stored rows by id: (seq, entry)."""
        found = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT seq, {_COLUMNS} FROM entries WHERE id IN ({marks})", chunk):
                found[row[1]] = (row[0], _row_to_entry(row[1:]))
        return found

    # -- reading -----------------------------------------------------------------------------

    def recent(self, query: Query) -> Page:
        """The newest matching entries, newest first, and a cursor for what arrives after."""
        where, params = _filters(query)
        sql = (
            f"SELECT {_COLUMNS} FROM entries {where} "
            "ORDER BY date_time DESC, id DESC LIMIT ?"
        )
        rows, last = self._read(sql, (*params, query.limit))
        return Page([_row_to_entry(row) for row in rows], f"{_CURSOR_PREFIX}{last}")

    def follow(self, cursor: str, query: Query) -> Page:
        """Entries that arrived after `cursor`, in arrival order, each exactly once."""
        after = _parse_cursor(cursor)
        where, params = _filters(query, "seq > ?", [after])
        sql = f"SELECT seq, {_COLUMNS} FROM entries {where} ORDER BY seq LIMIT ?"
        rows, last = self._read(sql, (*params, query.limit))
        # A full page may stop short of the newest entry: continue right after it.
        position = rows[-1][0] if len(rows) == query.limit else max(last, after)
        return Page([_row_to_entry(row[1:]) for row in rows], f"{_CURSOR_PREFIX}{position}")

    def _read(self, sql: str, params: tuple) -> tuple[list[tuple], int]:
        """Rows of `sql` and the newest sequence number, from one snapshot."""
        with self._transaction("DEFERRED") as conn:
            try:
                rows = conn.execute(sql, params).fetchall()
                last = conn.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from exc
        return rows, last

    def count(self) -> int:
        with self._transaction("DEFERRED") as conn:
            return conn.execute("SELECT count(*) FROM entries").fetchone()[0]

    # Insight (`logsvc stats`, `logsvc export`), kept in their own module.

    def count_by_bucket(self, query: Query, edges: list[str]):
        from logsvc.store.sqlite_stats import count_by_bucket

        return count_by_bucket(self, query, edges)

    def page_after(self, query: Query, after: str | None) -> tuple[list[dict], str | None]:
        from logsvc.store.sqlite_stats import page_after

        return page_after(self, query, after)


def _disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL (the disk, or max_page_count), or ENOSPC from the file system."""
    import errno

    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is still open, without hiding the error that got us here.

    On some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ...) SQLite has already rolled the
    transaction back itself; an explicit ROLLBACK would then raise "no transaction is active" in
    place of the real cause. And a ROLLBACK that fails leaves nothing to do but report that cause.
    """
    # sqlite3.Error, not only DatabaseError: after Ctrl-C a bulk block may be finalised only once
    # the store is closed, and a closed connection (ProgrammingError) has nothing left to undo.
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _filters(query: Query, *extra: object) -> tuple[str, list]:
    clauses: list[str] = []
    params: list = []
    if extra:
        clauses.append(extra[0])
        params.extend(extra[1])
    if query.min_severity and query.min_severity != "info":
        levels = at_least(query.min_severity)
        clauses.append(f"severity IN ({','.join('?' * len(levels))})")
        params.extend(levels)
    if query.since:
        clauses.append("date_time >= ?")
        params.append(query.since)
    if query.until:
        clauses.append("date_time < ?")
        params.append(query.until)
    if query.before:  # a position (dateTime#id): before it in recent's order
        instant, _, entry_id = query.before.partition("#")
        # `<=` is a range on the index: a read below a position starts there, not at the newest.
        clauses.append("date_time <= ? AND (date_time < ? OR id < ?)")
        params.extend((instant, instant, entry_id))
    if query.grep:
        clauses.append("instr(message, ?) > 0")
        params.append(query.grep)
    if query.regex is not None:
        clauses.append("regexp(?, ?, message)")
        params.extend((query.regex.pattern, query.regex.flags))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _regexp(pattern: str, flags: int, text: str) -> bool:
    import re

    # re caches compiled patterns itself; the flags travel with the pattern (IGNORECASE, ...).
    return re.compile(pattern, flags).search(text) is not None


def _parse_cursor(cursor: str) -> int:
    digits = cursor[1:] if isinstance(cursor, str) and cursor.startswith(_CURSOR_PREFIX) else ""
    # ASCII digits only, and within SQLite's 64-bit integers.
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise BadCursor(f"cursor {str(cursor)[:40]!r} was not issued by a local store")
    return int(digits)


__all__ = ["SQLiteStore", "SCHEMA", "FIELDS"]
