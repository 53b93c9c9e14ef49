"""Behaviours of the DynamoDB target that a mutation spot-check found unpinned (issue 15).

- A follower far behind (more than ``settle_seconds``) paging with a small limit: each page is cut
  short by the limit below the settle horizon, so the next watermark must be the last delivered
  entry, not the horizon, or the rest of the backlog is skipped.
- The shard count comes from the table's settings item: the Lambda handlers (``INDEX_SHARDS``
  unset) and the CLI's dynamodb target must read every shard of a 4-shard table, and write each
  entry to its own shard, or entries written by another writer are invisible.

All against a moto server on loopback; time is moved with an injected clock, not slept.
"""

from __future__ import annotations

import json
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
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.entry import normalise
from logsvc.handler import common, ingest, read
from logsvc.store import Query
from logsvc.store.dynamodb import shard_of
from logsvc.times import format_utc
from tests.conftest import EVENTS

BASE = datetime(2026, 2, 9, 21, 0, 0, tzinfo=timezone.utc)
SHARDS = 4


class Clock:
    """A settable clock for the store."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def entry(message: str, at: datetime) -> dict:
    return normalise({"severity": "info", "message": message, "dateTime": format_utc(at)})


def spread_entries(count: int) -> list[dict]:
    """`count` entries a second apart, the i-th with an id in shard i % SHARDS: every shard is used."""
    entries = []
    while len(entries) < count:
        candidate = entry(f"m{len(entries)}", BASE + timedelta(seconds=len(entries)))
        if shard_of(candidate["id"], SHARDS) == len(entries) % SHARDS:
            entries.append(candidate)
    return entries


# -- follow: a reader far behind, paging with a small limit -----------------------------------------


@pytest.mark.parametrize("shards", [1, SHARDS])
def test_a_follower_far_behind_gets_every_entry_once_over_small_pages(make_store, shards):
    clock = Clock(BASE)
    store = make_store(shards, settle_seconds=5, clock=clock)
    cursor = store.recent(Query(limit=10)).cursor
    backlog = [entry(f"backlog {i}", BASE + timedelta(seconds=1 + i)) for i in range(10)]
    store.put(backlog)
    clock.now = BASE + timedelta(minutes=10)  # the reader comes back long after: all ten below the horizon

    delivered, pages = [], 0
    while True:
        page = store.follow(cursor, Query(limit=3))
        cursor = page.cursor
        if not page.entries:
            break
        assert len(page.entries) <= 3
        delivered += page.entries
        pages += 1
        assert pages <= 10, "follow keeps returning entries"
    assert pages == 4  # 3 + 3 + 3 + 1
    assert [e["id"] for e in delivered] == [e["id"] for e in backlog]  # each once, oldest first

    # And the cursor it ends with still delivers what arrives next, once.
    later = entry("later", clock.now)
    store.put([later])
    page = store.follow(cursor, Query(limit=3))
    assert [e["id"] for e in page.entries] == [later["id"]]
    assert store.follow(page.cursor, Query(limit=3)).entries == []


def test_a_follower_far_behind_with_a_filter_pages_through_the_backlog(make_store):
    clock = Clock(BASE)
    store = make_store(SHARDS, settle_seconds=5, clock=clock)
    query = Query(min_severity="error", limit=2)
    cursor = store.recent(query).cursor
    backlog = [normalise({"severity": ["info", "error"][i % 2], "message": f"b{i}",
                          "dateTime": format_utc(BASE + timedelta(seconds=1 + i))}) for i in range(12)]
    store.put(backlog)
    clock.now = BASE + timedelta(hours=1)
    delivered = []
    for _ in range(8):
        page = store.follow(cursor, query)
        cursor = page.cursor
        delivered += page.entries
    assert [e["id"] for e in delivered] == [e["id"] for e in backlog if e["severity"] == "error"]


# -- the shard count from the settings item: the Lambda handlers --------------------------------------


def _event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def read_event(**params: str) -> dict:
    event = _event("get-no-query.json")
    event["rawQueryString"] = "&".join(f"{key}={value}" for key, value in params.items())
    event["queryStringParameters"] = dict(params)
    return event


def ingest_event(body: list[dict]) -> dict:
    event = _event("post-headers-cookies-json-body.json")
    event["body"] = json.dumps(body)
    event["headers"].pop("content-length", None)
    return event


@pytest.fixture
def lambda_table(monkeypatch, moto_endpoint, make_table):
    """A 4-shard table and the environment of a deployed function, INDEX_SHARDS unset."""
    table = make_table(SHARDS)
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.delenv("INDEX_SHARDS", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    common.reset()
    yield table
    common.reset()


def test_the_read_handler_reads_every_shard_named_by_the_settings_item(lambda_table, make_store):
    writer = make_store(table=lambda_table, shards=None)  # another writer, also reading the settings item
    entries = spread_entries(40)
    writer.put(entries)

    response = read.handler(read_event(limit="1000"), None)
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    assert body["count"] == 40
    assert [e["id"] for e in body["logs"]] == [e["id"] for e in reversed(entries)]


def test_the_ingest_handler_writes_each_entry_to_its_shard_of_the_settings_count(lambda_table, dynamo_client,
                                                                                  make_store):
    entries = spread_entries(40)
    response = ingest.handler(ingest_event(entries), None)
    assert response["statusCode"] == 200, response["body"]
    shards = {item["LogID"]["S"]: item["Shard"]["S"] for item in all_items(dynamo_client, lambda_table)}
    assert shards == {e["id"]: f"LOG#{shard_of(e['id'], SHARDS)}" for e in entries}

    reader = make_store(table=lambda_table, shards=None)  # what another reader of the table sees
    assert [e["id"] for e in reader.recent(Query(limit=100)).entries] == [e["id"] for e in reversed(entries)]


# -- the shard count from the settings item: the CLI's dynamodb target --------------------------------

runner = CliRunner()


@pytest.fixture
def cli_env(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("LOGSVC_ENDPOINT_URL", moto_endpoint)


def test_cli_recent_on_the_dynamodb_target_reads_every_shard(cli_env, make_table, make_store):
    table = make_table(SHARDS)
    entries = spread_entries(40)
    make_store(table=table, shards=None).put(entries)

    shown = runner.invoke(app, ["recent", "--target", "dynamodb", "--table", table, "-n", "1000", "-o", "jsonl"])
    assert shown.exit_code == 0, shown.output
    ids = [json.loads(line)["id"] for line in shown.stdout.splitlines()]
    assert ids == [e["id"] for e in reversed(entries)]


def test_cli_send_on_the_dynamodb_target_writes_each_entry_to_its_shard(cli_env, make_table, dynamo_client):
    table = make_table(SHARDS)
    entries = spread_entries(40)
    lines = "".join(json.dumps(e) + "\n" for e in entries)
    sent = runner.invoke(app, ["send", "--target", "dynamodb", "--table", table, "--file", "-"], input=lines)
    assert sent.exit_code == 0, sent.output
    shards = {item["LogID"]["S"]: item["Shard"]["S"] for item in all_items(dynamo_client, table)}
    assert shards == {e["id"]: f"LOG#{shard_of(e['id'], SHARDS)}" for e in entries}
