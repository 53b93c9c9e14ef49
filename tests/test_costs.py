"""What operations cost on DynamoDB: requests and items counted through botocore's event hooks.

Real requests to a moto server on loopback, counted by `request_accounting.Accounting`. These are
the figures the README's cost table is derived from; each assertion is a bound the design
promises (see the README's "Cost" section), not a measurement to be kept in sync.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

import pytest
from dynamo_fixtures import dynamo_client, make_store, make_table, moto_endpoint  # noqa: F401 - fixtures
from dynamo_fixtures import cursor_taken_at
from request_accounting import Accounting

from logsvc.entry import normalise
from logsvc.reading import read_recent
from logsvc.store import Query
from logsvc.times import UTC, format_utc

PAST = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)  # well outside any settle window


def entries(count: int, *, severity: str = "info", start: datetime = PAST, message: str = "request {i} ok") -> list[dict]:
    return [
        normalise({"severity": severity, "message": message.format(i=i), "dateTime": format_utc(start + timedelta(milliseconds=i))})
        for i in range(count)
    ]


def warm(store) -> None:
    """The store's one-off first call (the settings item), kept out of the counts."""
    store.check()


@pytest.mark.parametrize("shards", [1, 4])
def test_a_single_send_is_one_write_request(make_store, shards):
    store = make_store(shards)
    warm(store)
    with Accounting(store._client) as counted:
        store.put(entries(1))
    assert counted.requests == {"PutItem": 1}
    assert counted.written() == 1


@pytest.mark.parametrize("shards", [1, 4])
@pytest.mark.parametrize("count", [1000, 260])
def test_a_bulk_send_is_one_batch_write_per_25_and_one_batch_get_per_100(make_store, shards, count):
    store = make_store(shards)
    warm(store)
    with Accounting(store._client) as counted:
        result = store.put(entries(count))
    assert len(result.stored) == count
    assert counted.requests == {"BatchWriteItem": math.ceil(count / 25), "BatchGetItem": math.ceil(count / 100)}
    assert counted.written() == count
    assert counted.examined("BatchGetItem") == 0  # nothing existed: the check reads no item


@pytest.mark.parametrize("shards", [1, 4])
def test_recent_is_one_query_per_shard_of_at_most_limit_items(make_store, shards):
    store = make_store(shards)
    store.put(entries(300))
    warm(store)
    limit = 10
    with Accounting(store._client) as counted:
        page = store.recent(Query(limit=limit))
    assert len(page.entries) == limit
    assert counted.requests == {"Query": shards}
    queried = {call.params["ExpressionAttributeValues"][":part"]["S"] for call in counted.of("Query")}
    assert queried == {f"LOG#{k}" for k in range(shards)}  # one request per shard, none repeated
    assert all(call.examined <= limit for call in counted.of("Query"))
    assert counted.examined() <= limit * shards


# -- severity reads: the sparse index -----------------------------------------------------------


def mixed(info: int, errors: int, warnings: int = 0) -> list[dict]:
    """`info` info entries with `errors` and `warnings` spread evenly among them (ms apart)."""
    batch = entries(info)
    step = max(1, info // max(1, errors + warnings))
    rare = [("error", n) for n in range(errors)] + [("warning", n) for n in range(warnings)]
    for slot, (severity, n) in enumerate(rare):
        at = PAST + timedelta(milliseconds=slot * step, microseconds=500)
        batch.append(normalise({"severity": severity, "message": f"{severity} {n}", "dateTime": format_utc(at)}))
    return batch


@pytest.fixture(scope="module")
def big_tables(moto_endpoint):
    """A 1-shard and a 4-shard table of 10,000 info, 10 error and 10 warning entries (loaded once)."""
    from dynamo_fixtures import new_client

    from logsvc.store.dynamodb import DynamoDBStore, create_table, delete_table

    client = new_client(moto_endpoint)
    names = {}
    data = mixed(10_000, 10, 10)
    for shards in (1, 4):
        names[shards] = f"costs-{shards}-{uuid.uuid4().hex[:8]}"
        create_table(client, names[shards], shards=shards)
        loader = DynamoDBStore(names[shards], client=client, shards=shards)
        loader.put(data)
    yield names, data
    for name in names.values():
        delete_table(client, name)
    client.close()


@pytest.mark.parametrize("shards", [1, 4])
def test_severity_reads_never_touch_info_entries(big_tables, moto_endpoint, make_store, shards):
    names, data = big_tables
    store = make_store(table=names[shards], table_shards=shards)
    warm(store)
    newest_first = sorted(data, key=lambda e: (e["dateTime"], e["id"]), reverse=True)
    with Accounting(store._client) as counted:
        page = store.recent(Query(limit=10, min_severity="error"))
    assert [e["id"] for e in page.entries] == [e["id"] for e in newest_first if e["severity"] == "error"][:10]
    assert counted.examined() <= 10 * shards
    assert {call.params["IndexName"] for call in counted.of("Query")} == {"BySeverity"}
    assert counted.requests["Query"] == shards

    with Accounting(store._client) as counted:
        page = store.recent(Query(limit=20, min_severity="warning"))
    assert [e["id"] for e in page.entries] == [e["id"] for e in newest_first if e["severity"] != "info"][:20]
    assert counted.examined() <= 20 * shards  # warning and error partitions, never an info item
    assert counted.requests["Query"] == 2 * shards


def old_table(client, name: str, shards: int) -> None:
    """A table as `table create` made it before the severity index existed."""
    from logsvc.store.dynamodb import SETTINGS_ID, table_definition

    definition = table_definition(name)
    definition["GlobalSecondaryIndexes"] = [i for i in definition["GlobalSecondaryIndexes"] if i["IndexName"] == "ByTime"]
    definition["AttributeDefinitions"] = [a for a in definition["AttributeDefinitions"] if a["AttributeName"] != "SevShard"]
    client.create_table(**definition)
    client.put_item(TableName=name, Item={"LogID": {"S": SETTINGS_ID}, "Shards": {"N": str(shards)}})


def test_a_table_without_the_index_reads_the_old_way_until_upgraded(dynamo_client, moto_endpoint, make_store):
    from logsvc.store.dynamodb import delete_table
    from logsvc.store.dynamodb.upgrade import add_severity_index, severity_index_status

    name = f"old-{uuid.uuid4().hex[:8]}"
    old_table(dynamo_client, name, 2)
    try:
        data = mixed(200, 5)
        # Written by the previous version: no SevShard on any item.
        for e in data:
            dynamo_client.put_item(TableName=name, Item={
                "LogID": {"S": e["id"]}, "DateTime": {"S": e["dateTime"]}, "Severity": {"S": e["severity"]},
                "Message": {"S": e["message"]}, "Shard": {"S": f"LOG#{uuid.UUID(e['id']).int % 2}"},
                "TimeId": {"S": f"{e['dateTime']}#{e['id']}"}})
        errors = sorted((e for e in data if e["severity"] == "error"), key=lambda e: (e["dateTime"], e["id"]), reverse=True)
        store = make_store(table=name, table_shards=2)
        assert severity_index_status(dynamo_client, name) is None
        with Accounting(store._client) as counted:
            assert store.recent(Query(limit=5, min_severity="error")).entries == errors
        indexes = [call.params["IndexName"] for call in counted.of("Query")]
        # Tried (each error partition's first Query goes out at once: 2 shards, 2 refused probes),
        # then fell back to the time index.
        assert indexes == ["BySeverity"] * 2 + ["ByTime"] * (len(indexes) - 2), indexes
        assert counted.examined("Query") == 200 + 5  # the old way reads every entry

        assert add_severity_index(dynamo_client, name) == (True, 5 + 0)  # the 5 errors got their key
        assert severity_index_status(dynamo_client, name) is not None
        assert add_severity_index(dynamo_client, name) == (False, 0)  # already there, nothing left to do
        store = make_store(table=name, table_shards=2)
        with Accounting(store._client) as counted:
            assert store.recent(Query(limit=5, min_severity="error")).entries == errors
        assert {call.params["IndexName"] for call in counted.of("Query")} == {"BySeverity"}
        assert counted.examined("Query") == 5
    finally:
        delete_table(dynamo_client, name)


# -- the read budget ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def haystacks(moto_endpoint):
    """1-shard and 4-shard tables of 2,000 info entries with 3 needles (loaded once)."""
    from dynamo_fixtures import new_client

    from logsvc.store.dynamodb import DynamoDBStore, create_table, delete_table

    client = new_client(moto_endpoint)
    data = entries(2000)
    for n, at in enumerate((100, 1100, 1900)):  # oldest to newest
        data[at] = normalise({"severity": "info", "message": f"needle {n}", "dateTime": data[at]["dateTime"]})
    names = {}
    for shards in (1, 4):
        names[shards] = f"hay-{shards}-{uuid.uuid4().hex[:8]}"
        create_table(client, names[shards], shards=shards)
        DynamoDBStore(names[shards], client=client, shards=shards).put(data)
    yield names, data
    for name in names.values():
        delete_table(client, name)
    client.close()


@pytest.mark.parametrize("shards", [1, 4])
def test_a_read_stops_at_its_budget_and_continues_below_it(haystacks, make_store, shards):
    names, data = haystacks
    budget = 300
    store = make_store(table=names[shards], table_shards=shards, max_scan=budget)
    warm(store)
    query = Query(limit=10, grep="needle")
    found, reads, total = [], 0, 0
    with Accounting(store._client) as counted:
        while True:
            counted.reset()
            page = store.recent(query)
            reads += 1
            assert counted.examined("Query") == page.scanned <= budget  # never past the budget
            total += page.scanned
            found += page.entries
            if not page.truncated:
                break
            assert page.resume and len(page.entries) < query.limit
            query = Query(limit=10 - len(found), grep="needle", before=page.resume)
    assert [e["message"] for e in found] == ["needle 2", "needle 1", "needle 0"]  # each once, in order
    assert reads >= 2000 // budget
    # Continuations re-read at most one page per partition each: the table is read about once.
    assert 2000 <= total <= 2000 + reads * shards * 2 * budget // shards


def test_a_read_that_finds_its_limit_is_not_truncated(haystacks, make_store):
    names, _ = haystacks
    store = make_store(table=names[1], table_shards=1, max_scan=300)
    page = store.recent(Query(limit=5))
    assert len(page.entries) == 5 and not page.truncated and page.resume is None and page.scanned == 5


def test_since_narrows_the_key_range_instead_of_filtering(haystacks, make_store):
    names, data = haystacks
    store = make_store(table=names[4], table_shards=4)
    warm(store)
    since = data[-50]["dateTime"]
    with Accounting(store._client) as counted:
        page = store.recent(Query(limit=1000, since=since))
    assert len(page.entries) == 50
    assert all(":lower" in call.params["ExpressionAttributeValues"] for call in counted.of("Query"))
    assert counted.examined("Query") == 50  # only the entries in range were read


# -- the read handler: budget fields, the before position, responses under 6 MB ------------------


def read_event(params: dict) -> dict:
    from urllib.parse import urlencode

    return {"version": "2.0", "rawQueryString": urlencode(params), "requestContext": {"http": {"method": "GET"}}}


def answer(response: dict) -> dict:
    import json

    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])


def test_the_handler_says_a_read_stopped_early_and_continues_from_before(haystacks, make_store):
    from logsvc.handler import read

    names, _ = haystacks
    store = make_store(table=names[4], table_shards=4, max_scan=300)
    params = {"grep": "needle", "limit": "10"}
    found, responses = [], 0
    while True:
        body = answer(read.handle(read_event(params), store))
        responses += 1
        assert body["scanned"] <= 300
        found += [e["message"] for e in body["logs"]]
        if not body["truncated"]:
            assert "before" not in body
            break
        params = {"grep": "needle", "limit": str(10 - len(found)), "before": body["before"]}
    assert found == ["needle 2", "needle 1", "needle 0"] and responses >= 2000 // 300


def far_behind_cursor(store) -> str:
    """A tail cursor taken an hour before the haystack's entries: everything is still to come."""
    return cursor_taken_at(store, PAST - timedelta(hours=1))


@pytest.mark.parametrize("shards", [1, 4])
def test_a_tail_far_behind_reads_within_its_budget_and_catches_up_exactly_once(haystacks, make_store, shards):
    names, _ = haystacks
    budget = 300
    store = make_store(table=names[shards], table_shards=shards, max_scan=budget)
    warm(store)
    cursor, query = far_behind_cursor(store), Query(limit=1000, grep="needle")
    found, flags = [], []
    with Accounting(store._client) as counted:
        for _ in range(50):
            counted.reset()
            page = store.follow(cursor, query)
            assert counted.examined("Query") == page.scanned <= budget  # never past the budget
            found += [e["message"] for e in page.entries]
            flags.append(page.truncated)
            cursor = page.cursor
            if not page.truncated:
                break
    assert found == ["needle 0", "needle 1", "needle 2"]  # each once, oldest first
    # Every read but the last stopped at its budget below the horizon; the last reached the end.
    assert flags[-1] is False and all(flags[:-1]) and len(flags) >= 2000 // budget
    assert store.follow(cursor, query).entries == []  # and nothing is delivered twice


@pytest.mark.parametrize("target", ["dynamodb", "url"])
def test_a_follower_reads_on_without_pausing_while_a_budgeted_read_has_a_backlog(haystacks, make_store, target):
    from contextlib import ExitStack

    from logsvc.client import FunctionUrlStore
    from logsvc.handler import ingest, read
    from logsvc.serve.server import LocalServer
    from logsvc.tail import Follower

    names, _ = haystacks
    store = make_store(table=names[4], table_shards=4, max_scan=300)
    cursor = far_behind_cursor(store)
    with ExitStack() as stack:
        if target == "url":  # the client, over HTTP, to the read handler on the same store
            server = stack.enter_context(LocalServer(store, ingest_handle=ingest.handle, read_handle=read.handle))
            store = FunctionUrlStore(None, server.read_url)
            stack.callback(store.close)
        events = []
        follower = Follower(store, Query(limit=1000, grep="needle"), cursor, interval=1.0, idle_timeout=0,
                            sleep=lambda seconds: events.append(f"pause {seconds}"))
        for item in follower:
            events.append(item["message"])
    # Pages with no match but a backlog neither end an idle tail nor wait the interval: the one
    # pause is after the read that caught up (and the next, empty, read ends the idle tail).
    assert events == ["needle 0", "needle 1", "needle 2", "pause 1.0"]


def test_the_handler_says_a_tail_read_stopped_at_its_budget(haystacks, make_store):
    from logsvc.handler import read

    names, _ = haystacks
    store = make_store(table=names[4], table_shards=4, max_scan=300)
    params = {"grep": "needle", "limit": "1000", "cursor": far_behind_cursor(store)}
    found, flags = [], []
    for _ in range(50):
        body = answer(read.handle(read_event(params), store))
        assert body["scanned"] <= 300 and "before" not in body  # a tail continues by its cursor
        found += [e["message"] for e in body["logs"]]
        flags.append(body["truncated"])
        if not body["truncated"]:
            break
        params["cursor"] = body["cursor"]
    assert found == ["needle 0", "needle 1", "needle 2"] and flags[0] is True and flags[-1] is False


@pytest.mark.parametrize("params, fragment", [
    ({"before": "yesterday"}, "before must be a position"),
    ({"before": "2026-01-05T12:00:00+00:00#x", "cursor": "ddb2.AA"}, "one or the other"),
])
def test_a_bad_before_is_a_400_naming_it(make_store, params, fragment):
    from logsvc.handler import read

    response = read.handle(read_event(params), make_store(1))
    assert response["statusCode"] == 400 and fragment in response["body"]


BIG_MESSAGES = ['say "' + "x" * 9_700 + '"', "é" * 5_000]  # quotes and non-ASCII grow when escaped


@pytest.fixture
def big_entries(tmp_path):
    """A SQLite store holding 1000 entries of 10 KB each (as sent), and the cursor from before them."""
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "big.db")
    cursor = store.recent(Query(limit=1)).cursor
    data = [normalise({"severity": "info", "message": BIG_MESSAGES[i % 2], "dateTime": format_utc(PAST + timedelta(seconds=i))})
            for i in range(1000)]
    store.put(data)
    yield store, data, cursor
    store.close()


def payload_bytes(response: dict) -> int:
    import json

    return len(json.dumps(response).encode())  # what Lambda returns: the envelope, ASCII-escaped


def test_read_responses_stay_under_6_mb_and_continue(big_entries):
    from logsvc.handler import paging, read

    store, data, cursor = big_entries
    newest_first = [e["id"] for e in reversed(data)]
    seen, params, sizes = [], {"limit": "1000"}, []
    while True:
        response = read.handle(read_event(params), store)
        sizes.append(payload_bytes(response))
        body = answer(response)
        seen += [e["id"] for e in body["logs"]]
        if not body["truncated"]:
            break
        params = {"limit": "1000", "before": body["before"]}
    assert seen == newest_first  # every entry once, in order
    assert len(sizes) >= 3 and max(sizes) < paging.MAX_PAYLOAD_BYTES

    delivered, params, sizes = [], {"limit": "1000", "cursor": cursor}, []
    while True:  # a tail: each capped page's cursor continues right after it
        response = read.handle(read_event(params), store)
        sizes.append(payload_bytes(response))
        body = answer(response)
        if not body["logs"]:
            break
        delivered += [e["id"] for e in body["logs"]]
        params = {"limit": "1000", "cursor": body["cursor"]}
    assert delivered == [e["id"] for e in data] and max(sizes) < paging.MAX_PAYLOAD_BYTES


def test_the_client_pages_through_capped_responses(big_entries):
    from logsvc.client import FunctionUrlStore
    from logsvc.handler import ingest, read
    from logsvc.reading import read_recent
    from logsvc.serve.server import LocalServer

    store, data, _ = big_entries
    with LocalServer(store, ingest_handle=ingest.handle, read_handle=read.handle) as server:
        client = FunctionUrlStore(None, server.read_url)
        try:
            outcome = read_recent(client, Query(limit=1000))
        finally:
            client.close()
    assert [e["id"] for e in outcome.entries] == [e["id"] for e in reversed(data)]
    assert outcome.resume is None and outcome.requests >= 3


# -- the CLI: recent --grep stops at its bound and says how to continue --------------------------


def test_recent_grep_stops_early_and_says_how_to_continue(haystacks, moto_endpoint, monkeypatch):
    import shlex
    import sys

    from typer.testing import CliRunner

    from logsvc import reading
    from logsvc.cli import app
    from logsvc.store.dynamodb import scan

    names, _ = haystacks
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1", "LOGSVC_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(scan, "MIN_SCAN", 100)  # a read examines at most 100 items here...
    monkeypatch.setattr(reading, "MAX_EXAMINED", 500)  # ...and a command 500 (100,000 for real)
    base = ["recent", "--target", "dynamodb", "--table", names[1], "--grep", "needle", "-o", "jsonl"]
    args, shown = base, []
    for _ in range(3):
        monkeypatch.setattr(sys, "argv", ["logsvc", *args])  # what the note quotes
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        shown += [line for line in result.stdout.splitlines() if line]
        note = result.stderr.strip().splitlines()[-1]
        assert note.startswith("stopped early: examined 500 entries and found")
        command = shlex.split(note.split("continue with: ", 1)[1])
        assert command[:-2] == ["logsvc", *base] and command[-2] == "--before"  # an earlier --before replaced
        args = command[1:]
    import json

    assert [json.loads(line)["message"] for line in shown] == ["needle 2", "needle 1"]  # 1500 of 2000 read


# -- doctor and the table commands -----------------------------------------------------------------


@pytest.fixture
def cli_env(moto_endpoint, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1", "LOGSVC_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)


def cli(*args: str):
    from typer.testing import CliRunner

    from logsvc.cli import app

    return CliRunner().invoke(app, list(args))


def counted_doctor(monkeypatch, table: str) -> tuple[object, list[Accounting]]:
    """`logsvc doctor` on the dynamodb target, counting the requests of every client it makes."""
    from logsvc import aws

    made = []
    original = aws.dynamodb_client

    def counting(*args, **kwargs):
        client = original(*args, **kwargs)
        made.append(Accounting(client).__enter__())
        return client

    monkeypatch.setattr(aws, "dynamodb_client", counting)
    result = cli("doctor", "--target", "dynamodb", "--table", table)
    monkeypatch.setattr(aws, "dynamodb_client", original)
    return result, made


def test_doctor_reads_its_canary_by_time_and_id_and_deletes_it(cli_env, haystacks, dynamo_client, make_table, monkeypatch):
    from dynamo_fixtures import all_items

    names, _ = haystacks
    empty = make_table(1)
    costs = {}
    for table in (empty, names[1]):  # 0 and 2,000 entries
        result, made = counted_doctor(monkeypatch, table)
        assert result.exit_code == 0, result.stdout
        assert "ok    severity index: BySeverity active" in result.stdout
        assert "then deleted" in result.stdout
        queries = [call for accounting in made for call in accounting.of("Query")]
        # reach: one Query of at most 1 item; the canary: one Query of its microsecond only
        costs[table] = (len(queries), queries[-1].examined)
    assert costs[empty] == costs[names[1]] == (2, 1)  # the table's size changes nothing
    assert not [item for item in all_items(dynamo_client, empty) if "canary" in item["Message"]["S"]]


def test_table_commands_say_how_to_add_the_index_and_upgrade_adds_it(cli_env, dynamo_client):
    from logsvc.store.dynamodb import delete_table

    name = f"old-{uuid.uuid4().hex[:8]}"
    old_table(dynamo_client, name, 1)
    try:
        created = cli("table", "create", "--table", name)
        assert created.exit_code == 0
        assert f"no BySeverity index: add it with `logsvc table upgrade --table {name}`" in created.stderr
        doctor = cli("doctor", "--target", "dynamodb", "--table", name, "--no-canary")
        assert doctor.exit_code != 0 and "FAIL  severity index: the table has no BySeverity index" in doctor.stdout
        upgraded = cli("table", "upgrade", "--table", name)
        assert upgraded.exit_code == 0 and "index BySeverity added" in upgraded.stderr
        again = cli("table", "create", "--table", name)
        assert again.exit_code == 0 and "BySeverity" not in again.stderr
    finally:
        delete_table(dynamo_client, name)


def test_a_url_regex_search_is_bounded_like_a_budgeted_read(tmp_path, monkeypatch):
    import re

    from logsvc import client as client_module
    from logsvc import reading
    from logsvc.client import FunctionUrlStore
    from logsvc.handler import ingest, read
    from logsvc.serve.server import LocalServer
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "regex.db")
    data = entries(3000)
    data[0] = normalise({"severity": "info", "message": "needle 7", "dateTime": data[0]["dateTime"]})  # the oldest
    store.put(data)
    monkeypatch.setattr(client_module, "MAX_REGEX_SCAN", 1000)  # one call scans one page of 1000...
    query = Query(limit=5, regex=re.compile(r"needle \d"))
    with LocalServer(store, ingest_handle=ingest.handle, read_handle=read.handle) as server:
        url_store = FunctionUrlStore(None, server.read_url)
        try:
            first = url_store.recent(query)
            assert first.entries == [] and first.truncated and first.scanned == 1000 and first.resume
            found = read_recent(url_store, query)  # ...and the command goes on, within its own bound
            assert [e["message"] for e in found.entries] == ["needle 7"] and found.resume is None
            monkeypatch.setattr(reading, "MAX_EXAMINED", 2000)
            stopped = read_recent(url_store, query)
            assert stopped.entries == [] and stopped.scanned == 2000 and stopped.resume
        finally:
            url_store.close()
    store.close()
