"""A read of several index partitions sends their first Queries together (`scan._first_pages_together`):
one round trip for N shards rather than N. Against a moto server on loopback, held apart by hooks."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from dynamo_fixtures import dynamo_client, make_store, make_table, moto_endpoint  # noqa: F401 - fixtures
from dynamo_fixtures import cursor_taken_at

from logsvc.entry import normalise
from logsvc.store import Query
from logsvc.times import UTC, format_utc

PAST = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


def entries(count: int, severity: str = "info") -> list[dict]:
    return [normalise({"severity": severity, "message": f"m{i}", "dateTime": format_utc(PAST + timedelta(seconds=i))})
            for i in range(count)]


def partition(params: dict) -> str:
    return params["ExpressionAttributeValues"][":part"]["S"]


def hold_first_queries(store, parties: int) -> list[str]:
    """Hold each of the read's first `parties` Queries until all of them have been sent: a read
    sending them one after another never gets past the first (it fails after 10 s)."""
    import json

    barrier, seen, lock = threading.Barrier(parties, timeout=10), [], threading.Lock()

    def hold(model, params, **_):
        with lock:
            seen.append(partition(json.loads(params["body"])))
            first = len(seen) <= parties
        if first:
            barrier.wait()

    store._client.meta.events.register("before-call.dynamodb.Query", hold)
    return seen


@pytest.mark.parametrize("severity", [None, "warning"])
def test_the_first_queries_of_every_partition_are_in_flight_together(make_store, severity):
    store = make_store(4)
    data = entries(60) + entries(20, "warning") + entries(20, "error")
    store.put(data)
    store.check()
    partitions = 4 if severity is None else 8  # the warning and error partitions of BySeverity
    seen = hold_first_queries(store, partitions)
    page = store.recent(Query(limit=30, min_severity=severity))
    wanted = sorted((e for e in data if severity is None or e["severity"] != "info"),
                    key=lambda e: (e["dateTime"], e["id"]), reverse=True)[:30]
    assert page.entries == wanted
    assert len(set(seen[:partitions])) == partitions  # one first Query per partition, all held together


def test_a_follow_far_behind_reads_every_entry_once_with_its_first_pages_together(make_store):
    store = make_store(4)
    data = entries(90)
    store.put(data)
    cursor = cursor_taken_at(store, PAST - timedelta(hours=1))  # an hour before the entries: all still to come
    seen = hold_first_queries(store, 4)
    delivered = []
    for _ in range(20):
        page = store.follow(cursor, Query(limit=25))
        delivered += page.entries
        cursor = page.cursor
        if len(delivered) >= 90:
            break
    assert [e["id"] for e in delivered] == [e["id"] for e in sorted(data, key=lambda e: (e["dateTime"], e["id"]))]
    assert len(seen) > 4  # later pages too, once the first four went out together


def test_what_a_first_query_raised_is_raised_by_the_read(make_store):
    import json

    store = make_store(4)
    store.put(entries(40))
    store.check()

    def refuse_shard_two(model, params, **_):
        if partition(json.loads(params["body"])) == "LOG#2":
            raise RuntimeError("shard two refused")

    store._client.meta.events.register("before-call.dynamodb.Query", refuse_shard_two)
    with pytest.raises(RuntimeError, match="shard two refused"):
        store.recent(Query(limit=10))
