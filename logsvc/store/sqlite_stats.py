"""Bucket counts and time-ordered pages for the local store: `logsvc stats` and `logsvc export`.

Both walk the (date_time, id) index: counting is one GROUP BY query over the window's range,
exporting a keyset page at a time (after the last (date_time, id) returned).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from logsvc.store import Query
from logsvc.store.sqlite import _COLUMNS, SQLiteStore, _filters, _row_to_entry


def _epoch_seconds(stored: str) -> int:
    return int(datetime.fromisoformat(stored).timestamp())


def count_by_bucket(store: SQLiteStore, query: Query, edges: list[str]):
    """One query: the bucket of a row is (its whole seconds - the first edge) // the bucket width.

    The stored form is fixed-width UTC, so its first 19 characters are the whole seconds, and a
    bucket's edges are whole seconds: an entry exactly on an edge falls in the bucket it starts.
    """
    from logsvc.stats import Counts, levels_of

    levels = levels_of(query.min_severity)
    first = _epoch_seconds(edges[0])
    width = _epoch_seconds(edges[1]) - first if len(edges) > 2 else 1 << 40
    where, params = _filters(query)
    sql = (
        f"SELECT (CAST(strftime('%s', substr(date_time, 1, 19)) AS INTEGER) - ?) / ? AS bucket, severity, count(*)"
        f" FROM entries INDEXED BY entries_by_time {where} GROUP BY bucket, severity"
    )
    buckets = [dict.fromkeys(levels, 0) for _ in range(len(edges) - 1)]
    with store._transaction("DEFERRED") as conn:
        try:
            rows = conn.execute(sql, (first, width, *params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise store._error(exc) from exc
    for bucket, severity, number in rows:
        if 0 <= bucket < len(buckets) and severity in buckets[bucket]:
            buckets[bucket][severity] += number
    return Counts(edges, levels, buckets, requests=1)


def page_after(store: SQLiteStore, query: Query, after: tuple[str, str] | None) -> list[dict]:
    """Up to `query.limit` matching entries after `after` = (dateTime, id), oldest first."""
    extra = ("(date_time, id) > (?, ?)", list(after)) if after else ()
    where, params = _filters(query, *extra)
    sql = f"SELECT {_COLUMNS} FROM entries INDEXED BY entries_by_time {where} ORDER BY date_time, id LIMIT ?"
    with store._transaction("DEFERRED") as conn:
        try:
            rows = conn.execute(sql, (*params, query.limit)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise store._error(exc) from exc
    return [_row_to_entry(row) for row in rows]
