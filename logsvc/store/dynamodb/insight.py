"""Bucket counts and time-ordered pages for the DynamoDB store: `logsvc stats` and `logsvc export`.

Counting reads no items out: per bucket and shard, ``Select=COUNT`` queries over the bucket's
range (``TimeId BETWEEN start AND end``: a TimeId is ``dateTime#id``, so the bare end time sorts
before every TimeId at that instant, and the range is [start, end)). All entries are counted on
the ``ByTime`` index; warning and error entries on their partitions of the sparse ``BySeverity``
index (``warning#k``, ``error#k``), which hold nothing else; info is what is left. So counting
every severity reads the window once plus its warning and error entries again, not three times
over. A table without ``BySeverity`` (made before it existed) is counted with a severity filter
on ``ByTime`` instead, which reads the range once per severity (the filter applies after the
read). Queries run a few at a time in threads; requests and read units
(``ReturnConsumedCapacity``) are summed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from logsvc.store import Query
from logsvc.store.dynamodb.schema import (
    _MESSAGE,
    _SEVERITY,
    _SEVERITY_SHARD,
    _SHARD,
    _TIME_ID,
    INDEX_NAME,
    SEVERITY_INDEX_NAME,
)

WORKERS = 8  # concurrent COUNT queries: the client's pool holds 32 connections


def planned_queries(buckets: int, shards: int, levels: int) -> int:
    return buckets * shards * levels


def count_by_bucket(store, query: Query, edges: list[str]):
    from logsvc.stats import MAX_DYNAMODB_QUERIES, Counts, ReadBudgetExceeded, levels_of

    if query.regex is not None:
        from logsvc.errors import UsageError

        raise UsageError("--regex cannot be counted on the dynamodb target", hint="use --grep TEXT")
    levels = levels_of(query.min_severity)
    shards = store._shard_count()
    planned = planned_queries(len(edges) - 1, shards, len(levels))
    if planned > MAX_DYNAMODB_QUERIES:
        raise ReadBudgetExceeded(
            f"{len(edges) - 1} buckets x {shards} shard{'s' if shards > 1 else ''} x {len(levels)} severities"
            f" = {planned} COUNT queries (at most {MAX_DYNAMODB_QUERIES})")
    # Per bucket: all levels' queries; "info" is what the unfiltered count leaves over.
    filters = [None if level == "info" else level for level in levels]
    jobs = [(bucket, shard, level) for bucket in range(len(edges) - 1) for shard in range(shards) for level in filters]
    from botocore.exceptions import ClientError

    from logsvc.store import StoreMisconfigured
    from logsvc.store.dynamodb.scan import _index_missing

    sparse = True
    probe = next((job for job in jobs if job[2] is not None), None)
    known: dict = {}
    if probe is not None:  # one BySeverity query first: a table made before the index refuses it
        try:
            known[probe] = _count(store, query, edges[probe[0]], edges[probe[0] + 1], probe[1], probe[2], sparse=True)
        except (ClientError, StoreMisconfigured) as exc:
            if not _index_missing(exc):
                raise
            sparse = False
    rest = _run(store, query, edges, [job for job in jobs if job not in known], sparse=sparse)
    results = [known[job] if job in known else next(rest) for job in jobs]
    buckets = [dict.fromkeys(levels, 0) for _ in range(len(edges) - 1)]
    requests, units = 0, 0.0
    for (bucket, _, level), (number, calls, used) in zip(jobs, results):
        requests += calls
        units += used
        buckets[bucket][level or "info"] += number
    if "info" in levels:
        for bucket in buckets:
            bucket["info"] -= sum(bucket[level] for level in levels if level != "info")
    return Counts(edges, levels, buckets, requests=requests, read_units=units)


def _run(store, query: Query, edges: list[str], jobs: list[tuple], *, sparse: bool):
    """The jobs' (entries, requests, read units), in order, as an iterator."""
    def one(job):
        bucket, shard, level = job
        return _count(store, query, edges[bucket], edges[bucket + 1], shard, level, sparse=sparse)

    if not jobs:
        return iter(())
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(jobs))) as pool:
        return iter(list(pool.map(one, jobs)))


def _count(store, query: Query, start: str, end: str, shard: int, level: str | None, *,
           sparse: bool) -> tuple[int, int, float]:
    """(entries, requests, read units) of one shard's [start, end), at `level` (None: any).

    `sparse`: a level's entries are counted on its own BySeverity partition, else by a filter.
    """
    index, key, value = INDEX_NAME, _SHARD, f"LOG#{shard}"
    if level is not None and sparse:
        index, key, value = SEVERITY_INDEX_NAME, _SEVERITY_SHARD, f"{level}#{shard}"
    names = {"#shard": key, "#time": _TIME_ID}
    values = {":shard": {"S": value}, ":start": {"S": start}, ":end": {"S": end}}
    filters = []
    if level is not None and not sparse:
        names["#severity"] = _SEVERITY
        values[":level"] = {"S": level}
        filters.append("#severity = :level")
    if query.grep:
        names["#message"] = _MESSAGE
        values[":grep"] = {"S": query.grep}
        filters.append("contains(#message, :grep)")
    request = {
        "TableName": store.table_name,
        "IndexName": index,
        "Select": "COUNT",
        "KeyConditionExpression": "#shard = :shard AND #time BETWEEN :start AND :end",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ReturnConsumedCapacity": "TOTAL",
    }
    if filters:
        request["FilterExpression"] = " AND ".join(filters)
    number, calls, units = 0, 0, 0.0
    while True:
        response = store._call("query", None, **request)
        calls += 1
        number += int(response.get("Count", 0))
        units += float((response.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0.0)
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return number, calls, units
        request["ExclusiveStartKey"] = last_key


def page_after(store, query: Query, after: str | None) -> tuple[list[dict], str | None]:
    """Up to `query.limit` matching entries after position `after` (a TimeId), oldest first, and
    the position to continue from: the last entry's when the page is full, where the reads
    stopped when the scan budget ran out (the page may then be short, even empty), else None.

    The budget (`scan.scan_budget`) bounds one call's reads whatever the filters: a --grep for
    something rare over a large window is read a few thousand items per page, not all at once.
    """
    from logsvc.store.dynamodb.scan import STOP, Budget, scan_budget

    if query.regex is not None:
        from logsvc.errors import UsageError

        raise UsageError("--regex cannot be exported from the dynamodb target", hint="use --grep TEXT")
    # TimeIds are "dateTime#id": those after `after` are strictly greater, and a bare time as the
    # (exclusive) lower bound keeps every TimeId at that instant.
    lower = after or query.since
    out: list[dict] = []
    budget = Budget(scan_budget(query.limit))
    for time_id, entry in store._merged(query, lower=lower, upper=query.until, ascending=True, budget=budget):
        if entry is STOP:
            return out, time_id  # read up to here in every partition: continue after it
        if isinstance(entry, dict) and query.matches(entry):
            out.append(entry)
            if len(out) >= query.limit:
                return out, time_id
    return out, None

