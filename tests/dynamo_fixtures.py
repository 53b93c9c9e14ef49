"""Shared fixtures and helpers for the DynamoDB tests: a moto server on loopback, tables, fault hooks.

Import what a test module needs: ``from dynamo_fixtures import moto_endpoint, dynamo_client, ...``
(pytest puts tests/ on sys.path because tests/ is not a package). Never talks to real AWS: every
client built here has an explicit loopback endpoint and fake credentials.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer

from logsvc.store.dynamodb import DynamoDBStore, create_table, delete_table, make_client

REGION = "us-east-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def moto_endpoint():
    """The URL of a moto server on 127.0.0.1 for the whole session."""
    werkzeug = logging.getLogger("werkzeug")  # moto's HTTP server logs every request at INFO
    previous_level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()
        werkzeug.setLevel(previous_level)


def new_client(endpoint: str):
    """A store-style client (no botocore retries) on the moto endpoint."""
    return make_client(REGION, endpoint, **FAKE_CREDENTIALS)


@pytest.fixture
def dynamo_client(moto_endpoint):
    client = new_client(moto_endpoint)
    yield client
    client.close()


@pytest.fixture
def make_table(dynamo_client):
    """make_table(shards=1) -> a fresh table name; every table is deleted after the test."""
    names = []

    def make(shards: int = 1) -> str:
        name = f"logs-{uuid.uuid4().hex[:12]}"
        assert create_table(dynamo_client, name, shards=shards)
        names.append(name)
        return name

    yield make
    for name in names:
        delete_table(dynamo_client, name)


@pytest.fixture
def make_store(moto_endpoint, make_table):
    """make_store(table_shards=1, *, table=None, **options) -> a DynamoDBStore on a fresh table with its own client."""
    stores = []

    def make(table_shards: int = 1, *, table: str | None = None, **options) -> DynamoDBStore:
        if table is None:
            options.setdefault("shards", table_shards)  # pass shards=None to read the settings item
        # On a given table the default reads its settings item: a count that disagrees is refused.
        options.setdefault("retry_seconds", 1.0)
        store = DynamoDBStore(table or make_table(table_shards), client=new_client(moto_endpoint), **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def all_items(client, table: str) -> list[dict]:
    """Every item of a table except the settings item (a consistent scan)."""
    items, request = [], {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items.extend(item for item in page["Items"] if item["LogID"]["S"] != "__logsvc_settings__")
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class _RawBody:
    """Just enough of a urllib3 response for AWSResponse.content."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs):
        yield self._data


def aws_response(request, status: int, payload: dict) -> AWSResponse:
    """A DynamoDB JSON response, as if from the service, for a before-send hook to return."""
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": uuid.uuid4().hex}
    return AWSResponse(request.url, status, headers, _RawBody(body))


def throttled(request, code: str = "ProvisionedThroughputExceededException") -> AWSResponse:
    return aws_response(request, 400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"})


def cursor_taken_at(store: DynamoDBStore, then) -> str:
    """A tail cursor as `recent` would have given it at `then` (the store's clock set there):
    every entry after `then` is still to come."""
    from logsvc.store import Query
    from logsvc.times import format_utc

    real_clock, store._clock = store._clock, lambda: then
    try:
        return store.recent(Query(limit=1, until=format_utc(then))).cursor
    finally:
        store._clock = real_clock
