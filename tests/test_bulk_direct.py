"""A direct bulk (a regular file, written as read) stores, counts and refuses exactly as the staged one (a pipe)."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logsvc.entry import normalise
from logsvc.store import ConflictError, Query
from logsvc.store.sqlite import SQLiteStore

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FAR = datetime(2100, 1, 1, tzinfo=timezone.utc)
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(6)]
AFTER = "00000000-0000-4000-8000-999999999999"
# Messages SQLite or JSON could mangle: a NUL, non-BMP, a line separator, quotes and backslashes.
MESSAGES = ["plain", "a\x00b", "\U0001f600", "x\u2028y", "q\"\\'", "caf\u00e9"]


def make(n: int, *, message: str | None = None, source: str | None = None, id: str | None = None) -> dict:
    raw = {"dateTime": (T0 + timedelta(seconds=n)).isoformat(), "severity": "info",
           "message": message if message is not None else f"message {n}"}
    if source is not None:
        raw["source"] = source
    if id is not None:
        raw["id"] = id
    return normalise(raw, now=FAR)


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT seq, id, date_time, severity, message, source FROM entries ORDER BY seq").fetchall()
    finally:
        conn.close()


def run_bulk(path: Path, before: list[dict], chunks: list[list[dict]], direct: bool):
    """(stored, replayed, conflicting ids or None, the store's rows after)."""
    store = SQLiteStore(path)
    try:
        for entry in before:
            store.put([entry])
        try:
            with store.bulk(direct=direct) as writer:
                for chunk in chunks:
                    writer.write(chunk)
        except ConflictError as exc:
            outcome = (None, None, sorted(exc.ids))
        else:
            outcome = (writer.stored, writer.replayed, None)
        store.put([make(999, id=AFTER)])  # usable afterwards, and the next seq follows on
    finally:
        store.close()
    return (*outcome, rows(path))


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "direct"])
def test_replays_and_repeats_are_counted_alike(tmp_path, direct):
    existing = make(0, source="web")
    fresh = [make(n) for n in range(1, 11)]
    chunks = [[dict(existing)] + fresh[:6], fresh[4:], [dict(existing)]]
    stored, replayed, conflicts, after = run_bulk(tmp_path / "s.db", [existing], chunks, direct)
    assert (stored, replayed, conflicts) == (10, 1, None)  # fresh[4:6] are repeats within the input
    assert [row[1] for row in after] == [existing["id"], *(e["id"] for e in fresh), AFTER]


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "direct"])
def test_a_conflict_anywhere_stores_nothing_and_names_every_id(tmp_path, direct):
    stored_before = make(0)
    within = make(5)
    chunks = [[make(n) for n in range(1, 5)], [within], [make(n) for n in range(6, 9)],
              [{**stored_before, "message": "changed"}, {**within, "severity": "error"}]]
    stored, replayed, conflicts, after = run_bulk(tmp_path / "s.db", [stored_before], chunks, direct)
    assert conflicts == sorted([stored_before["id"], within["id"]])
    assert [row[1] for row in after] == [stored_before["id"], AFTER]


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "direct"])
def test_an_exception_inside_stores_nothing_and_the_lock_is_released(tmp_path, direct):
    store = SQLiteStore(tmp_path / "s.db")
    other = SQLiteStore(tmp_path / "s.db", busy_timeout=0.2)
    try:
        with pytest.raises(KeyError):
            with store.bulk(direct=direct) as writer:
                writer.write([make(n) for n in range(30)])
                # Not visible to another connection before the block ends, which still reads freely.
                assert other.recent(Query(limit=100)).entries == []
                raise KeyError("boom")
        other.put([make(100, id=AFTER)])  # not locked out: the transaction is gone
        assert [e["id"] for e in store.recent(Query(limit=100)).entries] == [AFTER]
    finally:
        other.close()
        store.close()


def test_direct_holds_the_write_lock_until_the_block_ends(tmp_path):
    from logsvc.errors import StoreError

    store = SQLiteStore(tmp_path / "s.db")
    other = SQLiteStore(tmp_path / "s.db", busy_timeout=0.1)
    try:
        store.put([make(0)])
        with store.bulk(direct=True) as writer:
            writer.write([make(1)])
            with pytest.raises(StoreError, match="busy|locked"):
                other.put([make(2)])
        other.put([make(2)])
        assert len(store.recent(Query(limit=10)).entries) == 3
    finally:
        other.close()
        store.close()


def test_direct_writes_past_one_statement_of_rows(tmp_path):
    # More rows than one multi-row INSERT holds, in one write and across writes, in order.
    entries = [make(n) for n in range(2500)]
    stored, replayed, conflicts, after = run_bulk(tmp_path / "s.db", [], [entries[:2100], entries[2100:]], True)
    assert (stored, replayed, conflicts) == (2500, 0, None)
    assert [row[1] for row in after[:-1]] == [e["id"] for e in entries]
    assert [row[0] for row in after] == list(range(1, 2502))


entry_strategy = st.builds(
    lambda n, i, m, s: make(n, message=MESSAGES[m], source=s, id=IDS[i]),
    st.integers(0, 3), st.integers(0, len(IDS) - 1), st.integers(0, len(MESSAGES) - 1),
    st.sampled_from([None, "web", "\x00"]),
)


@settings(max_examples=150, deadline=None)
@given(before=st.lists(entry_strategy, max_size=4),
       chunks=st.lists(st.lists(entry_strategy, min_size=1, max_size=5), max_size=4))
def test_direct_and_staged_agree(before, chunks):
    with tempfile.TemporaryDirectory() as folder:
        unique_before = list({entry["id"]: entry for entry in before}.values())
        staged = run_bulk(Path(folder) / "staged.db", unique_before, chunks, False)
        direct = run_bulk(Path(folder) / "direct.db", unique_before, chunks, True)
    assert direct == staged


@pytest.mark.parametrize("direct", [False, True], ids=["staged", "direct"])
def test_a_full_store_is_reported_as_full_and_nothing_of_the_bulk_is_kept(tmp_path, direct):
    from logsvc.errors import StoreFull

    store = SQLiteStore(tmp_path / "s.db")
    try:
        store.put([make(0, id=AFTER)])
        store._connect().execute("PRAGMA max_page_count = 60")  # SQLite's own SQLITE_FULL, on this connection
        with pytest.raises(StoreFull) as info:
            with store.bulk(direct=direct) as writer:
                for chunk in range(20):
                    writer.write([make(n, message=f"{chunk} {n} " + "x" * 3000) for n in range(20)])
        assert "is full" in str(info.value) and "rollback" not in str(info.value)
        assert [row[1] for row in rows(tmp_path / "s.db")] == [AFTER]
        store._connect().execute("PRAGMA max_page_count = 1000000")  # space freed: writing works again
        with store.bulk(direct=direct) as writer:
            writer.write([make(1)])
        assert writer.stored == 1
    finally:
        store.close()
