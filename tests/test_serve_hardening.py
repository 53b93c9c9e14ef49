"""The service under hostile clients and broken set-ups (issue 9, items 8-11, 13, 14).

Real parts only: `logsvc serve` as a subprocess or `LocalServer` in a thread on loopback, raw
sockets and httpx as clients, SQLite files, DynamoDB on a moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from dynamo_fixtures import REGION, make_store, make_table, moto_endpoint, dynamo_client, new_client  # noqa: F401
from logsvc.handler import common, ingest, read
from logsvc.serve import LocalServer
from logsvc.store.dynamodb import DynamoDBStore
from tests.conftest import ROOT


def entry(message: str = "hello", **fields) -> dict:
    return {"severity": "info", "message": message, **fields}


def post_event(body: str, *, content_type: str = "application/json") -> dict:
    return {
        "version": "2.0",
        "rawPath": "/ingest",
        "rawQueryString": "",
        "headers": {"content-type": content_type, "host": "localhost"},
        "requestContext": {"http": {"method": "POST", "path": "/ingest"}},
        "body": body,
        "isBase64Encoded": False,
    }


def get_event() -> dict:
    return {
        "version": "2.0",
        "rawPath": "/read",
        "rawQueryString": "",
        "headers": {"host": "localhost"},
        "requestContext": {"http": {"method": "GET", "path": "/read"}},
        "isBase64Encoded": False,
    }


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


# -- item 11: a table that cannot be used is a misconfiguration, not an outage ---------------------


def test_serve_on_a_missing_table_exits_at_start_up_with_a_clear_error(moto_endpoint, aws_env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "logsvc", "serve", "--port", "0", "--table", "nosuchtable",
         "--endpoint-url", moto_endpoint, "--region", REGION],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ),
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # today's main: it serves (503 to everything) until stopped
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"serve kept running on a missing table; printed {out!r}")
    assert proc.returncode == 4, err
    assert "export" not in out
    assert "'nosuchtable' was not found" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("handler, event", [(ingest, lambda: post_event(json.dumps(entry()))), (read, get_event)],
                         ids=["ingest", "read"])
def test_a_missing_table_is_a_500_saying_misconfigured_not_a_503(moto_endpoint, handler, event, caplog):
    common.reset()
    store = DynamoDBStore(f"missing-{uuid.uuid4().hex[:8]}", client=new_client(moto_endpoint), retry_seconds=1.0)
    try:
        responses = [handler.handle(event(), store) for _ in range(2)]
    finally:
        store.close()
        common.reset()
    for response in responses:
        assert response["statusCode"] == 500
        assert "retry-after" not in response["headers"]
        [error] = json.loads(response["body"])["errors"]
        assert "misconfigured" in error and "ResourceNotFoundException" in error
    # Logged once for the process, not once per request.
    assert sum("misconfigured" in record.getMessage() for record in caplog.records) == 1


def test_served_table_deleted_while_running_answers_500_over_http(make_store, dynamo_client):
    store = make_store(1)
    with LocalServer(store) as server, httpx.Client(timeout=10) as http:
        assert http.post(server.ingest_url, json=entry("before")).status_code == 200
        dynamo_client.delete_table(TableName=store.table_name)
        answer = http.post(server.ingest_url, json=entry("after"))
        assert answer.status_code == 500
        assert "retry-after" not in answer.headers
        assert "misconfigured" in answer.json()["errors"][0]
        assert http.get(server.read_url).status_code == 500
