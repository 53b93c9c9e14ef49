"""DynamoDBStore against a real moto server on loopback; faults injected at the botocore boundary."""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from dynamo_fixtures import (  # noqa: F401 - fixtures are used by name
    all_items,
    aws_response,
    dynamo_client,
    make_store,
    make_table,
    moto_endpoint,
    new_client,
    throttled,
)

from logsvc.entry import normalise
from logsvc.store import BadCursor, ConflictError, Query, StoreUnavailable
from logsvc.store.dynamodb import (
    INDEX_NAME,
    SETTINGS_ID,
    SEVERITY_INDEX_NAME,
    TTL_ATTRIBUTE,
    DynamoDBStore,
    create_table,
    shard_of,
    table_definition,
)
from logsvc.times import format_utc, now_utc

BASE = datetime(2026, 2, 9, 21, 0, 0, tzinfo=now_utc().tzinfo)


def entry(message="hello", *, at=None, severity="info", source=None, entry_id=None):
    raw = {"severity": severity, "message": message}
    if at is not None:
        raw["dateTime"] = format_utc(at)
    if source is not None:
        raw["source"] = source
    if entry_id is not None:
        raw["id"] = entry_id
    return normalise(raw)


def order_key(item):
    return (item["dateTime"], item["id"])


class Clock:
    """A settable clock for the store (tests move time instead of sleeping)."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


# -- schema ----------------------------------------------------------------------------------------


def test_table_definition_is_plain_data_with_the_time_index():
    definition = table_definition("t")
    assert json.loads(json.dumps(definition)) == definition  # plain data, template-comparable
    assert definition["KeySchema"] == [{"AttributeName": "LogID", "KeyType": "HASH"}]
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    index, severity_index = definition["GlobalSecondaryIndexes"]
    assert index["IndexName"] == INDEX_NAME
    assert severity_index["IndexName"] == SEVERITY_INDEX_NAME  # sparse: tests/test_costs.py
    assert severity_index["KeySchema"] == [
        {"AttributeName": "SevShard", "KeyType": "HASH"},
        {"AttributeName": "TimeId", "KeyType": "RANGE"},
    ]
    assert index["KeySchema"] == [
        {"AttributeName": "Shard", "KeyType": "HASH"},
        {"AttributeName": "TimeId", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_create_table_enables_ttl_records_shards_and_is_idempotent(dynamo_client, make_table):
    name = make_table(3)
    ttl = dynamo_client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == TTL_ATTRIBUTE and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    settings = dynamo_client.get_item(TableName=name, Key={"LogID": {"S": SETTINGS_ID}})["Item"]
    assert settings["Shards"] == {"N": "3"}
    assert create_table(dynamo_client, name, shards=5) is False
    settings = dynamo_client.get_item(TableName=name, Key={"LogID": {"S": SETTINGS_ID}})["Item"]
    assert settings["Shards"] == {"N": "3"}  # an existing table is left alone


def test_shard_count_is_read_from_the_settings_item(dynamo_client, make_table, make_store):
    name = make_table(4)
    store = make_store(table=name, shards=None)
    entries = [entry(f"m{i}", at=BASE + timedelta(seconds=i)) for i in range(40)]
    store.put(entries)
    shards = {item["LogID"]["S"]: item["Shard"]["S"] for item in all_items(dynamo_client, name)}
    assert shards == {e["id"]: f"LOG#{shard_of(e['id'], 4)}" for e in entries}
    assert len(set(shards.values())) == 4
    assert [e["id"] for e in store.recent(Query(limit=100)).entries] == [
        e["id"] for e in sorted(entries, key=order_key, reverse=True)
    ]


# -- writing and reading -------------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 4])
def test_recent_merges_shards_newest_first_with_ties_by_id(make_store, shards):
    store = make_store(shards)
    entries = []
    for second in range(12):  # three entries share each instant: ties are ordered by id
        at = BASE + timedelta(seconds=second)
        entries += [entry(f"message {second}-{n}", at=at) for n in range(3)]
    random.Random(7).shuffle(entries)
    for start in range(0, len(entries), 5):
        store.put(entries[start : start + 5])

    expected = sorted(entries, key=order_key, reverse=True)
    assert store.recent(Query(limit=1000)).entries == expected
    assert store.recent(Query(limit=7)).entries == expected[:7]


@pytest.mark.parametrize("shards", [1, 4])
def test_recent_filters(make_store, shards):
    store = make_store(shards)
    levels = ["info", "warning", "error"]
    entries = [
        entry(f"request {i} {'timeout' if i % 4 == 0 else 'ok'}", at=BASE + timedelta(seconds=i), severity=levels[i % 3])
        for i in range(30)
    ]
    store.put(entries)
    newest_first = sorted(entries, key=order_key, reverse=True)

    def ids(query):
        return [e["id"] for e in store.recent(query).entries]

    assert ids(Query(min_severity="warning")) == [e["id"] for e in newest_first if e["severity"] != "info"]
    assert ids(Query(min_severity="error")) == [e["id"] for e in newest_first if e["severity"] == "error"]
    assert ids(Query(grep="timeout")) == [e["id"] for e in newest_first if "timeout" in e["message"]]
    assert ids(Query(regex=re.compile(r"request 1\d "))) == [
        e["id"] for e in newest_first if re.search(r"request 1\d ", e["message"])
    ]
    since, until = format_utc(BASE + timedelta(seconds=10)), format_utc(BASE + timedelta(seconds=20))
    assert ids(Query(since=since, until=until)) == [
        e["id"] for e in newest_first if since <= e["dateTime"] < until
    ]
    assert ids(Query(since=since, until=until, min_severity="error", limit=2)) == [
        e["id"] for e in newest_first if since <= e["dateTime"] < until and e["severity"] == "error"
    ][:2]


def test_source_and_ttl_attributes(dynamo_client, make_table, make_store):
    name = make_table(1)
    store = make_store(table=name, retention_days=3)
    with_source = entry("with source", at=BASE, source="billing")
    store.put([with_source])
    [item] = all_items(dynamo_client, name)
    assert item[TTL_ATTRIBUTE] == {"N": str(int(BASE.timestamp()) + 3 * 86400)}
    assert item["Source"] == {"S": "billing"}
    assert item["TimeId"] == {"S": f"{with_source['dateTime']}#{with_source['id']}"}
    assert store.recent(Query()).entries == [with_source]

    name_no_ttl = make_table(1)
    make_store(table=name_no_ttl).put([entry("kept forever", at=BASE)])
    [item] = all_items(dynamo_client, name_no_ttl)
    assert TTL_ATTRIBUTE not in item and "Source" not in item


def test_single_put_replay_and_conflict(dynamo_client, make_table, make_store):
    name = make_table(2)
    store = make_store(table=name)
    first = entry("original", at=BASE)
    assert store.put([first]).stored == [first["id"]]
    replay = store.put([dict(first)])
    assert (replay.stored, replay.replayed) == ([], [first["id"]])
    with pytest.raises(ConflictError) as caught:
        store.put([{**first, "message": "changed"}])
    assert caught.value.ids == [first["id"]]
    assert [item["Message"]["S"] for item in all_items(dynamo_client, name)] == ["original"]


def test_batch_replay_conflict_and_duplicates(dynamo_client, make_table, make_store):
    name = make_table(4)
    store = make_store(table=name)
    old = [entry(f"old {i}", at=BASE + timedelta(seconds=i)) for i in range(3)]
    store.put(old)

    new = [entry(f"new {i}", at=BASE + timedelta(seconds=10 + i)) for i in range(3)]
    result = store.put(old[:2] + new + [dict(new[0])])  # identical duplicate collapses
    assert result.replayed == [old[0]["id"], old[1]["id"]]
    assert result.stored == [e["id"] for e in new]
    assert len(all_items(dynamo_client, name)) == 6

    fresh = entry("fresh", at=BASE + timedelta(seconds=30))
    with pytest.raises(ConflictError) as caught:
        store.put([fresh, {**old[2], "severity": "error"}])
    assert caught.value.ids == [old[2]["id"]]
    with pytest.raises(ConflictError) as caught:
        store.put([fresh, {**fresh, "message": "other"}])
    assert caught.value.ids == [fresh["id"]]
    assert fresh["id"] not in {item["LogID"]["S"] for item in all_items(dynamo_client, name)}
    assert len(all_items(dynamo_client, name)) == 6


# -- retries ----------------------------------------------------------------------------------------


def test_unprocessed_items_are_retried(dynamo_client, make_table, make_store, moto_endpoint):
    name = make_table(2)
    # Three real calls (the settings item, the check, the side write) come before the one retry:
    # 5 s of budget, which a loaded machine cannot spend first (a put that succeeds never waits on it).
    store = make_store(table=name, retry_seconds=5.0)
    side_client = new_client(moto_endpoint)  # writes "half" of the first request, as DynamoDB might
    calls = []

    def half_processed(request, **_):
        calls.append(json.loads(request.body))
        if len(calls) > 1:
            return None  # later calls reach moto
        writes = calls[0]["RequestItems"][name]
        side_client.batch_write_item(RequestItems={name: writes[:10]})
        return aws_response(request, 200, {"UnprocessedItems": {name: writes[10:]}})

    store._client.meta.events.register("before-send.dynamodb.BatchWriteItem", half_processed)
    entries = [entry(f"m{i}", at=BASE + timedelta(milliseconds=i)) for i in range(25)]
    result = store.put(entries)
    assert result.stored == [e["id"] for e in entries]
    assert len(calls) == 2 and len(calls[1]["RequestItems"][name]) == 15
    assert {item["LogID"]["S"] for item in all_items(dynamo_client, name)} == {e["id"] for e in entries}
    side_client.close()


@pytest.mark.parametrize("operation", ["PutItem", "Query", "BatchGetItem"])
def test_transient_throttling_is_retried(make_store, operation):
    store = make_store(2, retry_seconds=3.0)
    failures = {"left": 3}

    def throttle_three_times(request, **_):
        if failures["left"]:
            failures["left"] -= 1
            return throttled(request, "ThrottlingException")
        return None

    store._client.meta.events.register(f"before-send.dynamodb.{operation}", throttle_three_times)
    single, pair = entry("one", at=BASE), [entry("a", at=BASE), entry("b", at=BASE)]
    assert store.put([single]).stored == [single["id"]]
    assert store.put(pair).stored == [e["id"] for e in pair]
    assert {e["id"] for e in store.recent(Query()).entries} == {single["id"], *(e["id"] for e in pair)}
    assert failures["left"] == 0


def test_persistent_throttling_reports_stored_and_pending_without_duplicates(dynamo_client, make_table, make_store):
    name = make_table(4)
    store = make_store(table=name, retry_seconds=0.5)
    calls = []

    def throttle_after_first(request, **_):
        calls.append(request)
        return throttled(request) if len(calls) > 1 else None

    store._client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttle_after_first)
    entries = [entry(f"m{i}", at=BASE + timedelta(milliseconds=i)) for i in range(60)]
    with pytest.raises(StoreUnavailable) as caught:
        store.put(entries)
    # Bounded by retry_seconds, counted rather than timed: backoffs sleep at least 25, 50, 100, 200,
    # 400 ms, so 0.5 s allows at most 4 of them: the first request and at most 5 throttled attempts
    # (a slower machine only makes fewer). Ignoring the budget would make the store's 8 attempts.
    assert 2 <= len(calls) <= 1 + 5
    ids = [e["id"] for e in entries]
    assert caught.value.stored == ids[:25]
    assert caught.value.pending == ids[25:]
    assert sorted(item["LogID"]["S"] for item in all_items(dynamo_client, name)) == sorted(ids[:25])

    store._client.meta.events.unregister("before-send.dynamodb.BatchWriteItem", throttle_after_first)
    retried = store.put(entries)
    assert retried.replayed == ids[:25] and retried.stored == ids[25:]
    assert sorted(item["LogID"]["S"] for item in all_items(dynamo_client, name)) == sorted(ids)


def test_persistent_throttling_of_a_single_put_and_of_reads(make_store):
    store = make_store(1, retry_seconds=0.3)
    store._client.meta.events.register("before-send.dynamodb.*", lambda request, **_: throttled(request))
    lone = entry("lone", at=BASE)
    with pytest.raises(StoreUnavailable) as caught:
        store.put([lone])
    assert (caught.value.stored, caught.value.pending) == ([], [lone["id"]])
    with pytest.raises(StoreUnavailable):
        store.recent(Query())


def test_a_missing_table_is_unavailable_not_a_crash(moto_endpoint):
    store = DynamoDBStore("no-such-table", client=new_client(moto_endpoint), shards=1, retry_seconds=0.2)
    with pytest.raises(StoreUnavailable, match="no-such-table"):
        store.recent(Query())
    with pytest.raises(StoreUnavailable) as caught:
        store.put([entry("x"), entry("y")])
    assert len(caught.value.pending) == 2


# -- malformed items --------------------------------------------------------------------------------


def test_items_missing_attributes_do_not_break_reads(dynamo_client, make_table, make_store):
    name = make_table(1)
    store = make_store(table=name, settle_seconds=5, clock=Clock(BASE + timedelta(seconds=1)))
    good = entry("good", at=BASE)
    store.put([good])
    at = format_utc(BASE)

    def raw(log_id, **attributes):
        item = {"LogID": {"S": log_id}, "Shard": {"S": "LOG#0"}, "TimeId": {"S": f"{at}#{log_id}"}}
        item.update(attributes)
        dynamo_client.put_item(TableName=name, Item=item)

    raw("no-message", DateTime={"S": at}, Severity={"S": "info"})
    raw("no-time", Message={"S": "m"}, Severity={"S": "info"})
    raw("bad-time", DateTime={"S": "yesterday"}, Message={"S": "m"})
    raw("number-message", DateTime={"S": at}, Message={"N": "5"})
    raw("odd-severity", DateTime={"S": at}, Message={"S": "odd"}, Severity={"S": "CRITICAL"})
    raw("no-severity", DateTime={"S": at}, Message={"S": "none"})

    page = store.recent(Query())
    by_id = {e["id"]: e for e in page.entries}
    assert set(by_id) == {good["id"], "odd-severity", "no-severity"}
    assert by_id["odd-severity"]["severity"] == "info" and by_id["no-severity"]["severity"] == "info"
    assert [e["id"] for e in store.recent(Query(min_severity="warning")).entries] == []

    store._clock = Clock(BASE - timedelta(seconds=10))  # a cursor from before everything above
    cursor = store.recent(Query(since=format_utc(BASE + timedelta(days=1)))).cursor
    store._clock = Clock(BASE + timedelta(seconds=1))
    assert {e["id"] for e in store.follow(cursor, Query()).entries} == set(by_id)


# -- follow and cursors ----------------------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 4])
def test_follow_delivers_new_entries_oldest_first_once(make_store, shards):
    clock = Clock(BASE)
    store = make_store(shards, settle_seconds=5, clock=clock)
    before = [entry(f"before {i}", at=BASE - timedelta(seconds=i)) for i in range(6)]
    store.put(before)
    page = store.recent(Query(limit=3))
    assert page.entries == sorted(before, key=order_key, reverse=True)[:3]
    cursor = page.cursor
    assert store.follow(cursor, Query()).entries == []  # the settle window was marked delivered

    clock.now = BASE + timedelta(seconds=2)
    after = [entry(f"after {i}", at=BASE + timedelta(seconds=1, milliseconds=i % 3)) for i in range(17)]
    store.put(after)
    delivered = []
    for _ in range(10):  # limit 4: several pages, each cut short by limit
        page = store.follow(cursor, Query(limit=4))
        cursor = page.cursor
        assert len(page.entries) <= 4
        delivered += page.entries
    assert delivered == sorted(after, key=order_key)

    clock.now = BASE + timedelta(seconds=30)  # the window has passed: the cursor forgets the ids
    assert store.follow(cursor, Query()).entries == []
    later = entry("later", at=clock.now)
    store.put([later])
    page = store.follow(cursor, Query())
    assert page.entries == [later]
    assert store.follow(page.cursor, Query()).entries == []
    assert len(page.cursor) < 200  # one seen id, not the history


def test_follow_settle_window_and_backdated_entries(make_store):
    clock = Clock(BASE)
    store = make_store(2, settle_seconds=5, clock=clock)
    cursor = store.recent(Query()).cursor
    clock.now = BASE + timedelta(seconds=10)
    cursor = store.follow(cursor, Query()).cursor  # watermark now BASE+5s

    late_but_within = entry("3 s late", at=clock.now - timedelta(seconds=3))
    too_old = entry("back-dated 20 s", at=clock.now - timedelta(seconds=20))
    store.put([late_but_within, too_old])
    page = store.follow(cursor, Query())
    assert page.entries == [late_but_within]  # documented: back-dated beyond settle is skipped
    assert {e["id"] for e in store.recent(Query()).entries} == {late_but_within["id"], too_old["id"]}


def test_follow_filtered_entries_count_as_delivered(make_store):
    clock = Clock(BASE)
    store = make_store(4, settle_seconds=5, clock=clock)
    query = Query(min_severity="error", limit=2)
    cursor = store.recent(query).cursor
    entries = [entry(f"e{i}", at=BASE + timedelta(seconds=1, milliseconds=i), severity=["info", "error"][i % 2]) for i in range(10)]
    store.put(entries)
    delivered = []
    for _ in range(6):
        page = store.follow(cursor, query)
        delivered += page.entries
        cursor = page.cursor
    assert delivered == [e for e in entries if e["severity"] == "error"]


@pytest.mark.parametrize(
    "cursor",
    ["", "not base64 ***", "eyJ2Ijoib3RoZXIifQ", "bm90IGpzb24", "WzEsMiwzXQ", "eyJ2IjoiZGRiMSIsInciOiJ4IiwicyI6W119"],
)
def test_bad_cursors_are_rejected(make_store, cursor):
    store = make_store(1)
    with pytest.raises(BadCursor):
        store.follow(cursor, Query())


class WritersClock:
    """A clock shared by writers and a reader, which only the reader moves.

    A writer waits until the clock reaches its next write time, then takes its dateTime and puts
    inside `writing()`; `advance` waits until no put is in flight (and lets no new one start
    meanwhile). So every entry is in the index before the reader's clock moves past its
    dateTime, and writers write per tick of this clock, not per real second: the same test on
    an idle or a loaded machine.
    """

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._cond = threading.Condition()
        self._in_flight = 0
        self._advancing = False
        self._closed = False

    def __call__(self) -> datetime:
        with self._cond:
            return self.now

    @contextmanager
    def writing(self, not_before: datetime) -> Iterator[datetime | None]:
        """Wait until the clock reaches `not_before`; yield its time, or None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (not self._advancing and self.now >= not_before))
            closed, now = self._closed, self.now
            if not closed:
                self._in_flight += 1
        if closed:
            yield None
            return
        try:
            yield now
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def advance(self, step: timedelta) -> None:
        with self._cond:
            self._advancing = True
            self._cond.wait_for(lambda: self._in_flight == 0)
            self.now += step
            self._advancing = False
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def test_follow_exactly_once_with_skewed_concurrent_writers(make_store):
    """4 writers with clocks off by up to 3 s, a reader tailing with a 5 s settle window.

    Time is a clock the reader moves 0.2 s per poll (see WritersClock): the settle horizon
    passes entries while the writers keep writing, and follow runs while puts are in flight.
    """
    clock = WritersClock(BASE)
    store = make_store(4, settle_seconds=5.0, retry_seconds=3.0, clock=clock)
    cursor = store.recent(Query(limit=1)).cursor
    written: list[str] = []
    written_lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(skew_seconds: float, seed: int) -> None:
        rng = random.Random(seed)
        next_at = BASE
        try:
            while True:
                with clock.writing(next_at) as now:
                    if now is None:
                        return
                    batch = [
                        entry(f"skew {skew_seconds} #{rng.random()}", at=now + timedelta(seconds=skew_seconds))
                        for _ in range(rng.randint(1, 3))
                    ]
                    store.put(batch)
                with written_lock:
                    written.extend(e["id"] for e in batch)
                next_at = now + timedelta(seconds=rng.uniform(0.2, 0.6))
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(skew, n)) for n, skew in enumerate([-3.0, -1.0, 1.5, 3.0])]
    for thread in threads:
        thread.start()
    delivered: list[str] = []
    try:
        for _ in range(50):  # 10 s of the clock: the horizon passes the first 5 s of entries
            clock.advance(timedelta(seconds=0.2))
            page = store.follow(cursor, Query(limit=7))
            cursor = page.cursor
            delivered += [e["id"] for e in page.entries]
    finally:
        clock.close()
        for thread in threads:
            thread.join()
    assert not failures
    for _ in range(len(written)):  # catch up, 50 a page (the loop ends well before this bound)
        page = store.follow(cursor, Query(limit=50))
        cursor = page.cursor
        delivered += [e["id"] for e in page.entries]
        if not page.entries:
            break
    clock.advance(timedelta(seconds=30))  # the settle window passes everything: nothing comes back
    for _ in range(3):
        page = store.follow(cursor, Query(limit=50))
        cursor = page.cursor
        delivered += [e["id"] for e in page.entries]

    assert len(written) > 50
    assert len(delivered) == len(set(delivered)), "an entry was delivered twice"
    assert set(delivered) == set(written)


def test_shard_of_is_uuid_modulo():
    some_id = str(uuid.UUID(int=4 * 12345 + 3))
    assert shard_of(some_id, 4) == 3 and shard_of(some_id, 1) == 0
