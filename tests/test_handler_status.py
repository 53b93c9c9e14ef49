"""Which problem gets which HTTP status and JSON body, exactly (gaps found by mutation testing of
handler/common.py, ingest.py and read.py).

The recorded Function URL events (tests/events/) and their variants, answered over a real SQLite
file: fast enough to run once per mutant. A busy store is a second connection holding SQLite's
write lock; an unreachable one a DynamoDB store aimed at a closed port; a misconfigured one a
missing table on the moto server. tests/test_handlers.py covers the same handlers on DynamoDB.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

import pytest
from dynamo_fixtures import dynamo_client, make_table, moto_endpoint, new_client, throttled  # noqa: F401 - fixtures

from logsvc.entry import MAX_BATCH_BYTES, normalise
from logsvc.handler import common, ingest, read
from logsvc.store.sqlite import SQLiteStore

EVENTS = Path(__file__).resolve().parent / "events"
ALLOWED = "allowed: limit, severity, since, until, grep, cursor, before"


def recorded(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def post(body: str | bytes | None, *, content_type: str | None = "application/json", **changes) -> dict:
    """The recorded SigV4 POST with another body, content type, or other top-level fields."""
    event = recorded("post-headers-cookies-json-body.json")
    event["headers"].pop("content-length")
    event["headers"].pop("content-type")
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    if body is None:
        del event["body"]
    else:
        event["body"] = body
    event.update(changes)
    return event


def get(query: str | dict | list | None = None) -> dict:
    """The recorded GET with a raw query string (a str is sent as is)."""
    event = recorded("get-no-query.json")
    if query is not None:
        event["rawQueryString"] = query if isinstance(query, str) else urlencode(query)
    return event


def answer(response: dict) -> tuple[int, dict]:
    """Status and decoded body, after checking what every response has."""
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def entry(message: str = "disk full", **fields) -> dict:
    return {"severity": "error", "message": message, **fields}


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db", busy_timeout=0.05)
    yield store
    store.close()


@pytest.fixture
def fresh_handler_state():
    common.reset()
    yield
    common.reset()


# -- the event: method, headers, query, body ------------------------------------------------------------


def test_wrong_method_is_405_with_allow_exactly(store):
    assert ingest.handle(get(), store) == {
        "statusCode": 405,
        "headers": {"content-type": "application/json", "allow": "POST"},
        "body": '{"errors": ["method not allowed: use POST"]}',
    }
    status, body = answer(read.handle(post(json.dumps(entry())), store))
    assert (status, body) == (405, {"errors": ["method not allowed: use GET"]})
    no_context = get()
    del no_context["requestContext"]
    assert read.handle(no_context, store)["statusCode"] == 405
    no_method = get()
    del no_method["requestContext"]["http"]
    assert read.handle(no_method, store)["statusCode"] == 405


def test_the_method_and_header_names_are_read_in_any_case(store):
    event = post(json.dumps(entry()), content_type=None)
    event["requestContext"]["http"]["method"] = "post"
    event["headers"]["Content-Type"] = "Text/HTML"
    status, body = answer(ingest.handle(event, store))
    assert (status, body) == (415, {"errors": [
        "content type 'text/html' is not accepted: send JSON with Content-Type: application/json"]})
    del event["headers"]["Content-Type"]
    assert ingest.handle(event, store)["statusCode"] == 200


def test_repeated_and_blank_query_parameters_are_kept(store):
    status, body = answer(read.handle(get("limit=5&limit=6&grep="), store))
    assert (status, body) == (400, {"errors": [
        "query parameter 'limit' is given more than once", "grep must be 1 to 1000 characters"]})


def test_fifty_query_parameters_are_read_and_fifty_one_are_too_many(store):
    fifty = "&".join(f"p{i:02d}=x" for i in range(50))
    status, body = answer(read.handle(get(fifty), store))
    assert (status, body) == (400, {"errors": [
        f"unknown query parameters 'p00', 'p01', 'p02', 'p03', 'p04' ({ALLOWED})"]})
    status, body = answer(read.handle(get(fifty + "&p50=x"), store))
    assert (status, body) == (400, {"errors": ["too many query parameters (at most 50)"]})


def test_without_a_raw_query_string_the_parsed_parameters_are_read(store):
    event = get()
    del event["rawQueryString"]
    event["queryStringParameters"] = {"limit": "0"}
    status, body = answer(read.handle(event, store))
    assert (status, body) == (400, {"errors": ["limit must be a whole number from 1 to 1000, not '0'"]})
    event["rawQueryString"] = None
    assert read.handle(event, store)["statusCode"] == 400
    del event["queryStringParameters"]
    assert read.handle(event, store)["statusCode"] == 200


def test_bodies_base64_or_not_str_or_bytes(store):
    text = json.dumps(entry("ünïcode"))
    assert ingest.handle(post(base64.b64encode(text.encode()).decode(), isBase64Encoded=True), store)["statusCode"] == 200
    assert ingest.handle(post(text.encode("utf-8")), store)["statusCode"] == 200
    looks_like_base64 = post(base64.b64encode(text.encode()).decode())  # not flagged: read as JSON
    assert answer(ingest.handle(looks_like_base64, store))[0] == 400
    status, body = answer(ingest.handle(post("!!not base64!!", isBase64Encoded=True), store))
    assert (status, body) == (400, {"errors": ["the request body is flagged base64 but is not valid base64"]})
    encoded = base64.b64encode(text.encode()).decode()
    corrupt = post(encoded[:8] + "*" + encoded[8:], isBase64Encoded=True)  # a character base64 has not
    assert answer(ingest.handle(corrupt, store)) == (status, body)
    status, body = answer(ingest.handle(post('{"severity": "info", "message": "\ud800"}'), store))
    assert (status, body) == (400, {"errors": ["the request body is not valid UTF-8"]})


def test_json_bodies_keep_non_ascii_as_is(store):
    response = ingest.handle(post(json.dumps(entry()), content_type="application/json; charset=ütf"), store)
    assert response["statusCode"] == 415
    assert response["body"] == '{"errors": ["charset \'ütf\' is not accepted: send UTF-8"]}'


# -- ingest: what each body gets ----------------------------------------------------------------------


def test_one_entry_is_200_with_the_original_services_body(store):
    sent = entry(id="8f0c7a3e-2b51-4c6e-9d7a-0f3e1b2c4d5e", dateTime="2026-02-09T22:50:20+01:00")
    expected = {"message": "Log entry created", "id": sent["id"],
                "dateTime": "2026-02-09T21:50:20.000000+00:00", "severity": "error"}
    assert answer(ingest.handle(post(json.dumps(sent)), store)) == (200, expected)
    assert answer(ingest.handle(post(json.dumps(sent)), store)) == (200, {**expected, "replayed": True})
    status, body = answer(ingest.handle(post(json.dumps({**sent, "message": "changed"})), store))
    assert (status, body) == (409, {"errors": [f"id already stored with different content: {sent['id']}"],
                                    "ids": [sent["id"]]})


def test_a_batch_is_200_with_its_ids_in_order_and_what_was_replayed(store):
    first = [entry(f"m{i}", id=f"0b7d0c3e-2b51-4c6e-9d7a-0f3e1b2c4d5{i}", dateTime="2026-02-09T21:50:20Z")
             for i in range(2)]
    status, body = answer(ingest.handle(post(json.dumps(first)), store))
    assert (status, body) == (200, {"message": "Log entries created", "count": 2,
                                    "ids": [item["id"] for item in first], "replayed": []})
    status, body = answer(ingest.handle(post(json.dumps(first[1:] + [entry("new")])), store))
    assert status == 200 and body["count"] == 2 and body["replayed"] == [first[1]["id"]]
    assert body["ids"][0] == first[1]["id"]
    changed = [entry("x"), {**first[0], "message": "changed"}, {**first[1], "message": "changed"}]
    status, body = answer(ingest.handle(post(json.dumps(changed)), store))
    ids = ", ".join(item["id"] for item in first)
    assert (status, body) == (409, {"errors": [f"id already stored with different content: {ids}"],
                                    "ids": [item["id"] for item in first]})


def test_an_invalid_entry_is_400_and_a_too_large_one_413_with_details(store):
    status, body = answer(ingest.handle(post(json.dumps({"severity": "fatal", "message": "x"})), store))
    # (the sentences themselves are entry.py's, pinned in tests/test_entry.py)
    assert status == 400 and body["errors"][0].startswith("severity") and len(body["errors"]) == 1
    assert body["details"] == [{"index": 0, "errors": body["errors"]}]
    status, body = answer(ingest.handle(post(json.dumps(entry("x" * 20_000))), store))
    assert status == 413 and body["details"] == [{"index": 0, "errors": body["errors"]}]


def test_a_batch_names_every_bad_entry_and_is_413_if_any_is_too_large(store):
    batch = [entry("fine"), {"severity": "fatal", "message": "x"}, "not an object"]
    status, body = answer(ingest.handle(post(json.dumps(batch)), store))
    assert status == 400
    assert [detail["index"] for detail in body["details"]] == [1, 2]
    assert body["errors"] == [f"entry {detail['index']}: {problem}"
                              for detail in body["details"] for problem in detail["errors"]]
    assert body["errors"][-1] == "entry 2: an entry must be a JSON object, not a string"
    status, body = answer(ingest.handle(post(json.dumps(batch + [entry("x" * 20_000)])), store))
    assert status == 413 and [detail["index"] for detail in body["details"]] == [1, 2, 3]
    status, body = answer(ingest.handle(post(json.dumps([entry("x" * 20_000), "not an object"])), store))
    assert status == 413  # the too-large entry first, a merely invalid one after it
    assert store.recent(read.parse_query([])[0]).entries == []


def test_the_wire_takes_severities_exactly(store):
    for body in (entry(severity="warn"), [entry(), entry(severity="ERROR")]):
        status, answered = answer(ingest.handle(post(json.dumps(body)), store))
        assert status == 400 and "info, warning, error" in answered["errors"][-1]  # (entry.py's words)


def test_entries_of_a_batch_without_a_time_share_one_instant(store):
    status, body = answer(ingest.handle(post(json.dumps([entry(f"m{i}") for i in range(50)])), store))
    assert status == 200
    assert len({log["dateTime"] for log in answer(read.handle(get(), store))[1]["logs"]}) == 1


def test_batch_sizes_empty_500_and_501(store):
    assert answer(ingest.handle(post("[]"), store)) == (400, {"errors": [
        "the batch is empty: send at least one entry"]})
    status, body = answer(ingest.handle(post(json.dumps([entry(f"m{i}") for i in range(501)])), store))
    assert (status, body) == (413, {"errors": ["the batch has 501 entries; the limit is 500"]})
    status, body = answer(ingest.handle(post(json.dumps([entry(f"m{i}") for i in range(500)])), store))
    assert status == 200 and body["count"] == 500


@pytest.mark.parametrize("content_type", [
    "multipart/form-data; boundary=x", "image/png", "audio/ogg", "video/mp4", "font/woff", "model/gltf+json",
    "application/x-www-form-urlencoded", "application/xml", "text/xml", "text/html", "application/pdf",
    "application/zip", " Application/ZIP ; charset=utf-8",
])
def test_content_types_that_cannot_be_json_are_415(store, content_type):
    status, body = answer(ingest.handle(post(json.dumps(entry()), content_type=content_type), store))
    media = content_type.partition(";")[0].strip().lower()
    assert (status, body) == (415, {"errors": [
        f"content type {media!r} is not accepted: send JSON with Content-Type: application/json"]})


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=UTF-8", 'application/json;charset="utf8"',
    "application/json; charset=us-ascii", "application/json; charset=ASCII", "application/json; charset=",
    "application/json; boundary=utf-16", "text/plain", "", "application/xml-patch+json",
    "application/json;charset=utf-8;format=flowed",
])
def test_content_types_read_as_json(store, content_type):
    assert ingest.handle(post(json.dumps(entry()), content_type=content_type), store)["statusCode"] == 200


@pytest.mark.parametrize("charset", ["utf-16", "latin-1", '"iso-8859-1"', "utf-8x", "UTF-8X", "x=utf-8"])
def test_charsets_other_than_utf8_are_415(store, charset):
    status, body = answer(ingest.handle(post(json.dumps(entry()), content_type=f"application/json; Charset={charset}"), store))
    name = charset.strip('"').lower()
    assert (status, body) == (415, {"errors": [f"charset {name!r} is not accepted: send UTF-8"]})


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(store):
    text = json.dumps(entry())
    exact = text + " " * (MAX_BATCH_BYTES - len(text))
    assert ingest.handle(post(exact), store)["statusCode"] == 200
    status, body = answer(ingest.handle(post(exact + " "), store))
    assert (status, body) == (413, {"errors": [
        f"the request body is {MAX_BATCH_BYTES + 1} bytes; the limit is {MAX_BATCH_BYTES} bytes"]})


@pytest.mark.parametrize(("body", "error"), [
    ("", "the request body is empty: send one entry as a JSON object, or a JSON array of entries"),
    (" \n\t", "the request body is empty: send one entry as a JSON object, or a JSON array of entries"),
    (None, "the request body is empty: send one entry as a JSON object, or a JSON array of entries"),
    ('{"severity": "info"', "the request body is not valid JSON: Expecting ',' delimiter at line 1 column 20"),
    ('{"severity": "info",\n "message": x}', "the request body is not valid JSON: Expecting value at line 2 column 13"),
    ("[" * 100_000 + "]" * 100_000, "the request body is nested too deeply"),
    ('{"severity": "info", "message": NaN}', "the request body is not acceptable JSON: NaN is not JSON"),
    ('{"severity": "info", "message": -Infinity}', "the request body is not acceptable JSON: -Infinity is not JSON"),
    ('{"severity": "info", "message": "a", "message": "b"}', "the request body is ambiguous: "),
])
def test_bodies_that_are_not_json_are_400_saying_why(store, body, error):
    status, answered = answer(ingest.handle(post(body), store))
    assert status == 400
    [sentence] = answered["errors"]
    assert sentence == error if not error.endswith(": ") else sentence.startswith(error) and "'message'" in sentence


def test_a_number_beyond_pythons_digit_limit_is_400_cut_short(store):
    status, body = answer(ingest.handle(post('{"severity": "info", "message": ' + "9" * 5000 + "}"), store))
    [sentence] = body["errors"]
    prefix = "the request body is not acceptable JSON: "
    assert status == 400 and sentence.startswith(prefix + "Exceeds the limit") and len(sentence) == len(prefix) + 120


def test_a_utf8_byte_order_mark_is_allowed(store):
    assert ingest.handle(post("\ufeff" + json.dumps(entry())), store)["statusCode"] == 200


# -- read: parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "errors"), [
    ({"foo": "1"}, [f"unknown query parameter 'foo' ({ALLOWED})"]),
    ({"x" * 50: "1", "b": "2"}, [f"unknown query parameters 'b', '{'x' * 40}' ({ALLOWED})"]),
    ({n: "1" for n in "gfedcba"}, [f"unknown query parameters 'a', 'b', 'c', 'd', 'e' ({ALLOWED})"]),
    ({"limit": "0"}, ["limit must be a whole number from 1 to 1000, not '0'"]),
    ({"limit": "1001"}, ["limit must be a whole number from 1 to 1000, not '1001'"]),
    ({"limit": "-5"}, ["limit must be a whole number from 1 to 1000, not '-5'"]),
    ({"limit": "\u0663"}, ["limit must be a whole number from 1 to 1000, not '\u0663'"]),  # an Arabic-Indic 3
    ({"limit": "9" * 30}, [f"limit must be a whole number from 1 to 1000, not '{'9' * 20}'"]),
    ({"severity": "warn"}, ["severity must be one of info, warning, error, not 'warn'"]),
    ({"severity": "w" * 30}, [f"severity must be one of info, warning, error, not '{'w' * 20}'"]),
    ({"since": "2026-02-09T21:00:00Z", "until": "2026-02-09T21:00:00Z"}, ["since must be earlier than until"]),
    ({"grep": "g" * 1001}, ["grep must be 1 to 1000 characters"]),
    ({"cursor": " "}, ["cursor must not be empty"]),
    ({"cursor": "c" * 16385}, ["cursor is not valid: longer than 16384 characters"]),
    ({"before": "yesterday"}, ["before must be a position from an earlier response's 'before' field"]),
    ({"before": "2026-02-09T21:00:00Z", "cursor": "c"}, ["before continues a read without a cursor; give one or the other"]),
    ({"foo": "1", "limit": "0"}, [f"unknown query parameter 'foo' ({ALLOWED})",
                                  "limit must be a whole number from 1 to 1000, not '0'"]),
    ({"limit": "0", "severity": "bad", "grep": ""}, [
        "limit must be a whole number from 1 to 1000, not '0'", "severity must be one of info, warning, error, not 'bad'",
        "grep must be 1 to 1000 characters"]),
])
def test_bad_query_parameters_are_400_naming_each(store, query, errors):
    assert answer(read.handle(get(query), store)) == (400, {"errors": errors})


def test_time_parameters_report_the_first_problem_and_overflows(store):
    status, body = answer(read.handle(get({"since": "999999999999s", "until": "z" * 80}), store))
    assert status == 400 and body["errors"][0] == "since '999999999999s' reaches too far back"
    assert body["errors"][1].startswith("until ")
    assert len(body["errors"]) == 2
    spaced = "2026-02-30T21:50:20 01:00"  # as sent, and with its space read as a '+': both wrong
    status, body = answer(read.handle(get({"until": spaced}), store))
    assert (status, body) == (400, {"errors": [
        f"until {spaced!r} is neither a relative time (30s, 5m, 2h, 3d) nor ISO 8601 with 'Z' or an offset"]})


def test_an_unencoded_plus_in_an_offset_is_read_as_a_plus_and_one_request_has_one_now(store):
    store.put([normalise({"severity": "info", "message": f"m{h}", "dateTime": f"2026-02-09T2{h}:00:00Z"})
               for h in range(3)])
    status, body = answer(read.handle(get("since=2026-02-09T22:30:00+01:00"), store))  # 21:30Z
    assert status == 200 and [log["message"] for log in body["logs"]] == ["m2"]
    assert answer(read.handle(get({"since": "1h", "until": "1h"}), store)) == (
        400, {"errors": ["since must be earlier than until"]})
    status, body = answer(read.handle(get({"mode": "stats", "since": "soon"}), store))
    assert status == 400 and body["errors"][0].startswith("since 'soon' is neither")

    assert common.restore_offset_plus("2026-02-09T21:50:20 01:00") == "2026-02-09T21:50:20+01:00"
    assert common.restore_offset_plus("2026-02-09T21:50:20 0100") == "2026-02-09T21:50:20+0100"
    assert common.restore_offset_plus("2026-02-09T21:50:20 01") == "2026-02-09T21:50:20+01"
    assert common.restore_offset_plus("2026-02-09 21:50:20") == "2026-02-09 21:50:20"
    assert common.time_parameter({}, "since", None) is None


@pytest.mark.parametrize(("query", "count"), [
    ({}, 100), ({"limit": "1"}, 1), ({"limit": " 7 "}, 7), ({"limit": "1000"}, 150), ({"grep": "g" * 1000}, 0),
    ({"grep": "m14"}, 11), ({"grep": "7"}, 24), ({"severity": "warning"}, 0), ({"severity": "info"}, 100),
    ({"since": "2026-02-09T21:00:00Z", "until": "2026-02-09T21:00:00.001Z"}, 1),
    ({"before": "2026-02-09T21:00:00.002Z", "limit": "1"}, 1),
    ({"since": "3600s", "until": "3599.999999s"}, 0),  # a microsecond apart, from the request's one now
])
def test_good_query_parameters_shape_the_page(store, query, count):
    store.put([normalise({"severity": "info", "message": f"m{i}", "dateTime": f"2026-02-09T21:00:00.{i:03d}Z"})
               for i in range(150)])
    status, body = answer(read.handle(get(query), store))
    assert status == 200 and body["count"] == count == len(body["logs"])
    assert body["truncated"] is False and isinstance(body["cursor"], str)


def test_before_continues_below_a_position(store):
    store.put([normalise({"severity": "info", "message": f"m{i}", "dateTime": f"2026-02-09T21:00:00.{i:03d}Z"})
               for i in range(150)])
    status, body = answer(read.handle(get({"before": "2026-02-09T21:00:00.002Z"}), store))
    assert status == 200 and 0 < body["count"] < 100
    assert all(log["dateTime"] <= "2026-02-09T21:00:00.002000+00:00" for log in body["logs"])


def test_a_cursor_this_store_did_not_issue_is_400(store):
    status, body = answer(read.handle(get({"cursor": "bm90IGEgY3Vyc29y"}), store))
    assert (status, body) == (400, {"errors": [
        "cursor is not valid: cursor 'bm90IGEgY3Vyc29y' was not issued by a local store"]})
    status, body = answer(read.handle(get({"cursor": "c" * 16384}), store))  # long, but not too long to ask
    assert status == 400 and body["errors"][0].startswith("cursor is not valid: cursor 'ccc")


def test_a_mode_parameter_is_answered_by_the_insight_modes(store):
    status, body = answer(read.handle(get({"mode": "nonsense"}), store))
    assert status == 400 and "mode" in body["errors"][0]
    store.put([normalise(entry("counted"))])
    status, body = answer(read.handle(get({"mode": "stats"}), store))
    assert status == 200 and "counted" not in json.dumps(body) and "1" in json.dumps(body)


def test_entries_are_returned_with_their_wire_fields_only():
    stored = {"id": "i", "dateTime": "t", "severity": "info", "message": "m", "source": None, "seq": 7}
    assert common.wire(stored) == {"id": "i", "dateTime": "t", "severity": "info", "message": "m"}
    assert common.wire({**stored, "source": "api"})["source"] == "api"


# -- a store that cannot be used ---------------------------------------------------------------------


def test_a_busy_store_is_503_with_retry_after_and_logged(store, caplog):
    store.put([normalise(entry("before"))])
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with caplog.at_level(logging.DEBUG, logger="logsvc"):
            response = ingest.handle(post(json.dumps(entry())), store)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response["headers"] == {"content-type": "application/json", "retry-after": "1"}
    assert answer(response) == (503, {"errors": ["the log store is busy or unreachable; retry shortly"],
                                      "stored": [], "pending": []})
    [record] = [r for r in caplog.records if r.name.startswith("logsvc")]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage().startswith(f"request failed: store unavailable: the local store {store.path} is busy")
    assert '"routeKey": "$default"' in record.getMessage()  # the event, as JSON


def test_an_unreachable_store_is_503_naming_what_was_stored_and_pending(caplog):
    from dynamo_fixtures import new_client

    from logsvc.store.dynamodb import DynamoDBStore

    unreachable = DynamoDBStore("logs", client=new_client("http://127.0.0.1:9"), shards=1, retry_seconds=0.1)
    batch = [entry(f"m{i}", id=f"5e6f7a8b-2b51-4c6e-9d7a-0f3e1b2c4d5{i}") for i in range(2)]
    response = ingest.handle(post(json.dumps(batch)), unreachable)
    assert response["headers"]["retry-after"] == "1"
    assert answer(response) == (503, {"errors": ["the log store is busy or unreachable; retry shortly"],
                                      "stored": [], "pending": [item["id"] for item in batch]})
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        for query in (None, {"mode": "stats"}):
            response = read.handle(get(query), unreachable)
            assert response["statusCode"] == 503 and response["headers"]["retry-after"] == "1"
    assert len(caplog.records) == 2
    assert all('"rawPath": "/"' in record.getMessage() for record in caplog.records)  # the event is logged


def test_a_missing_table_is_500_without_retry_after_logged_once(moto_endpoint, fresh_handler_state, caplog):
    from dynamo_fixtures import new_client

    from logsvc.store.dynamodb import DynamoDBStore

    missing = DynamoDBStore("no-such-table", client=new_client(moto_endpoint), shards=1, retry_seconds=0.1)
    sent = entry(id="6e6f7a8b-2b51-4c6e-9d7a-0f3e1b2c4d5e")
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        responses = [ingest.handle(post(json.dumps(sent)), missing) for _ in range(2)]
        responses.append(read.handle(get(), missing))
    error = ("the service is misconfigured (ResourceNotFoundException: its table is missing or not accessible);"
             " retrying will not help until its operator fixes it")
    for response, pending in zip(responses, ([sent["id"]], [sent["id"]], [])):
        assert response["headers"] == {"content-type": "application/json"}  # no retry-after
        assert answer(response) == (500, {"errors": [error], "stored": [], "pending": pending})
    records = [r for r in caplog.records if r.name.startswith("logsvc")]
    assert [r.getMessage().split("; event: ")[0] for r in records] == [
        "request failed: store misconfigured: DynamoDB table 'no-such-table' cannot be used: ResourceNotFoundException"]
    assert records[0].exc_info is None and '"routeKey": "$default"' in records[0].getMessage()


@pytest.mark.parametrize(("code", "status", "error"), [
    ("ProvisionedThroughputExceededException", 503, "the log store is busy or unreachable; retry shortly"),
    ("AccessDeniedException", 500, "the service is misconfigured (AccessDeniedException: its table is missing or"
                                    " not accessible); retrying will not help until its operator fixes it"),
])
def test_a_batch_cut_short_names_what_was_stored_and_what_was_not(make_table, moto_endpoint, fresh_handler_state,
                                                                   code, status, error):
    """DynamoDB writes 25 items a call: the first call succeeds, then every call fails."""
    from logsvc.store.dynamodb import DynamoDBStore

    store = DynamoDBStore(make_table(1), client=new_client(moto_endpoint), shards=1, retry_seconds=0.1)
    calls = []

    def fail_after_first(request, **_):
        calls.append(request)
        return throttled(request, code) if len(calls) > 1 else None

    store._client.meta.events.register("before-send.dynamodb.BatchWriteItem", fail_after_first)
    batch = [entry(f"m{i}", id=f"7e6f7a8b-2b51-4c6e-9d7a-0f3e1b2c4{i:03d}") for i in range(30)]
    ids = [item["id"] for item in batch]
    assert answer(ingest.handle(post(json.dumps(batch)), store)) == (
        status, {"errors": [error], "stored": ids[:25], "pending": ids[25:]})


def test_a_shard_count_that_disagrees_with_the_table_is_500_saying_so(make_table, moto_endpoint, fresh_handler_state):
    from dynamo_fixtures import new_client

    from logsvc.store.dynamodb import DynamoDBStore

    wrong = DynamoDBStore(make_table(2), client=new_client(moto_endpoint), shards=3, retry_seconds=0.1)
    status, body = answer(read.handle(get(), wrong))
    assert (status, body) == (500, {"errors": [
        "the service is misconfigured (ShardCountMismatch: INDEX_SHARDS disagrees with the shard count of its table);"
        " retrying will not help until its operator fixes it"], "stored": [], "pending": []})


def test_a_full_disk_is_507_saying_nothing_was_stored(tmp_path, caplog):
    import os
    import subprocess

    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny file system needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        full = SQLiteStore(mountpoint / "logs.db", busy_timeout=0.05)
        try:
            with caplog.at_level(logging.DEBUG, logger="logsvc"):
                for attempt in range(200):
                    batch = [entry("x" * 8000) for _ in range(10)]
                    response = ingest.handle(post(json.dumps(batch)), full)
                    if response["statusCode"] != 200:
                        break
        finally:
            full.close()
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)
    assert response["headers"] == {"content-type": "application/json"}
    assert answer(response) == (507, {"errors": [
        "the server's disk is full: nothing of this request was stored; send it again once its operator has freed space"],
        "stored": [], "pending": []})
    [record] = [r for r in caplog.records if r.name.startswith("logsvc")]
    assert record.getMessage().startswith("request failed: store full: ") and record.exc_info is None
    assert '"routeKey": "$default"' in record.getMessage()


# -- the Lambda boundary: the environment ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "error"), [
    ("TABLE_NAME", None, "service misconfigured: TABLE_NAME is not set"),
    ("TABLE_NAME", "", "service misconfigured: TABLE_NAME is not set"),
    ("TABLE_NAME", "  ", "service misconfigured: TABLE_NAME is not set"),
    ("INDEX_SHARDS", "many", "service misconfigured: INDEX_SHARDS must be a number of at least 1, not 'many'"),
    ("INDEX_SHARDS", "0", "service misconfigured: INDEX_SHARDS must be a number of at least 1, not '0'"),
    ("INDEX_SHARDS", "1.5", "service misconfigured: INDEX_SHARDS must be a number of at least 1, not '1.5'"),
    ("INDEX_SHARDS", "7" * 50, None),  # a valid number, above the maximum: the store says why
    ("RETENTION_DAYS", "-1", "service misconfigured: RETENTION_DAYS must be a number of at least 0, not '-1'"),
    ("SETTLE_SECONDS", "nan", "service misconfigured: SETTLE_SECONDS must be a number of at least 0, not 'nan'"),
    ("SETTLE_SECONDS", "-0.5", "service misconfigured: SETTLE_SECONDS must be a number of at least 0, not '-0.5'"),
    ("SETTLE_SECONDS", "x" * 50, f"service misconfigured: SETTLE_SECONDS must be a number of at least 0, not '{'x' * 40}'"),
])
def test_a_bad_environment_is_500_naming_the_setting_and_logged_once(monkeypatch, fresh_handler_state, caplog,
                                                                     name, value, error):
    monkeypatch.setenv("TABLE_NAME", "logs")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        responses = [read.handler(get(), None), ingest.handler(post(json.dumps(entry())), None)]
    status, body = answer(responses[0])
    assert status == 500 and answer(responses[1]) == (status, body)
    if error is None:
        [error] = body["errors"]
        assert error.startswith("service misconfigured: ") and "shard" in error
    assert body == {"errors": [error]}
    assert [r.getMessage() for r in caplog.records if r.name.startswith("logsvc")] == [error]


def test_the_environment_sets_the_store_built_once(monkeypatch, fresh_handler_state):
    monkeypatch.setenv("TABLE_NAME", " logs ")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("INDEX_SHARDS", "3")
    monkeypatch.setenv("RETENTION_DAYS", "7")
    monkeypatch.setenv("SETTLE_SECONDS", "0")
    store = common.env_store()
    assert common.env_store() is store
    assert store.table_name == "logs"
    assert store._client.meta.region_name == "eu-west-1"
    assert (store._shards, store._retention.days, store._settle.total_seconds()) == (3, 7, 0)
    monkeypatch.delenv("INDEX_SHARDS")
    monkeypatch.delenv("RETENTION_DAYS")
    monkeypatch.delenv("SETTLE_SECONDS")
    common.reset()
    store = common.env_store()
    assert (store._shards, store._retention.days, store._settle.total_seconds()) == (None, 0, 5)


def test_the_lambda_entry_points_serve_the_environments_table(make_table, moto_endpoint, monkeypatch,
                                                                fresh_handler_state):
    from dynamo_fixtures import FAKE_CREDENTIALS

    monkeypatch.setenv("TABLE_NAME", make_table(1))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_CREDENTIALS["aws_secret_access_key"])
    status, body = answer(ingest.handler(post(json.dumps(entry("via lambda"))), None))
    assert status == 200
    status, page = answer(read.handler(get(), None))
    assert status == 200 and [(log["id"], log["message"]) for log in page["logs"]] == [(body["id"], "via lambda")]


def test_an_unexpected_error_is_a_bare_500_logged_with_its_trace(monkeypatch, fresh_handler_state, caplog):
    monkeypatch.setenv("TABLE_NAME", "logs")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    seen = []

    def buggy(event, store):  # a handler with a bug in it, as `run` takes any
        seen.append((event, store))
        raise KeyError("injected bug")

    event = post(json.dumps(entry()))
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        response = common.run(event, buggy)
    assert seen == [(event, common.env_store())]
    assert answer(response) == (500, {"errors": ["internal error; the service logged the details"]})
    assert "injected bug" not in response["body"]
    [record] = [r for r in caplog.records if r.name.startswith("logsvc")]
    assert record.getMessage().startswith('request failed: unhandled error; event: {"body": ')
    assert isinstance(record.exc_info[1], KeyError)


def test_an_error_reads_as_its_sentences():
    assert str(common.HttpError(400, ["one", "two"])) == "one; two"


# -- failure logs -----------------------------------------------------------------------------------------


def test_redact_hides_credentials_everywhere_and_cuts_long_bodies():
    event = recorded("post-headers-cookies-json-body.json")
    event["headers"]["Authorization"] = "AWS4 secret"
    event["headers"]["X-Api-Key"] = "k"
    event["multiValueHeaders"] = {"Cookie": ["a=b"], "Accept": ["*/*"]}
    event["cookies"] = ["a=b"]
    event["requestContext"]["authorizer"] = {"iam": {"accessKey": "AKID", "userId": "x:AKID", "accountId": "1"}, "other": 1}
    event["body"] = "b" * 4097
    original = copy.deepcopy(event)
    safe = common.redact(event)
    assert event == original
    assert safe["headers"]["Authorization"] == safe["headers"]["X-Api-Key"] == "[redacted]"
    assert safe["headers"]["content-type"] == event["headers"]["content-type"]
    assert safe["multiValueHeaders"] == {"Cookie": "[redacted]", "Accept": ["*/*"]}
    assert safe["cookies"] == "[redacted]"
    assert safe["requestContext"]["authorizer"] == {
        "iam": {"accessKey": "[redacted]", "userId": "[redacted]", "accountId": "1"}, "other": 1}
    assert safe["body"] == "b" * 4096 + "... (4097 characters)"
    assert common.redact({**event, "body": "b" * 4096})["body"] == "b" * 4096


def test_redact_leaves_what_holds_no_credential():
    assert common.redact(["not", "an", "event"]) == ["not", "an", "event"]
    event = {"requestContext": {"authorizer": {"iam": {"accessKey": "", "userId": "u"}}}, "headers": "odd"}
    assert common.redact(event)["requestContext"]["authorizer"]["iam"] == {"accessKey": "[redacted]", "userId": "u"}
    assert common.redact(event)["headers"] == "odd"
    assert common.redact({"requestContext": "odd", "body": None}) == {"requestContext": "odd", "body": None}
    assert "cookies" not in common.redact({"headers": {}})


def test_a_failure_log_line_is_the_reason_and_the_event_as_json(caplog):
    with caplog.at_level(logging.DEBUG, logger="logsvc"):
        common.log_failure({"body": "é", "cookies": ["c"], "when": Path("/x")}, "why")
    [record] = caplog.records
    assert record.getMessage() == 'request failed: why; event: {"body": "é", "cookies": "[redacted]", "when": "/x"}'
    assert record.levelno == logging.ERROR and record.name == "logsvc.handler"
