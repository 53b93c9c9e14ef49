"""Reading the DynamoDB store: the sharded read merge, `recent`, `follow` and the cursor format.

Tailing (`follow`) and its cursors
----------------------------------
A GSI is eventually consistent and entries carry the writer's clock, so "arrival order" cannot be
read from the index directly. Instead every read re-reads the last ``settle_seconds`` of the
index and de-duplicates by id. A cursor (opaque: url-safe base64 of compact JSON) holds:

- a watermark W (a ``TimeId``, or a bare time): everything with ``TimeId <= W`` was delivered, or
  was deliberately given up on;
- the short ids (first 12 hex digits) and times of the entries delivered with ``TimeId > W``.

`follow` queries every shard for ``TimeId > W`` in ascending order, merges, skips ids already
delivered and entries the query filters out, and takes ``limit``. The new watermark is
``max(W, min(now - settle, last delivered TimeId when the page was cut short by limit))``; the
delivered set is pruned to entries above it. `recent` returns a cursor with W = now - settle and
every matching entry above W marked as delivered: "everything that arrives after this read".

So an entry is delivered exactly once by a chain of `follow` calls provided it becomes visible in
the index before the reader's clock passes its dateTime + settle. Entries whose dateTime is
back-dated more than the settle window before their arrival (a writer clock far behind, a
replayed spool, an explicit old dateTime) show in `recent` but may not show in a running tail.
Each read costs (and a cursor holds) about rate x settle entries; keep a chain of follow calls
on one `Query` — entries filtered out count as delivered.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterator

from logsvc.entry import SEVERITIES, at_least
from logsvc.store import BadCursor, Page, Query
from logsvc.store.dynamodb.schema import _MESSAGE, _SEVERITY, _SHARD, _TIME_ID, INDEX_NAME, _entry_of, _millis
from logsvc.times import format_utc

_SHORT_ID_CHARS = 12  # 48 bits: a collision inside one settle window is negligible
_CURSOR_VERSION = "ddb1"  # also tells our cursors from another store's


class _Reads:
    """The read path of `DynamoDBStore`.

    Uses its `table_name`, `_settle`, `_clock`, `_shard_count` and `_call`.
    """

    def recent(self, query: Query) -> Page:
        """The newest `query.limit` matching entries, newest first, and a cursor for `follow`.

        Reads the whole settle window (to mark it delivered in the cursor), then older entries
        only as far as needed.
        """
        watermark = format_utc(self._clock() - self._settle)
        window = list(self._merged(query, lower=_max(watermark, query.since), upper=query.until, ascending=False))
        matching_window = [(time_id, entry) for time_id, entry in window if query.matches(entry)]
        entries = [entry for _, entry in matching_window[: query.limit]]
        if len(entries) < query.limit:
            older_upper = _min(watermark, query.until)
            older = self._merged(query, lower=query.since, upper=older_upper, ascending=False)
            for _, entry in older:
                if query.matches(entry):
                    entries.append(entry)
                    if len(entries) >= query.limit:
                        break
        seen = {_short(entry["id"]): _millis(entry["dateTime"]) for _, entry in matching_window}
        return Page(entries, _encode_cursor(watermark, seen))

    def follow(self, cursor: str, query: Query) -> Page:
        """Entries that arrived after `cursor`, oldest first, each once over a chain of calls."""
        watermark, seen = _decode_cursor(cursor)
        horizon = format_utc(self._clock() - self._settle)
        delivered: list[dict] = []
        last_time_id = None
        stream = self._merged(query, lower=_max(watermark, query.since), upper=query.until, ascending=True)
        for time_id, entry in stream:
            short = _short(entry["id"])
            if short in seen or not query.matches(entry):
                continue
            delivered.append(entry)
            seen[short] = _millis(entry["dateTime"])
            last_time_id = time_id
            if len(delivered) >= query.limit:
                break
        # Cut short by limit: the rest above the last delivered entry is still to come.
        truncated = len(delivered) >= query.limit and last_time_id is not None
        candidate = min(horizon, last_time_id) if truncated else horizon
        new_watermark = max(watermark, candidate)
        floor = _millis(new_watermark.split("#", 1)[0])
        kept = {short: millis for short, millis in seen.items() if millis >= floor}
        return Page(delivered, _encode_cursor(new_watermark, kept))

    def _merged(self, query: Query, *, lower: str | None, upper: str | None, ascending: bool) -> Iterator[tuple[str, dict]]:
        """(TimeId, entry) pairs of every shard with lower < TimeId < upper, merged in order."""
        shards = self._shard_count()
        # Unfiltered, a shard contributes about limit / N entries; a quarter more saves most second
        # pages. One shard holds them all: read exactly `limit` (each item read costs capacity).
        per_shard = query.limit if shards == 1 else -(-query.limit * 5 // (4 * shards))
        page_size = min(1000, max(16, per_shard))
        streams = [
            self._shard_stream(shard, query, lower=lower, upper=upper, ascending=ascending, page_size=page_size)
            for shard in range(shards)
        ]
        return heapq.merge(*streams, key=lambda pair: pair[0], reverse=not ascending)

    def _shard_stream(self, shard: int, query: Query, *, lower: str | None, upper: str | None,
                      ascending: bool, page_size: int) -> Iterator[tuple[str, dict]]:
        """One shard's index partition, paginated lazily. Both bounds are exclusive.

        Bounds are TimeIds or bare times; for a bare time "> t" and ">= t" select the same
        TimeIds (``t#id > t``), so only a TimeId lower bound needs the Python check below.
        """
        names = {"#shard": _SHARD, "#time": _TIME_ID}
        values: dict = {":shard": {"S": f"LOG#{shard}"}}
        condition = "#shard = :shard"
        if lower is not None and upper is not None:
            if lower >= upper:
                return
            condition += " AND #time BETWEEN :lower AND :upper"
            values[":lower"], values[":upper"] = {"S": lower}, {"S": upper}
        elif lower is not None:
            condition += " AND #time > :lower"
            values[":lower"] = {"S": lower}
        elif upper is not None:
            condition += " AND #time < :upper"
            values[":upper"] = {"S": upper}
        filters = []
        if query.min_severity and query.min_severity != SEVERITIES[0]:
            levels = at_least(query.min_severity)
            names["#severity"] = _SEVERITY
            placeholders = []
            for number, level in enumerate(levels):
                values[f":sev{number}"] = {"S": level}
                placeholders.append(f":sev{number}")
            filters.append(f"#severity IN ({', '.join(placeholders)})")
        if query.grep:
            names["#message"] = _MESSAGE
            values[":grep"] = {"S": query.grep}
            filters.append("contains(#message, :grep)")
        request = {
            "TableName": self.table_name,
            "IndexName": INDEX_NAME,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": ascending,
            "Limit": page_size,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        while True:
            response = self._call("query", None, **request)
            for item in response.get("Items", []):
                decoded = _entry_of(item)
                if decoded is None:
                    continue
                time_id = decoded[0]
                if (lower is not None and time_id <= lower) or (upper is not None and time_id >= upper):
                    continue
                yield decoded
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            request["ExclusiveStartKey"] = last_key


# -- cursors and small helpers -------------------------------------------------------------------


def _short(entry_id: str) -> str:
    return entry_id.replace("-", "")[:_SHORT_ID_CHARS]


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _encode_cursor(watermark: str, seen: dict[str, int]) -> str:
    """Compact: seen times are millisecond offsets from the watermark's time, which bounds them."""
    base = _millis(watermark.split("#", 1)[0])
    payload = {
        "v": _CURSOR_VERSION,
        "w": watermark,
        "s": [[short, millis - base] for short, millis in sorted(seen.items(), key=lambda pair: pair[1])],
    }
    raw = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str) -> tuple[str, dict[str, int]]:
    if not isinstance(cursor, str) or not cursor or len(cursor) > 2_000_000:
        raise BadCursor("the cursor is empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BadCursor("the cursor is not one this service issued") from exc
    if not isinstance(payload, dict) or payload.get("v") != _CURSOR_VERSION:
        raise BadCursor("the cursor is not one this service issued")
    watermark, pairs = payload.get("w"), payload.get("s")
    if not isinstance(watermark, str) or not isinstance(pairs, list):
        raise BadCursor("the cursor is corrupt")
    try:
        base = _millis(watermark.split("#", 1)[0])
    except ValueError as exc:
        raise BadCursor("the cursor is corrupt") from exc
    seen: dict[str, int] = {}
    for pair in pairs:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], int)
            or isinstance(pair[1], bool)
        ):
            raise BadCursor("the cursor is corrupt")
        seen[pair[0]] = base + pair[1]
    return watermark, seen
