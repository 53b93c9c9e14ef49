"""The DynamoDB store's write path exactly (gaps found by mutation testing of store/dynamodb/writes.py).

The items written, attribute by attribute; the requests made (their kind, size and consistency);
what a failure at each step reports as stored and pending; an item that vanished or is malformed.
On the moto server; DynamoDB's own answers (throttling, unprocessed work) through botocore's
before-send hook, as in tests/test_dynamodb_store.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
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
from logsvc.store import ConflictError, StoreMisconfigured, StoreUnavailable
from logsvc.store.dynamodb import shard_of

BASE = datetime(2026, 2, 9, 21, 0, 0, tzinfo=timezone.utc)


def entry(message="hello", *, at=BASE, severity="info", source=None, entry_id=None) -> dict:
    raw = {"severity": severity, "message": message, "dateTime": at.isoformat()}
    if source is not None:
        raw["source"] = source
    if entry_id is not None:
        raw["id"] = entry_id
    return normalise(raw)


def record_requests(store) -> list[tuple[str, dict]]:
    """Every request the store sends, as (operation, body), in order."""
    sent: list[tuple[str, dict]] = []

    def record(request, event_name, **_):
        sent.append((event_name.rsplit(".", 1)[1], json.loads(request.body or b"{}")))

    store._client.meta.events.register("before-send.dynamodb.*", record)
    return sent


def on(store, operation: str, answer) -> list[dict]:
    """Answer `operation` with answer(request, call_number) (None: let moto answer); the bodies sent."""
    bodies: list[dict] = []

    def hook(request, **_):
        bodies.append(json.loads(request.body))
        return answer(request, len(bodies))

    store._client.meta.events.register(f"before-send.dynamodb.{operation}", hook)
    return bodies


def ids(entries: list[dict]) -> list[str]:
    return [item["id"] for item in entries]


# -- the items -------------------------------------------------------------------------------------------


def test_each_entry_is_one_item_with_exactly_its_attributes(dynamo_client, make_table, make_store):
    name = make_table(4)
    store = make_store(table=name, shards=4, retention_days=2)
    info = entry("plain")
    warning = entry("with source", severity="warning", source="billing", at=BASE + timedelta(seconds=1))
    store.put([info, warning])
    expires = str(int((BASE + timedelta(days=2)).timestamp()))
    by_id = {item["LogID"]["S"]: item for item in all_items(dynamo_client, name)}
    shard = shard_of(info["id"], 4)
    assert by_id[info["id"]] == {
        "LogID": {"S": info["id"]}, "DateTime": {"S": info["dateTime"]}, "Severity": {"S": "info"},
        "Message": {"S": "plain"}, "Shard": {"S": f"LOG#{shard}"},
        "TimeId": {"S": f"{info['dateTime']}#{info['id']}"}, "ExpiresAt": {"N": expires},
    }  # no SevShard: the severity index holds no info entry
    shard = shard_of(warning["id"], 4)
    assert by_id[warning["id"]] == {
        "LogID": {"S": warning["id"]}, "DateTime": {"S": warning["dateTime"]}, "Severity": {"S": "warning"},
        "Message": {"S": "with source"}, "Shard": {"S": f"LOG#{shard}"}, "SevShard": {"S": f"warning#{shard}"},
        "TimeId": {"S": f"{warning['dateTime']}#{warning['id']}"}, "Source": {"S": "billing"},
        "ExpiresAt": {"N": str(int((BASE + timedelta(days=2, seconds=1)).timestamp()))},
    }


def test_the_shards_of_many_entries_follow_their_ids(dynamo_client, make_table, make_store):
    name = make_table(4)
    store = make_store(table=name)  # the count from the table's settings item
    batch = [entry(f"m{i}", severity="error") for i in range(40)]
    store.put(batch)
    shards = {item["LogID"]["S"]: item["Shard"]["S"] for item in all_items(dynamo_client, name)}
    assert shards == {item["id"]: f"LOG#{shard_of(item['id'], 4)}" for item in batch}
    assert set(shards.values()) == {f"LOG#{k}" for k in range(4)}


# -- the requests ----------------------------------------------------------------------------------------


def test_nothing_to_put_sends_nothing(make_store):
    store = make_store(1)
    sent = record_requests(store)
    result = store.put([])
    assert (result.stored, result.replayed, sent) == ([], [], [])


def test_one_entry_is_a_conditional_put_and_a_batch_is_checked_then_written_in_25s(make_store):
    store = make_store(1)
    store.put([entry("the settings item is read once, first")])
    sent = record_requests(store)
    one = entry("one")
    assert store.put([one]).stored == [one["id"]]
    assert [operation for operation, _ in sent] == ["PutItem"]
    assert sent[0][1]["ConditionExpression"] == "attribute_not_exists(LogID)"

    sent.clear()
    batch = [entry(f"m{i}") for i in range(260)]
    assert store.put(batch).stored == ids(batch)
    gets = [body for operation, body in sent if operation == "BatchGetItem"]
    writes = [body for operation, body in sent if operation == "BatchWriteItem"]
    assert [operation for operation, _ in sent] == ["BatchGetItem"] * 3 + ["BatchWriteItem"] * 11
    assert [len(body["RequestItems"][store.table_name]["Keys"]) for body in gets] == [100, 100, 60]
    assert all(body["RequestItems"][store.table_name]["ConsistentRead"] is True for body in gets)
    assert [len(body["RequestItems"][store.table_name]) for body in writes] == [25] * 10 + [10]
    written = [write["PutRequest"]["Item"]["LogID"]["S"] for body in writes for write in body["RequestItems"][store.table_name]]
    assert written == ids(batch)


def test_a_batch_of_one_entry_twice_is_a_batch_of_one(make_store):
    store = make_store(1)
    store.put([entry("the settings item is read once, first")])
    sent = record_requests(store)
    twice = entry("twice")
    result = store.put([twice, dict(twice)])
    assert (result.stored, result.replayed) == ([twice["id"]], [])
    assert [operation for operation, _ in sent] == ["BatchGetItem", "BatchWriteItem"]


# -- replays, conflicts, vanished and malformed items -----------------------------------------------------


def test_a_replayed_single_entry_is_read_back_consistently(make_store):
    store = make_store(1)
    first = entry("first")
    store.put([first])
    sent = record_requests(store)
    result = store.put([dict(first)])
    assert (result.stored, result.replayed) == ([], [first["id"]])
    assert [operation for operation, _ in sent] == ["PutItem", "GetItem"]
    assert sent[1][1]["ConsistentRead"] is True and sent[1][1]["Key"] == {"LogID": {"S": first["id"]}}


def test_an_item_that_vanished_before_it_was_read_is_written_on_the_next_try(dynamo_client, make_table, make_store,
                                                                             moto_endpoint):
    name = make_table(1)
    store = make_store(table=name)
    expired = entry("expired")
    store.put([expired])
    side = new_client(moto_endpoint)

    def expire_first(request, call):
        if call == 1:  # TTL removes the item between the failed put and the read
            side.delete_item(TableName=name, Key={"LogID": {"S": expired["id"]}})
        return None

    on(store, "GetItem", expire_first)
    again = {**expired, "message": "written again"}
    assert store.put([again]).stored == [again["id"]]
    assert [item["Message"]["S"] for item in all_items(dynamo_client, name)] == ["written again"]
    side.close()


def test_an_item_that_keeps_vanishing_is_a_conflict_after_three_tries(make_store):
    store = make_store(1)
    existing = entry("existing")
    store.put([existing])
    puts = on(store, "PutItem", lambda request, call: None)
    on(store, "GetItem", lambda request, call: aws_response(request, 200, {}))  # never found
    with pytest.raises(ConflictError) as raised:
        store.put([dict(existing)])
    assert raised.value.ids == [existing["id"]] and len(puts) == 3


@pytest.mark.parametrize("batch", [False, True])
def test_an_existing_item_too_malformed_to_compare_is_a_conflict(dynamo_client, make_table, make_store, batch):
    name = make_table(1)
    store = make_store(table=name)
    fresh = entry("fresh")
    dynamo_client.put_item(TableName=name, Item={"LogID": {"S": fresh["id"]}, "Message": {"S": "fresh"}})
    with pytest.raises(ConflictError) as raised:
        store.put([fresh, entry("other")] if batch else [fresh])
    assert raised.value.ids == [fresh["id"]]
    assert len(all_items(dynamo_client, name)) == 1


def test_a_batch_names_every_conflict_and_writes_nothing(dynamo_client, make_table, make_store):
    name = make_table(1)
    store = make_store(table=name)
    old = [entry(f"old {i}") for i in range(3)]
    store.put(old)
    changed = [{**old[0], "message": "x"}, dict(old[1]), {**old[2], "message": "y"}, entry("new")]
    with pytest.raises(ConflictError) as raised:
        store.put(changed)
    assert raised.value.ids == [old[0]["id"], old[2]["id"]]
    assert len(all_items(dynamo_client, name)) == 3


def test_a_batch_reports_what_it_stored_and_replayed_in_order(make_store):
    store = make_store(1)
    old = [entry(f"old {i}") for i in range(3)]
    store.put(old)
    new = [entry(f"new {i}") for i in range(2)]
    result = store.put([new[0], old[2], new[1], old[0]])
    assert (result.stored, result.replayed) == (ids(new), [old[2]["id"], old[0]["id"]])


# -- failures: what was stored, what was not ---------------------------------------------------------------


def test_a_client_error_that_is_not_a_conflict_propagates(make_store):
    store = make_store(1)
    invalid = {"__type": "com.amazon.coral.validate#ValidationException", "message": "injected"}
    on(store, "PutItem", lambda request, call: aws_response(request, 400, invalid))
    with pytest.raises(ClientError) as raised:
        store.put([entry()])
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_a_read_back_that_fails_reports_the_entry_pending(make_store):
    store = make_store(1, retry_seconds=0.2)
    first = entry("first")
    store.put([first])
    on(store, "GetItem", lambda request, call: throttled(request))
    with pytest.raises(StoreUnavailable) as raised:
        store.put([dict(first)])
    assert (raised.value.stored, raised.value.pending) == ([], [first["id"]])


def test_a_batch_check_that_fails_reports_every_unique_id_pending(make_store):
    store = make_store(1, retry_seconds=0.2)
    batch = [entry(f"m{i}") for i in range(3)]
    on(store, "BatchGetItem", lambda request, call: throttled(request))
    with pytest.raises(StoreUnavailable) as raised:
        store.put(batch + [dict(batch[0])])
    assert (raised.value.stored, raised.value.pending) == ([], ids(batch))


def test_a_table_that_cannot_be_used_reports_every_unique_id_pending_before_writing(moto_endpoint):
    from logsvc.store.dynamodb import DynamoDBStore

    store = DynamoDBStore("no-such-table", client=new_client(moto_endpoint), retry_seconds=0.2)  # reads its settings
    sent = record_requests(store)
    batch = [entry(f"m{i}") for i in range(2)]
    with pytest.raises(StoreMisconfigured) as raised:
        store.put(batch + [dict(batch[1])])
    assert (raised.value.stored, raised.value.pending) == ([], ids(batch))
    assert [operation for operation, _ in sent] == ["GetItem"]  # the settings item, nothing written
    store.close()


def test_unprocessed_keys_are_asked_again_and_forever_unprocessed_is_unavailable(make_store):
    # A budget no loaded machine spends before the one retry (a successful put never waits on it).
    store = make_store(1, retry_seconds=5.0)
    old = [entry(f"old {i}") for i in range(2)]
    store.put(old)
    name = store.table_name

    def second_key_later(request, call):
        keys = json.loads(request.body)["RequestItems"][name]["Keys"]
        if call == 1:
            return aws_response(request, 200, {"Responses": {name: []},
                                               "UnprocessedKeys": {name: {"Keys": keys, "ConsistentRead": True}}})
        return None

    asked = on(store, "BatchGetItem", second_key_later)
    result = store.put(old + [entry("new")])
    assert result.replayed == ids(old) and len(asked) == 2
    assert asked[1] == asked[0]  # the same keys, consistently

    store2 = make_store(table=name, retry_seconds=0.2)
    on(store2, "BatchGetItem", lambda request, call: aws_response(request, 200, {
        "Responses": {name: []}, "UnprocessedKeys": json.loads(request.body)["RequestItems"]}))
    batch = [entry("a"), entry("b")]
    with pytest.raises(StoreUnavailable) as raised:
        store2.put(batch)
    assert str(raised.value) == "DynamoDB kept returning unprocessed keys (throttled)"
    assert (raised.value.stored, raised.value.pending) == ([], ids(batch))


def test_items_left_unprocessed_for_good_are_unavailable_naming_those_stored(dynamo_client, make_store, moto_endpoint):
    # Bounded by attempts, not by a 0.3 s budget that a loaded machine could spend on the real
    # calls before the first retry (the request count then depended on speed): exactly 3 tries.
    store = make_store(1, retry_seconds=5.0, max_attempts=3)
    name = store.table_name
    side = new_client(moto_endpoint)

    def first_ten_only(request, call):
        writes = json.loads(request.body)["RequestItems"][name]
        if call == 1:
            side.batch_write_item(RequestItems={name: writes[:10]})
            return aws_response(request, 200, {"UnprocessedItems": {name: writes[10:]}})
        return aws_response(request, 200, {"UnprocessedItems": {name: writes}})

    sent = on(store, "BatchWriteItem", first_ten_only)
    batch = [entry(f"m{i}", at=BASE + timedelta(milliseconds=i)) for i in range(30)]
    with pytest.raises(StoreUnavailable) as raised:
        store.put(batch)
    assert str(raised.value) == "DynamoDB kept returning unprocessed items (throttled)"
    assert (raised.value.stored, raised.value.pending) == (ids(batch[:10]), ids(batch[10:]))
    assert [len(body["RequestItems"][name]) for body in sent] == [25, 15, 15]
    assert sorted(item["LogID"]["S"] for item in all_items(dynamo_client, name)) == sorted(ids(batch[:10]))
    side.close()


def test_a_single_put_that_stays_throttled_reports_the_entry_pending(make_store):
    store = make_store(1, retry_seconds=0.2)
    lone = entry("lone")
    store.put([entry("the settings item first")])
    on(store, "PutItem", lambda request, call: throttled(request))
    with pytest.raises(StoreUnavailable) as raised:
        store.put([lone])
    assert (raised.value.stored, raised.value.pending) == ([], [lone["id"]])


# -- one time budget for the whole put, and bounded attempts ------------------------------------------------


def slow(seconds: float):
    """An answer from moto that takes `seconds` (DynamoDB slow to answer): it spends the put's budget."""
    import time

    def answer(request, call):
        if call == 1:
            time.sleep(seconds)
        return None

    return answer


def test_a_single_put_shares_one_budget_between_its_put_and_its_read_back(make_store):
    store = make_store(1, retry_seconds=0.2)
    first = entry("first")
    store.put([first])
    on(store, "PutItem", slow(0.3))  # the budget is spent once the put answers
    on(store, "GetItem", lambda request, call: throttled(request) if call == 1 else None)
    with pytest.raises(StoreUnavailable) as raised:  # so the throttled read back is not retried
        store.put([dict(first)])
    assert (raised.value.stored, raised.value.pending) == ([], [first["id"]])


def test_a_single_put_retried_after_a_slow_read_back_has_no_budget_left(make_store):
    store = make_store(1, retry_seconds=0.2)
    first = entry("first")
    store.put([first])
    puts = on(store, "PutItem", lambda request, call: throttled(request) if call == 2 else None)
    on(store, "GetItem", lambda request, call: slow(0.3)(request, 1) or aws_response(request, 200, {}))  # vanished
    with pytest.raises(StoreUnavailable) as raised:  # so the throttled second put is not retried
        store.put([{**first, "message": "again"}])
    assert (raised.value.stored, raised.value.pending, len(puts)) == ([], [first["id"]], 2)


def test_a_batch_shares_one_budget_between_its_check_and_its_writes(make_store):
    store = make_store(1, retry_seconds=0.2)
    store.put([entry("the settings item first")])
    batch = [entry(f"m{i}") for i in range(150)]
    on(store, "BatchGetItem", lambda request, call: slow(0.3)(request, call) if call == 1 else
       (throttled(request) if call == 2 else None))
    with pytest.raises(StoreUnavailable) as raised:  # the second check is not retried
        store.put(batch)
    assert (raised.value.stored, raised.value.pending) == ([], ids(batch))

    store = make_store(table=store.table_name, retry_seconds=0.2)
    store.put([entry("the settings item first")])
    on(store, "BatchGetItem", slow(0.3))
    writes = on(store, "BatchWriteItem", lambda request, call: throttled(request) if call == 1 else None)
    with pytest.raises(StoreUnavailable) as raised:  # nor the first write
        store.put(batch[:2])
    assert (raised.value.stored, raised.value.pending, len(writes)) == ([], ids(batch[:2]), 1)


def test_unprocessed_work_is_asked_again_at_most_max_attempts_times(make_store):
    """(A budget far above the 0.35 s the three backoffs take: only the attempts bound these.)"""
    store = make_store(1, retry_seconds=5.0, max_attempts=4)
    name = store.table_name
    store.put([entry("the settings item first")])
    gets = on(store, "BatchGetItem", lambda request, call: aws_response(request, 200, {
        "Responses": {name: []}, "UnprocessedKeys": json.loads(request.body)["RequestItems"]}))
    with pytest.raises(StoreUnavailable):
        store.put([entry("a"), entry("b")])
    assert len(gets) == 4

    store = make_store(table=name, retry_seconds=5.0, max_attempts=4)
    store.put([entry("the settings item first")])
    writes = on(store, "BatchWriteItem", lambda request, call: aws_response(request, 200, {
        "UnprocessedItems": json.loads(request.body)["RequestItems"]}))
    with pytest.raises(StoreUnavailable):
        store.put([entry("c"), entry("d")])
    assert len(writes) == 4


@pytest.mark.parametrize("responses", [None, {}])
def test_a_check_answered_with_no_items_at_all_reads_as_none_found(make_store, responses):
    """DynamoDB may leave out Responses, or the table in it, when every key was unprocessed."""
    store = make_store(1)
    old = entry("old")
    store.put([old])

    def nothing_yet(request, call):
        if call > 1:
            return None
        answer = {"UnprocessedKeys": json.loads(request.body)["RequestItems"]}
        if responses is not None:
            answer["Responses"] = responses
        return aws_response(request, 200, answer)

    on(store, "BatchGetItem", nothing_yet)
    new = entry("new")
    result = store.put([dict(old), new])
    assert (result.stored, result.replayed) == ([new["id"]], [old["id"]])


def test_a_write_answered_without_unprocessed_items_wrote_them_all(dynamo_client, make_store, moto_endpoint):
    store = make_store(1)
    name = store.table_name
    side = new_client(moto_endpoint)

    def written_elsewhere(request, call):
        side.batch_write_item(RequestItems=json.loads(request.body)["RequestItems"])
        return aws_response(request, 200, {})  # nothing left unprocessed, and so no key for it

    on(store, "BatchWriteItem", written_elsewhere)
    batch = [entry("a"), entry("b")]
    assert store.put(batch).stored == ids(batch)
    assert sorted(item["LogID"]["S"] for item in all_items(dynamo_client, name)) == sorted(ids(batch))
    side.close()
