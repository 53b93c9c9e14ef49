"""Reading index partitions in time order, within a budget: what every read of the store costs.

Partitions. Every entry is in the ``ByTime`` index, spread over N shards (``Shard = LOG#k``).
Warning and error entries are also in the sparse ``BySeverity`` index (``SevShard =
"<severity>#k"``, e.g. ``error#3``; info entries do not have the attribute, so the index does not
hold them). A read with ``severity=warning`` or ``error`` queries the severity partitions of those
levels (2N or N of them) instead of the time index, so it never reads an info entry: its cost
follows the number of matching entries, not the size of the table.

A table created before ``BySeverity`` existed (or while DynamoDB still builds it) answers such a
Query with a ValidationException: the store then reads the time index with a severity filter,
as before, and tries the index again after `INDEX_RECHECK_SECONDS`. `logsvc table upgrade` adds
the index to such a table.

Budget. A read examines at most `scan_budget(limit)` items, DynamoDB's ``ScannedCount`` summed
over every Query (items a filter drops count: they are read and billed). Each partition's first
page is at most ``budget / partitions`` items; later pages double up to 1000 and never exceed
what is left. When a partition needs another page and the budget is spent, the merged stream
ends with a marker ``(position, None)`` at that partition's last evaluated ``TimeId``: every
entry above it was examined in every partition, so a read can stop there and continue below it.
A budgeted merge also yields ``(position, SKIP)`` where a partition's page ends, so that a
partition whose pages hold no match does not read on (spending the budget) before the others
have caught up: every partition reads its next page only when the merge has come down to it.

Latency. The merge needs every partition's first page before it can yield anything, so those
first Queries go out together, one thread each (`_first_pages_together`): a read of N shards
waits for one round trip, not N (from a laptop to a distant region, or in the read handler,
that is most of a read's time). Later pages are read one at a time, as the merge needs them.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Iterator

from logsvc.entry import SEVERITIES, at_least
from logsvc.store import Query, StoreMisconfigured
from logsvc.store.dynamodb.schema import (
    _MESSAGE,
    _SEVERITY,
    _SEVERITY_SHARD,
    _SHARD,
    _TIME_ID,
    INDEX_NAME,
    SEVERITY_INDEX_NAME,
    _entry_of,
)

SCAN_PER_ENTRY = 5  # a read examines up to 5 items per entry asked for...
MIN_SCAN = 1000  # ...but at least 1000 (a grep for something rare must get somewhere)...
MAX_SCAN = 10_000  # ...and at most 10,000 (about 1 s of DynamoDB reads; a Lambda stays far from its timeout)
MAX_PAGE = 1000
INDEX_RECHECK_SECONDS = 300.0

# What a budgeted merge yields besides entries, each at its position in the order:
STOP = None  # the budget ran out: everything before this position was examined, nothing after it
SKIP = False  # a partition's page ended here (nothing to show; it reads on only if needed)


def scan_budget(limit: int, cap: int = MAX_SCAN) -> int:
    """Items one read may examine: 5 x limit, at least 1000, at most `cap` (10,000)."""
    return min(max(SCAN_PER_ENTRY * limit, MIN_SCAN), cap)


class Budget:
    """Items a read may still examine, shared by every partition it reads; `scanned` so far."""

    __slots__ = ("total", "left", "scanned", "partitions", "_lock")

    def __init__(self, total: int) -> None:
        self.total = total
        self.left = total
        self.scanned = 0
        self.partitions = 1
        self._lock = threading.Lock()  # the first pages are read in threads of their own

    def spend(self, items: int) -> None:
        with self._lock:
            self.scanned += items
            self.left -= items


class _Scans:
    """The merged, budgeted index reads of `DynamoDBStore`.

    Uses its `table_name`, `_shard_count`, `_call` and `_index_missing_until`.
    """

    def _merged(self, query: Query, *, lower: str | None, upper: str | None, ascending: bool,
                budget: Budget | None = None) -> Iterator[tuple[str, dict | bool | None]]:
        """(TimeId, entry) pairs with lower < TimeId < upper, merged in order over every partition.

        With a `budget`, also yields ``(position, SKIP)`` markers and may end with
        ``(position, STOP)``: the budget ran out (module docstring).
        """
        if self._uses_severity_index(query):
            from botocore.exceptions import ClientError

            merged = self._merge(query, severity_index=True, lower=lower, upper=upper, ascending=ascending, budget=budget)
            try:
                first = next(merged, None)  # primes every partition: a missing index fails here
            except (ClientError, StoreMisconfigured) as exc:
                if not _index_missing(exc):
                    raise
                self._index_missing_until = time.monotonic() + INDEX_RECHECK_SECONDS
            else:
                if first is not None:
                    yield first
                    yield from merged
                return
        yield from self._merge(query, severity_index=False, lower=lower, upper=upper, ascending=ascending, budget=budget)

    def _uses_severity_index(self, query: Query) -> bool:
        return (query.min_severity in SEVERITIES[1:]
                and time.monotonic() >= getattr(self, "_index_missing_until", 0.0))

    def _merge(self, query: Query, *, severity_index: bool, lower: str | None, upper: str | None,
               ascending: bool, budget: Budget | None) -> Iterator[tuple[str, dict | bool | None]]:
        shards = self._shard_count()
        if severity_index:
            partitions = [(SEVERITY_INDEX_NAME, _SEVERITY_SHARD, f"{level}#{k}")
                          for level in at_least(query.min_severity) for k in range(shards)]
        else:
            partitions = [(INDEX_NAME, _SHARD, f"LOG#{k}") for k in range(shards)]
        count = len(partitions)
        # Unfiltered, a partition contributes about limit / count entries; a quarter more saves
        # most second pages. Never more than `limit` from one (each item read costs capacity).
        per_partition = query.limit if count == 1 else -(-query.limit * 5 // (4 * count))
        page_size = min(query.limit, MAX_PAGE, max(16, per_partition))
        if budget is not None:
            budget.partitions = count
            page_size = max(1, min(page_size, budget.total // count))
        streams = [
            self._partition(index, key, value, query, filter_severity=not severity_index, lower=lower,
                            upper=upper, ascending=ascending, page_size=page_size, budget=budget)
            for index, key, value in partitions
        ]
        if count > 1:
            streams = _first_pages_together(streams)
        return heapq.merge(*streams, key=lambda pair: pair[0], reverse=not ascending)

    def _partition(self, index: str, key: str, value: str, query: Query, *, filter_severity: bool,
                   lower: str | None, upper: str | None, ascending: bool, page_size: int,
                   budget: Budget | None) -> Iterator[tuple[str, dict | bool | None]]:
        """One index partition, paginated lazily. Both bounds are exclusive.

        Bounds are TimeIds or bare times; for a bare time "> t" and ">= t" select the same
        TimeIds (``t#id > t``), so only a TimeId lower bound needs the Python check below.
        """
        names = {"#part": key}
        values: dict = {":part": {"S": value}}
        condition = "#part = :part"
        if lower is not None or upper is not None:
            names["#time"] = _TIME_ID
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
        if filter_severity and query.min_severity and query.min_severity != SEVERITIES[0]:
            names["#severity"] = _SEVERITY
            placeholders = []
            for number, level in enumerate(at_least(query.min_severity)):
                values[f":sev{number}"] = {"S": level}
                placeholders.append(f":sev{number}")
            filters.append(f"#severity IN ({', '.join(placeholders)})")
        if query.grep:
            names["#message"] = _MESSAGE
            values[":grep"] = {"S": query.grep}
            filters.append("contains(#message, :grep)")
        request = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": ascending,
            "Limit": page_size,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
        last_key = None
        while True:
            if budget is not None and last_key is not None:
                # Sized now, not when the last page came: other partitions may have spent since.
                if budget.left <= 0:
                    yield last_key[_TIME_ID]["S"], STOP  # examined down to here: continue below
                    return
                request["Limit"] = min(MAX_PAGE, 2 * request["Limit"], budget.left)
            response = self._call("query", None, **request)
            if budget is not None:
                budget.spend(response.get("ScannedCount", 0))
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
            if budget is not None:
                # The next page only when the merge gets down here: partitions advance together.
                yield last_key[_TIME_ID]["S"], SKIP


def _first_pages_together(streams: list[Iterator]) -> list[Iterator]:
    """The streams, each one's first item already read, all at once in threads (module docstring).

    A stream's first item costs its partition's first Query; each thread advances one stream once
    and is done, so every later step of a stream runs in the caller's thread, one at a time. What
    a first read raised is raised where that stream is first read from, as it would have been.
    The threads are daemons: a Ctrl-C does not wait for a request in flight (each is bounded by
    the client's timeouts anyway).
    """
    firsts: list[tuple[str, object]] = [("end", None)] * len(streams)

    def read_first(index: int) -> None:
        try:
            firsts[index] = ("item", next(streams[index]))
        except StopIteration:
            pass  # an empty partition: "end"
        except Exception as exc:  # not swallowed: raised again in the reading thread
            firsts[index] = ("error", exc)

    threads = [threading.Thread(target=read_first, args=(index,), daemon=True) for index in range(len(streams))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [_resumed(first, stream) for first, stream in zip(firsts, streams)]


def _resumed(first: tuple[str, object], stream: Iterator) -> Iterator:
    kind, value = first
    if kind == "error":
        raise value
    if kind == "item":
        yield value
        yield from stream


def _index_missing(exc: Exception) -> bool:
    """A Query on an index the table does not have (yet), which the error names: DynamoDB says
    ValidationException, moto ResourceNotFoundException (`_call` makes that StoreMisconfigured)."""
    cause = exc if hasattr(exc, "response") else exc.__cause__
    error = getattr(cause, "response", {}).get("Error", {})
    return (error.get("Code") in ("ValidationException", "ResourceNotFoundException")
            and SEVERITY_INDEX_NAME in error.get("Message", ""))
