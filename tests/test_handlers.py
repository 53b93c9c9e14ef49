"""The Lambda handlers, fed recorded Function URL events and variants, on a moto-backed DynamoDBStore."""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from dynamo_fixtures import (  # noqa: F401 - fixtures are used by name
    FAKE_CREDENTIALS,
    REGION,
    all_items,
    aws_response,
    dynamo_client,
    make_store,
    make_table,
    moto_endpoint,
    new_client,
)

from logsvc.entry import MAX_ENTRY_BYTES, normalise
from logsvc.handler import common, ingest, read
from logsvc.store.dynamodb import DynamoDBStore

EVENTS = Path(__file__).resolve().parent / "events"
ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("t0ken-secret", "c00kie-secret", "AKIDSECRETEXAMPLE", "s3cr3t-signature")


def recorded(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def post_event(body: str | bytes | None, *, content_type: str | None = "application/json", base64_body: bool = False,
               headers: dict | None = None) -> dict:
    """The recorded SigV4 POST with another body (and content type)."""
    event = recorded("post-headers-cookies-json-body.json")
    if body is None:
        del event["body"]
    elif base64_body:
        raw = body.encode() if isinstance(body, str) else body
        event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:
        event["body"] = body
    if content_type is None:
        del event["headers"]["content-type"]
    else:
        event["headers"]["content-type"] = content_type
    event["headers"].pop("content-length")
    event["headers"].update(headers or {})
    return event


def get_event(params: dict | list | str | None = None, *, method: str = "GET") -> dict:
    """The recorded browser GET with a query string (a str is sent as is, unencoded)."""
    event = recorded("get-no-query.json")
    event["requestContext"]["http"]["method"] = method
    if params:
        event["rawQueryString"] = params if isinstance(params, str) else urlencode(params)
        event["queryStringParameters"] = dict(parse_qsl(event["rawQueryString"]))
    return event


def body_of(response: dict) -> dict:
    assert response["headers"]["content-type"] == "application/json"
    assert "Traceback" not in response["body"]
    return json.loads(response["body"])


def an_entry(message: str = "disk full", **fields) -> dict:
    return {"severity": "error", "message": message, **fields}


@pytest.fixture
def store(make_store):
    return make_store(2)


@pytest.fixture
def fresh_handler_state():
    common.reset()
    yield
    common.reset()


# -- recorded events ------------------------------------------------------------------------------


def test_recorded_get_lists_entries_newest_first(store):
    entries = [normalise({"severity": s, "message": f"m{i}", "dateTime": f"2026-02-09T21:50:2{i}Z"})
               for i, s in enumerate(["info", "warning", "error"])]
    entries[1]["source"] = "api"
    store.put(entries)
    response = read.handle(recorded("get-no-query.json"), store)
    assert response["statusCode"] == 200
    body = body_of(response)
    assert body["count"] == 3
    assert body["logs"] == list(reversed(entries))
    assert set(body["logs"][1]) == {"id", "dateTime", "severity", "message", "source"}
    assert set(body["logs"][0]) == {"id", "dateTime", "severity", "message"}
    assert isinstance(body["cursor"], str) and body["cursor"]


def test_recorded_post_body_is_not_an_entry(store, dynamo_client):
    response = ingest.handle(recorded("post-headers-cookies-json-body.json"), store)
    assert response["statusCode"] == 400
    body = body_of(response)
    assert any("unknown field 'hello'" in error for error in body["errors"])
    assert any("missing required fields: severity, message" in error for error in body["errors"])
    assert body["details"] == [{"index": 0, "errors": body["errors"]}]
    assert all_items(dynamo_client, store.table_name) == []


# -- ingest -------------------------------------------------------------------------------------------


def test_post_one_entry_answers_like_the_original_service(store):
    response = ingest.handle(post_event(json.dumps(an_entry(dateTime="2026-02-09T22:50:20+01:00"))), store)
    assert response["statusCode"] == 200
    body = body_of(response)
    assert set(body) == {"message", "id", "dateTime", "severity"}
    assert body["message"] == "Log entry created"
    assert body["dateTime"] == "2026-02-09T21:50:20.000000+00:00"
    assert body["severity"] == "error"
    [stored] = body_of(read.handle(get_event(), store))["logs"]
    assert stored == {"id": body["id"], "dateTime": body["dateTime"], "severity": "error", "message": "disk full"}


def test_replay_is_accepted_and_a_changed_entry_conflicts(store, dynamo_client):
    entry = an_entry(id="8f0c7a3e-2b51-4c6e-9d7a-0f3e1b2c4d5e", dateTime="2026-02-09T21:50:20Z")
    first = ingest.handle(post_event(json.dumps(entry)), store)
    again = ingest.handle(post_event(json.dumps(entry)), store)
    assert first["statusCode"] == again["statusCode"] == 200
    assert body_of(again)["replayed"] is True and body_of(again)["id"] == entry["id"]
    conflict = ingest.handle(post_event(json.dumps({**entry, "message": "other"})), store)
    assert conflict["statusCode"] == 409
    assert body_of(conflict)["ids"] == [entry["id"]]
    assert entry["id"] in body_of(conflict)["errors"][0]
    assert [item["Message"]["S"] for item in all_items(dynamo_client, store.table_name)] == ["disk full"]


def test_base64_bodies(store):
    response = ingest.handle(post_event(json.dumps(an_entry("ünïcode")), base64_body=True), store)
    assert response["statusCode"] == 200
    assert body_of(read.handle(get_event(), store))["logs"][0]["message"] == "ünïcode"
    event = post_event("x")
    event["body"], event["isBase64Encoded"] = "!!not base64!!", True
    response = ingest.handle(event, store)
    assert response["statusCode"] == 400 and "base64" in body_of(response)["errors"][0]


def test_batch_is_stored_with_ids_in_order(store):
    batch = [an_entry(f"m{i}", dateTime=f"2026-02-09T21:50:2{i}Z") for i in range(3)]
    batch[1]["id"] = "0b7d0c3e-2b51-4c6e-9d7a-0f3e1b2c4d5e"
    response = ingest.handle(post_event(json.dumps(batch)), store)
    assert response["statusCode"] == 200
    body = body_of(response)
    assert body["message"] == "Log entries created" and body["count"] == 3 and body["replayed"] == []
    assert body["ids"][1] == batch[1]["id"]
    logs = body_of(read.handle(get_event(), store))["logs"]
    assert [log["id"] for log in logs] == list(reversed(body["ids"]))

    again = body_of(ingest.handle(post_event(json.dumps(batch[1:2] + [an_entry("new")])), store))
    assert again["replayed"] == [batch[1]["id"]] and again["count"] == 2


def test_invalid_batch_names_every_index_and_stores_nothing(store, dynamo_client):
    batch = [an_entry("fine"), {"severity": "fatal", "message": "x"}, {"message": "  "}, "not an object"]
    response = ingest.handle(post_event(json.dumps(batch)), store)
    assert response["statusCode"] == 400
    body = body_of(response)
    assert [detail["index"] for detail in body["details"]] == [1, 2, 3]
    assert body["errors"][0].startswith("entry 1: severity 'fatal'")
    assert any(error.startswith("entry 2: missing required field: severity") for error in body["errors"])
    assert any(error.startswith("entry 2: message must not be blank") for error in body["errors"])
    assert body["errors"][-1] == "entry 3: an entry must be a JSON object, not a string"
    assert all_items(dynamo_client, store.table_name) == []


def test_batch_conflict_is_409_and_stores_nothing(store, dynamo_client):
    existing = an_entry(id="1c2d3e4f-2b51-4c6e-9d7a-0f3e1b2c4d5e")
    assert ingest.handle(post_event(json.dumps(existing)), store)["statusCode"] == 200
    response = ingest.handle(post_event(json.dumps([an_entry("new"), {**existing, "message": "changed"}])), store)
    assert response["statusCode"] == 409
    assert body_of(response)["ids"] == [existing["id"]]
    assert len(all_items(dynamo_client, store.table_name)) == 1


@pytest.mark.parametrize(
    ("handle", "event", "allowed"),
    [
        (ingest.handle, get_event(), "POST"),
        (ingest.handle, get_event(method="PUT"), "POST"),
        (read.handle, post_event(json.dumps(an_entry())), "GET"),
        (read.handle, get_event(method="DELETE"), "GET"),
    ],
)
def test_wrong_method_is_405_with_allow(store, handle, event, allowed):
    response = handle(event, store)
    assert response["statusCode"] == 405
    assert response["headers"]["allow"] == allowed
    assert allowed in body_of(response)["errors"][0]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (json.dumps([an_entry(f"m{i}") for i in range(501)]), "the limit is 500"),
        (json.dumps(an_entry("x" * (1024 * 1024 + 1))), "request body is"),
        (json.dumps(an_entry("x" * MAX_ENTRY_BYTES)), f"the limit is {MAX_ENTRY_BYTES} bytes"),
        (json.dumps([an_entry("ok"), an_entry("x" * MAX_ENTRY_BYTES)]), "entry 1: entry is"),
    ],
)
def test_too_large_is_413(store, dynamo_client, body, fragment):
    response = ingest.handle(post_event(body), store)
    assert response["statusCode"] == 413
    assert any(fragment in error for error in body_of(response)["errors"])
    assert all_items(dynamo_client, store.table_name) == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("multipart/form-data; boundary=x", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/json; charset=utf-16", 415),
        ("image/png", 415),
        ("application/json; charset=UTF-8", 200),
        ("text/plain", 200),
        (None, 200),
    ],
)
def test_content_types(store, content_type, status):
    response = ingest.handle(post_event(json.dumps(an_entry()), content_type=content_type), store)
    assert response["statusCode"] == status
    if status == 415:
        assert "application/json" in body_of(response)["errors"][0] or "UTF-8" in body_of(response)["errors"][0]


@pytest.mark.parametrize(
    ("body", "base64_body", "fragment"),
    [
        ('{"severity": "info", "message": "x"', False, "not valid JSON"),
        (b'{"severity": "info", "message": "\xff"}', True, "not valid UTF-8"),
        ("[" * 100_000 + "]" * 100_000, False, "nested too deeply"),
        ('{"severity": "info", "message": ' + "9" * 5000 + "}", False, "not acceptable JSON"),
        ('{"severity": "info", "message": NaN}', False, "not acceptable JSON"),
        ("", False, "body is empty"),
        ("  \n", False, "body is empty"),
        (None, False, "body is empty"),
        ("[]", False, "batch is empty"),
        ("42", False, "must be a JSON object"),
    ],
)
def test_malformed_bodies_are_400(store, body, base64_body, fragment):
    response = ingest.handle(post_event(body, base64_body=base64_body), store)
    assert response["statusCode"] == 400
    assert any(fragment in error for error in body_of(response)["errors"])


# -- read -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": "0"}, "limit must be"),
        ({"limit": "1001"}, "limit must be"),
        ({"limit": "ten"}, "limit must be"),
        ({"limit": "-5"}, "limit must be"),
        ({"severity": "warn"}, "severity must be one of info, warning, error"),
        ({"since": "yesterday"}, "since 'yesterday'"),
        ({"until": "2026-02-09T21:50:20"}, "until"),
        ({"since": "1h", "until": "2h"}, "since must be earlier than until"),
        ({"grep": ""}, "grep must be"),
        ({"cursor": ""}, "cursor must not be empty"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor is not valid"),
        ({"foo": "bar", "hello": "world"}, "unknown query parameters 'foo', 'hello'"),
        ([("limit", "5"), ("limit", "6")], "'limit' is given more than once"),
    ],
)
def test_bad_query_parameters_are_400_naming_them(store, params, fragment):
    response = read.handle(get_event(params), store)
    assert response["statusCode"] == 400
    assert any(fragment in error for error in body_of(response)["errors"]), body_of(response)


def test_read_filters(store):
    raws = [
        {"severity": "info", "message": "boot ok", "dateTime": "2026-02-09T21:00:00Z"},
        {"severity": "warning", "message": "disk 80%", "dateTime": "2026-02-09T21:10:00Z"},
        {"severity": "error", "message": "disk full", "dateTime": "2026-02-09T21:20:00Z"},
        {"severity": "info", "message": "disk cleaned", "dateTime": "2026-02-09T21:30:00Z"},
    ]
    store.put([normalise(raw) for raw in raws])

    def messages(params):
        response = read.handle(get_event(params), store)
        assert response["statusCode"] == 200, response["body"]
        return [log["message"] for log in body_of(response)["logs"]]

    assert messages({"severity": "warning"}) == ["disk full", "disk 80%"]
    assert messages({"grep": "disk"}) == ["disk cleaned", "disk full", "disk 80%"]
    assert messages({"limit": "2"}) == ["disk cleaned", "disk full"]
    assert messages({"since": "2026-02-09T22:10:00+01:00", "until": "2026-02-09T21:30:00Z"}) == ["disk full", "disk 80%"]
    # an unencoded '+' in an offset arrives as a space; it is read as the '+' it was
    assert messages("since=2026-02-09T22:10:00+01:00&severity=error") == ["disk full"]
    assert messages({"since": "100000d", "grep": "boot"}) == ["boot ok"]


def test_cursor_round_trip(store):
    first = read.handle(get_event(), store)
    cursor = body_of(first)["cursor"]
    batch = [an_entry(f"new {i}") for i in range(3)]
    ids = body_of(ingest.handle(post_event(json.dumps(batch)), store))["ids"]

    page = body_of(read.handle(get_event({"cursor": cursor}), store))
    assert page["count"] == 3
    assert [log["id"] for log in page["logs"]] == sorted(ids)  # oldest first; one dateTime, so by id
    again = body_of(read.handle(get_event({"cursor": page["cursor"]}), store))
    assert again["count"] == 0 and again["logs"] == []


def test_cursor_pages_respect_limit(store):
    cursor = body_of(read.handle(get_event(), store))["cursor"]
    ingest.handle(post_event(json.dumps([an_entry(f"n{i}") for i in range(5)])), store)
    seen = []
    for _ in range(4):
        page = body_of(read.handle(get_event({"cursor": cursor, "limit": "2"}), store))
        assert page["count"] <= 2
        seen += [log["message"] for log in page["logs"]]
        cursor = page["cursor"]
    assert sorted(seen) == [f"n{i}" for i in range(5)]


# -- failures and logging ---------------------------------------------------------------------------


def secret_event(body: str) -> dict:
    """The recorded POST carrying recognisable credentials in every place one can hide."""
    event = post_event(body, headers={
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDSECRETEXAMPLE/x, Signature=s3cr3t-signature",
        "x-amz-security-token": "t0ken-secret",
        "cookie": "session=c00kie-secret; theme=dark",
    })
    event["cookies"] = ["session=c00kie-secret", "theme=dark"]
    event["requestContext"]["authorizer"]["iam"] = {"accessKey": "AKIDSECRETEXAMPLE", "accountId": "123456789012"}
    return event


def test_unavailable_store_is_503_and_logged_redacted(moto_endpoint, caplog):
    # Unreachable, not missing: a missing table is a 500 "misconfigured" (test_serve_hardening.py).
    missing = DynamoDBStore("logs", client=new_client("http://127.0.0.1:9"), shards=1, retry_seconds=0.2)
    entry = an_entry(id="5e6f7a8b-2b51-4c6e-9d7a-0f3e1b2c4d5e")
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        response = ingest.handle(secret_event(json.dumps(entry)), missing)
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "1"
    body = body_of(response)
    assert (body["stored"], body["pending"]) == ([], [entry["id"]])

    [record] = [r for r in caplog.records if r.name.startswith("logsvc")]
    text = caplog.text
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "Root=1-643ec28d-5503dc7274559e68706dae64" in text  # the event is there...
    assert "[redacted]" in text
    for secret in SECRETS:  # ...without its credentials and cookies
        assert secret not in text
    assert "Traceback" in text

    response = read.handle(get_event(), missing)
    assert response["statusCode"] == 503 and response["headers"]["retry-after"] == "1"


def test_success_and_client_errors_log_nothing(store, caplog):
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        assert ingest.handle(secret_event(json.dumps(an_entry())), store)["statusCode"] == 200
        assert read.handle(get_event(), store)["statusCode"] == 200
        assert ingest.handle(secret_event("{oops"), store)["statusCode"] == 400
    assert [r for r in caplog.records if r.name.startswith("logsvc") or r.levelno >= logging.WARNING] == []


def test_redact_leaves_the_original_event_alone():
    event = secret_event("{}")
    original = copy.deepcopy(event)
    safe = common.redact(event)
    assert event == original
    assert safe["headers"]["authorization"] == safe["headers"]["cookie"] == "[redacted]"
    assert safe["headers"]["x-amz-security-token"] == safe["cookies"] == "[redacted]"
    assert safe["requestContext"]["authorizer"]["iam"]["accessKey"] == "[redacted]"
    assert safe["headers"]["user-agent"] == event["headers"]["user-agent"]


# -- the Lambda entry points --------------------------------------------------------------------------


@pytest.fixture
def lambda_env(monkeypatch, moto_endpoint, make_table, fresh_handler_state):
    """The environment a deployed function has, pointing at moto."""
    table = make_table(2)
    monkeypatch.setenv("TABLE_NAME", table)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("RETENTION_DAYS", "7")
    monkeypatch.setenv("SETTLE_SECONDS", "2")
    return table


def test_lambda_handlers_use_the_environment(lambda_env, dynamo_client):
    response = ingest.handler(post_event(json.dumps(an_entry(dateTime="2026-02-09T21:50:20Z"))), None)
    assert response["statusCode"] == 200, response["body"]
    [item] = all_items(dynamo_client, lambda_env)
    written = datetime(2026, 2, 9, 21, 50, 20, tzinfo=timezone.utc)
    assert item["ExpiresAt"]["N"] == str(int((written + timedelta(days=7)).timestamp()))
    assert item["Shard"]["S"] in ("LOG#0", "LOG#1")  # the shard count came from the settings item
    body = body_of(read.handler(get_event(), None))
    assert body["count"] == 1 and body["logs"][0]["id"] == body_of(response)["id"]


def test_missing_table_name_is_a_500_logged_once(monkeypatch, fresh_handler_state, caplog):
    monkeypatch.delenv("TABLE_NAME", raising=False)
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        responses = [ingest.handler(post_event(json.dumps(an_entry())), None), read.handler(get_event(), None)]
    for response in responses:
        assert response["statusCode"] == 500
        assert body_of(response) == {"errors": ["service misconfigured: TABLE_NAME is not set"]}
    assert [r.getMessage() for r in caplog.records if r.name.startswith("logsvc")] == [
        "service misconfigured: TABLE_NAME is not set"
    ]


@pytest.mark.parametrize(("name", "value"), [("INDEX_SHARDS", "many"), ("INDEX_SHARDS", "0"), ("RETENTION_DAYS", "-1"), ("SETTLE_SECONDS", "nan")])
def test_bad_settings_are_a_500_naming_them(lambda_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    response = read.handler(get_event(), None)
    assert response["statusCode"] == 500
    assert name in body_of(response)["errors"][0]


def test_an_unexpected_error_is_a_bare_500_with_the_trace_logged(lambda_env, caplog):
    store = common.env_store()

    def reject(request, **_):
        return aws_response(request, 400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "injected bug"})

    store._client.meta.events.register("before-send.dynamodb.PutItem", reject)
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        response = ingest.handler(secret_event(json.dumps(an_entry())), None)
    assert response["statusCode"] == 500
    assert "injected bug" not in response["body"]
    assert body_of(response)["errors"] == ["internal error; the service logged the details"]
    [record] = [r for r in caplog.records if r.name.startswith("logsvc")]
    assert record.exc_info is not None and "ValidationException" in caplog.text
    for secret in SECRETS:
        assert secret not in caplog.text


def test_handler_imports_stay_lean():
    code = (
        "import logsvc.handler.ingest, logsvc.handler.read, sys\n"
        "heavy = {'typer', 'rich', 'httpx', 'click', 'boto3', 'botocore'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in ('logsvc.cli', 'logsvc.output'))\n"
        "assert not loaded, loaded\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TABLE_NAME"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
