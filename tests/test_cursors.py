"""Tail and cursors, exactly once also when resumed, and the table's shard count (issue 9, items 4-7, 12).

- 4: the DynamoDB follow de-duplicates by the whole id, not a prefix that UUIDv7 ids share;
- 5: a resumed tail continues exactly after the last entry printed, on every target and filter;
- 6: a DynamoDB cursor stays small whatever the ingest rate; a cursor too long is a clear error;
- 7: a forged cursor is a 400 naming ``cursor``, never a crash;
- 12: a configured shard count that disagrees with the table's settings item is refused.

DynamoDB through moto on loopback, the url target through `LocalServer`, time moved by a clock.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from dynamo_fixtures import (  # noqa: F401 - fixtures are used by name
    FAKE_CREDENTIALS,
    REGION,
    all_items,
    dynamo_client,
    make_store,
    make_table,
    moto_endpoint,
)

from logsvc.entry import normalise
from logsvc.errors import ExitCode
from logsvc.handler import common, ingest, read
from logsvc.store import BadCursor, Query, StoreMisconfigured
from logsvc.store.dynamodb import DynamoDBStore
from logsvc.tail import Follower
from logsvc.times import format_utc
from tests.conftest import EVENTS
from tests.targets_fixtures import cli, jsonl, make_target

BASE = datetime(2026, 2, 9, 21, 0, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def entry(message: str, at: datetime, *, entry_id: str | None = None, severity: str = "info") -> dict:
    raw = {"severity": severity, "message": message, "dateTime": format_utc(at)}
    if entry_id is not None:
        raw["id"] = entry_id
    return normalise(raw)


def uuid7(millis: int) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds first, so ids of one millisecond share 12 hex digits."""
    value = (millis << 80) | (0x7 << 76) | (uuid.uuid4().int & ((1 << 76) - 1))
    value = (value & ~(0b11 << 62)) | (0b10 << 62)  # the RFC 4122 variant
    return str(uuid.UUID(int=value))


def follow_all(store, cursor: str, query: Query, *, rounds: int = 50,
               sizes: list[int] | None = None) -> tuple[list[dict], str]:
    """Follow until a page comes back empty; `sizes` collects each cursor's length."""
    delivered = []
    for _ in range(rounds):
        page = store.follow(cursor, query)
        cursor = page.cursor
        if sizes is not None:
            sizes.append(len(cursor))
        delivered += page.entries
        if not page.entries:
            break
    return delivered, cursor


def write_jsonl(path, entries: list[dict]):
    path.write_bytes(jsonl(entries))
    return path


def drain(follower: Follower) -> list[dict]:
    return [item for item in follower if isinstance(item, dict)]


def quiet_follower(store, query: Query, cursor: str, **options) -> Follower:
    """A follower that stops once a poll brings nothing (idle timeout 0, no sleeping)."""
    return Follower(store, query, cursor, interval=0, idle_timeout=0, sleep=lambda _: None, **options)


# -- item 4: de-duplicate by the whole id ------------------------------------------------------------


@pytest.mark.parametrize("shards", [1, 3])
def test_follow_delivers_every_uuid7_entry_of_bursts_sharing_a_millisecond(make_store, shards):
    clock = Clock(BASE)
    store = make_store(shards, settle_seconds=5, clock=clock)
    cursor = store.recent(Query()).cursor
    bursts = []
    for burst in range(5):  # 5 bursts of 20: the ids of a burst share their first 12 hex digits
        at = BASE + timedelta(seconds=1, milliseconds=burst * 100)
        millis = int(at.timestamp() * 1000)
        bursts += [entry(f"burst {burst} #{n}", at, entry_id=uuid7(millis)) for n in range(20)]
    assert len({e["id"].replace("-", "")[:12] for e in bursts}) == 5
    store.put(bursts)
    clock.now = BASE + timedelta(seconds=2)

    assert len(store.recent(Query(limit=1000)).entries) == 100
    delivered, cursor = follow_all(store, cursor, Query(limit=30))
    assert sorted(e["id"] for e in delivered) == sorted(e["id"] for e in bursts)
    assert store.follow(cursor, Query()).entries == []


# -- item 5: a resumed tail continues exactly after the last entry printed ---------------------------


class LateWriter:
    """A store whose first `follow` is followed at once by a write: an entry late within the settle
    window, sorting before entries of the page just read (what a re-read of that page would see)."""

    def __init__(self, store, late: dict) -> None:
        self.store = store
        self.late = late
        self.calls = 0

    def follow(self, cursor, query):
        page = self.store.follow(cursor, query)
        self.calls += 1
        if self.calls == 1:
            self.store.put([self.late])
        return page

    def recent(self, query):
        return self.store.recent(query)


def test_a_tail_stopped_by_max_entries_resumes_right_after_the_last_entry_despite_a_late_one(make_store):
    clock = Clock(BASE)
    store = make_store(2, settle_seconds=5, clock=clock)
    cursor = store.recent(Query()).cursor
    page = [entry(f"on time {n}", BASE + timedelta(seconds=1, milliseconds=10 * n)) for n in range(4)]
    store.put(page)
    clock.now = BASE + timedelta(seconds=2)
    late = entry("late", BASE + timedelta(seconds=1, milliseconds=5))  # between the first two

    first = Follower(LateWriter(store, late), Query(limit=1000), cursor, max_entries=2, interval=0,
                     sleep=lambda _: None)
    printed = drain(first)
    assert [e["id"] for e in printed] == [e["id"] for e in page[:2]]
    saved, owed = first.position_after(printed[-1])

    rest = drain(quiet_follower(store, Query(limit=1000), saved, pending=owed))
    assert sorted(e["id"] for e in printed + rest) == sorted(e["id"] for e in [*page, late])
    assert len(printed + rest) == 5  # nothing repeated, nothing lost
    assert [e["id"] for e in rest[:2]] == [e["id"] for e in page[2:]]  # the owed rest of the page first


def test_a_tail_interrupted_mid_page_saves_the_rest_of_the_page_not_a_re_read(make_store):
    clock = Clock(BASE)
    store = make_store(1, settle_seconds=5, clock=clock)
    cursor = store.recent(Query()).cursor
    page = [entry(f"n{n}", BASE + timedelta(seconds=1, milliseconds=n)) for n in range(5)]
    store.put(page)
    clock.now = BASE + timedelta(seconds=2)
    follower = Follower(store, Query(limit=1000), cursor, interval=0, sleep=lambda _: None)
    handled = []
    for item in follower:
        handled.append(item)
        if len(handled) == 3:
            break  # Ctrl-C after the third line
    store.put([entry("late", BASE + timedelta(seconds=1, microseconds=500))])
    saved, owed = follower.position_after(handled[-1])
    assert [e["id"] for e in owed] == [e["id"] for e in page[3:]]
    rest = drain(quiet_follower(store, Query(limit=1000), saved, pending=owed))
    assert [e["message"] for e in handled + rest] == ["n0", "n1", "n2", "n3", "n4", "late"]
    # Stopped before the first entry of a page was handled: all of the page is still owed.
    assert quiet_follower(store, Query(), saved).position_after(None) == (saved, [])


def test_cli_tail_on_dynamodb_resumes_exactly_after_max_entries_with_a_late_entry(request, tmp_path, monkeypatch,
                                                                                   moto_endpoint):
    """`tail -f --cursor F --max-entries 2` on the dynamodb target; an entry late within the settle
    window is written right after the page was read, before the tail saves its position."""
    from tests.dynamo_fixtures import new_client

    target = make_target("dynamodb", request, tmp_path)
    cursor = tmp_path / "ddb.cursor"
    follow = ("tail", "-f", "--cursor", str(cursor), "--interval", "0.1", "-o", "jsonl")
    assert cli(target.env, *follow, "--idle-timeout", "0.3s").exit_code == 0
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    page = [{"id": str(uuid.uuid4()), "severity": "info", "message": f"on time {n}",
             "dateTime": format_utc(start + timedelta(milliseconds=10 * n))} for n in range(4)]
    assert cli(target.env, "send", "--file", str(write_jsonl(tmp_path / "page.jsonl", page))).exit_code == 0
    late = normalise({"severity": "info", "message": "late", "dateTime": format_utc(start + timedelta(milliseconds=5))})
    writer = DynamoDBStore(target.extra["table"], client=new_client(moto_endpoint))
    request.addfinalizer(writer.close)
    real_follow = DynamoDBStore.follow

    def follow_then_a_late_write(self, cursor, query):
        result = real_follow(self, cursor, query)
        if result.entries and not writer.recent(Query(grep="late")).entries:
            writer.put([late])
        return result

    monkeypatch.setattr(DynamoDBStore, "follow", follow_then_a_late_write)
    first = cli(target.env, *follow, "--max-entries", "2")
    assert first.exit_code == 0, first.output
    monkeypatch.setattr(DynamoDBStore, "follow", real_follow)
    second = cli(target.env, *follow, "--idle-timeout", "0.5s")
    assert second.exit_code == 0, second.output

    got = [json.loads(line)["message"] for result in (first, second) for line in result.stdout.splitlines()]
    assert got[:2] == ["on time 0", "on time 1"]
    assert sorted(got) == sorted(["late"] + [e["message"] for e in page]), got  # each once


@pytest.fixture
def url_target(request, tmp_path):
    return make_target("url", request, tmp_path)


def test_url_target_with_regex_resumes_after_max_entries_with_the_rest_of_the_page(url_target, tmp_path):
    """The client asks the service for 1000 entries at a time and applies the regex itself."""
    cursor = tmp_path / "regex.cursor"
    follow = ("tail", "-f", "--cursor", str(cursor), "--grep", "^keep", "--regex", "--idle-timeout", "1s",
              "--interval", "0.1", "-o", "jsonl")
    assert cli(url_target.env, *follow).exit_code == 0  # nothing yet: saves the position
    batch = [{"id": str(uuid.uuid4()), "severity": "info", "message": f"{'keep' if n % 2 else 'drop'} {n}"}
             for n in range(12)]
    sent = cli(url_target.env, "send", "--file", str(write_jsonl(tmp_path / "batch.jsonl", batch)))
    assert sent.exit_code == 0, sent.output
    wanted = [e["id"] for e in batch if e["message"].startswith("keep")]

    first = cli(url_target.env, *follow, "--max-entries", "2")
    assert first.exit_code == 0, first.output
    second = cli(url_target.env, *follow)
    assert second.exit_code == 0, second.output
    third = cli(url_target.env, *follow)
    assert third.exit_code == 0, third.output
    got = [json.loads(line)["id"] for result in (first, second) for line in result.stdout.splitlines()]
    assert sorted(got) == sorted(wanted) and len(got) == len(wanted)
    assert len(first.stdout.splitlines()) == 2 and third.stdout == ""


def test_a_cursor_file_names_its_target_and_another_target_refuses_it(url_target, tmp_path):
    cursor = tmp_path / "local.cursor"
    follow = ("tail", "-f", "--cursor", str(cursor), "--idle-timeout", "0.3s", "--interval", "0.1", "-o", "jsonl")
    assert cli({}, "send", "local one").exit_code == 0
    assert cli({}, *follow).exit_code == 0
    assert cursor.read_text().startswith("logsvc-cursor 2 local\n")

    refused = cli(url_target.env, *follow)
    assert refused.exit_code == ExitCode.USAGE, refused.output
    assert "belongs to the local target, not the url target" in refused.output
    assert "Traceback" not in refused.output

    cursor.write_text("s12\n")  # a bare cursor, as saved before format 2
    old = cli({}, *follow)
    assert old.exit_code == ExitCode.USAGE and "not a cursor file of this logsvc" in old.output

    cursor.write_text("logsvc-cursor 2 url\n" + FORGED["nested brackets"] + "\n")  # refused by the service
    forged = cli(url_target.env, *follow)
    assert forged.exit_code == ExitCode.USAGE, forged.output
    assert "refused the cursor" in forged.output and "Traceback" not in forged.output
    cursor.write_text("logsvc-cursor 2 url\nddb2." + "A" * 70_000 + "\n")  # too long for a URL
    too_long = cli(url_target.env, *follow)
    assert too_long.exit_code == ExitCode.USAGE and "too long to send" in too_long.output


# -- item 6: the DynamoDB cursor is bounded -------------------------------------------------------------


def test_the_cursor_stays_small_at_500_entries_a_second_and_follow_stays_exactly_once(make_store):
    clock = Clock(BASE)
    store = make_store(2, settle_seconds=5, clock=clock)
    cursor = store.recent(Query()).cursor
    # 2000 entries 2 ms apart: 500 a second, all inside one 5 s settle window.
    burst = [entry(f"fast {n}", BASE + timedelta(milliseconds=100 + 2 * n)) for n in range(2000)]
    store.put(burst)
    clock.now = BASE + timedelta(seconds=4.5)

    recent = store.recent(Query(limit=10))
    assert len(recent.cursor) < 4096, len(recent.cursor)
    assert store.follow(recent.cursor, Query()).entries == []  # the bounded window still holds

    sizes: list[int] = []
    delivered, cursor = follow_all(store, cursor, Query(limit=300), rounds=10, sizes=sizes)
    assert [e["id"] for e in delivered] == [e["id"] for e in burst]
    assert max(sizes) < 4096, sizes
    from logsvc.store.dynamodb.reads import MAX_CURSOR_IDS

    assert len(base64.urlsafe_b64decode(cursor[5:] + "==")) < 100 + MAX_CURSOR_IDS * 10


def test_a_tail_over_the_url_target_on_dynamodb_at_500_a_second_sends_small_cursors(make_store):
    """The url target in front of a DynamoDB table (serve --table, the Lambda): the cursor travels
    in the query string of every poll; at 500 entries/s it stays small, and forged ones are a 400."""
    import httpx

    from logsvc.client import FunctionUrlStore
    from logsvc.serve import LocalServer

    clock = Clock(BASE)
    store = make_store(2, settle_seconds=5, clock=clock)
    with LocalServer(store) as server:
        client = FunctionUrlStore(server.ingest_url, server.read_url, attempts=1)
        try:
            cursor = client.recent(Query()).cursor
            burst = [entry(f"fast {n}", BASE + timedelta(milliseconds=100 + 2 * n)) for n in range(1500)]
            store.put(burst)
            clock.now = BASE + timedelta(seconds=4)
            sizes: list[int] = []
            delivered, cursor = follow_all(client, cursor, Query(limit=1000), rounds=10, sizes=sizes)
            assert [e["id"] for e in delivered] == [e["id"] for e in burst]
            assert max(sizes) < 4096, sizes
            with pytest.raises(BadCursor, match="refused the cursor"):
                client.follow(FORGED["nested brackets"], Query())
        finally:
            client.close()
        forged = httpx.get(server.read_url, params={"cursor": FORGED["nested brackets"]})
        assert forged.status_code == 400 and forged.json()["errors"][0].startswith("cursor is not valid")


def test_a_cursor_too_long_for_a_url_is_a_clear_error_from_the_client_and_the_handler(make_store, tmp_path):
    from logsvc.client import FunctionUrlStore

    client = FunctionUrlStore(None, "http://127.0.0.1:9/read", attempts=1)
    try:
        with pytest.raises(BadCursor, match="too long"):
            client.follow("ddb2." + "A" * 73_410, Query())
    finally:
        client.close()
    response = read.handle(get_event({"cursor": "ddb2." + "A" * 20_000}), make_store(1))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["errors"][0].startswith("cursor")


# -- item 7: forged cursors are a 400 naming the parameter ------------------------------------------------


def get_event(params: dict) -> dict:
    from urllib.parse import parse_qsl, urlencode

    event = json.loads((EVENTS / "get-no-query.json").read_text())
    event["rawQueryString"] = urlencode(params)
    event["queryStringParameters"] = dict(parse_qsl(event["rawQueryString"]))
    return event


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


FORGED = {
    "nested brackets": b64(b"[" * 1100),
    "nested objects": b64(b'{"a":' * 1100),
    "ddb1 with a list watermark": b64(json.dumps({"v": "ddb1", "w": [1], "s": []}).encode()),
    "ddb1 with huge numbers": b64(json.dumps({"v": "ddb1", "w": "2026-02-09T21:00:00+00:00",
                                              "s": [["a", 10 ** 400]]}).encode()),
    "ddb2 not base64": "ddb2.***",
    "ddb2 empty": "ddb2.",
    "ddb2 truncated": "ddb2." + b64(b"\x05abc"),
    "ddb2 watermark not a time": "ddb2." + b64(b"\x03abc\x00"),
    "ddb2 year 99999": "ddb2." + b64(b"\x1a99999-01-01T00:00:00+00:00\x00"),
    "ddb2 endless varint": "ddb2." + b64(b"\x19" + b"2026-02-09T21:00:00+00:00" + b"\xff" * 40),
    "ddb2 huge count": "ddb2." + b64(b"\x19" + b"2026-02-09T21:00:00+00:00" + b"\xff\xff\xff\x7f"),
    "ddb2 trailing bytes": "ddb2." + b64(b"\x19" + b"2026-02-09T21:00:00+00:00" + b"\x00junk"),
    "ddb2 not ASCII": "ddb2.é",
    "local": "s12",
}


@pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
def test_a_forged_cursor_is_a_400_naming_the_cursor(make_store, forged):
    response = read.handle(get_event({"cursor": forged}), make_store(1))
    assert response["statusCode"] == 400, response
    errors = json.loads(response["body"])["errors"]
    assert len(errors) == 1 and errors[0].startswith("cursor is not valid")


def test_the_old_cursor_format_is_refused_with_its_name(make_store):
    old = b64(json.dumps({"v": "ddb1", "w": "2026-02-09T21:00:00+00:00", "s": []}, separators=(",", ":")).encode())
    with pytest.raises(BadCursor, match="earlier format ddb1"):
        make_store(1).follow(old, Query())


def test_an_issued_cursor_round_trips_through_the_handler(make_store):
    store = make_store(2)
    first = json.loads(read.handle(get_event({}), store)["body"])
    assert first["cursor"].startswith("ddb2.")
    store.put([normalise({"severity": "info", "message": "after"})])
    later = json.loads(read.handle(get_event({"cursor": first["cursor"]}), store)["body"])
    assert [log["message"] for log in later["logs"]] == ["after"]


# -- item 12: the table's shard count, everywhere ---------------------------------------------------------


def test_a_store_configured_with_another_shard_count_refuses_to_write_or_read(make_table, make_store, dynamo_client):
    table = make_table(2)
    wrong = make_store(table=table, shards=4)
    with pytest.raises(StoreMisconfigured, match="has 2 index shards") as raised:
        wrong.put([normalise({"severity": "info", "message": "lost"})])
    assert raised.value.code == "ShardCountMismatch"
    assert all_items(dynamo_client, table) == []
    with pytest.raises(StoreMisconfigured):
        make_store(table=table, shards=4).recent(Query())
    right = make_store(table=table, shards=2)
    right.put([normalise({"severity": "info", "message": "kept"})])
    assert [e["message"] for e in make_store(table=table, shards=None).recent(Query()).entries] == ["kept"]


def test_a_table_without_settings_item_uses_the_configured_count(make_table, make_store, dynamo_client):
    table = make_table(1)
    dynamo_client.delete_item(TableName=table, Key={"LogID": {"S": "__logsvc_settings__"}})
    store = make_store(table=table, shards=3)
    entries = [normalise({"severity": "info", "message": f"m{n}"}) for n in range(12)]
    store.put(entries)
    assert len({item["Shard"]["S"] for item in all_items(dynamo_client, table)}) > 1
    assert len(make_store(table=table, shards=3).recent(Query()).entries) == 12


@pytest.fixture
def lambda_env(monkeypatch, moto_endpoint):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    common.reset()
    yield monkeypatch
    common.reset()


def test_the_handlers_refuse_an_index_shards_that_disagrees_with_the_table(lambda_env, make_table, dynamo_client):
    table = make_table(2)
    lambda_env.setenv("TABLE_NAME", table)
    lambda_env.setenv("INDEX_SHARDS", "4")
    event = json.loads((EVENTS / "post-headers-cookies-json-body.json").read_text())
    event["body"] = json.dumps([{"severity": "info", "message": "hidden"}])
    event["headers"].pop("content-length", None)
    stored = ingest.handler(event, None)
    assert stored["statusCode"] == 500, stored
    assert "INDEX_SHARDS disagrees with the shard count of its table" in json.loads(stored["body"])["errors"][0]
    assert all_items(dynamo_client, table) == []
    assert read.handler(get_event({}), None)["statusCode"] == 500


def test_the_cli_dynamodb_target_and_serve_refuse_a_configured_shard_count(moto_endpoint, make_table, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    table = make_table(2)
    env = {"LOGSVC_TARGET": "dynamodb", "LOGSVC_TABLE": table, "LOGSVC_ENDPOINT_URL": moto_endpoint,
           "LOGSVC_REGION": REGION, "LOGSVC_SHARDS": "4"}
    sent = cli(env, "send", "hidden")
    assert sent.exit_code == ExitCode.USAGE, sent.output
    assert "has 2 index shards" in sent.output and "Traceback" not in sent.output
    shown = cli(env, "recent")
    assert shown.exit_code == ExitCode.USAGE, shown.output

    served = cli({"LOGSVC_SHARDS": "4", "AWS_REGION": REGION}, "serve", "--table", table,
                 "--endpoint-url", moto_endpoint, "--port", "0")
    assert served.exit_code == ExitCode.USAGE, served.output
    assert "has 2 index shards" in served.output
