"""The local Function URL server: real servers on loopback, real HTTP (httpx and raw sockets).

Handlers are the real ones on a SQLite store, except where a recording handler captures the
event the server built, or a misbehaving one checks how responses are translated.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import httpx
import pytest

from logsvc.entry import MAX_ENTRY_BYTES, serialise
from logsvc.handler import ingest, read
from logsvc.serve import (
    MAX_BODY_BYTES,
    LocalServer,
    build_event,
    http_response,
    is_loopback,
    is_text_content_type,
    start_in_thread,
)
from logsvc.sigv4 import Credentials, SigV4Verifier, canonical_query, sign_request
from logsvc.store import Query
from logsvc.store.sqlite import SQLiteStore
from tests.conftest import EVENTS, ROOT

KEY = Credentials("AKIDLOCALTEST", "local-test-secret-key")
TEMPORARY_KEY = Credentials("ASIALOCALTEST", "temporary-secret-key", "session-token-123")
REGION = "eu-west-1"
IAM_BLOCK_KEYS = {"accessKey", "accountId", "callerId", "cognitoIdentity", "principalOrgId", "userArn", "userId"}


def entry(message: str = "hello", **fields) -> dict:
    return {"severity": "info", "message": message, **fields}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store for the module's shared server."""
    sqlite = SQLiteStore(tmp_path_factory.mktemp("serve") / "logs.db")
    yield sqlite
    sqlite.close()


@pytest.fixture(scope="module")
def server(store):
    """The real handlers on the shared store."""
    with LocalServer(store, ingest_handle=ingest.handle, read_handle=read.handle) as running:
        yield running


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as http:
        yield http


class Recorder:
    """A handler that keeps the events it gets and answers with what the test sets."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.response: object = {"statusCode": 200, "body": "{}"}

    def __call__(self, event: dict, store: object) -> object:
        self.events.append(event)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


@pytest.fixture
def recorder():
    handler = Recorder()
    with LocalServer(None, ingest_handle=handler, read_handle=handler) as running:
        handler.server = running
        yield handler


@pytest.fixture
def iam_recorder():
    handler = Recorder()
    verifier = SigV4Verifier([KEY, TEMPORARY_KEY], account_id="123456789012")
    with LocalServer(None, ingest_handle=handler, read_handle=handler, auth=verifier) as running:
        handler.server = running
        yield handler


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory):
    sqlite = SQLiteStore(tmp_path_factory.mktemp("iam") / "logs.db")
    verifier = SigV4Verifier([KEY, TEMPORARY_KEY])
    with LocalServer(sqlite, ingest_handle=ingest.handle, read_handle=read.handle, auth=verifier) as running:
        running.store = sqlite
        yield running
    sqlite.close()


def shape(value: object) -> object:
    """The keys and value types of a JSON document (lists by their first element)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


# -- request -> event ----------------------------------------------------------------------------


def test_get_event_has_the_shape_of_a_recorded_function_url_event(recorder, client):
    recorded = load_event("get-no-query.json")
    client.get(recorder.server.read_url, headers={"User-Agent": "agent/1.0"})
    (event,) = recorder.events

    ours, theirs = shape(event), shape(recorded)
    # Header names depend on the client; both are flat maps of strings.
    assert set(ours.pop("headers").values()) == set(theirs.pop("headers").values()) == {"str"}
    assert ours == theirs
    assert event["rawPath"] == "/read" and event["rawQueryString"] == ""
    assert event["requestContext"]["http"] == {
        "method": "GET",
        "path": "/read",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "agent/1.0",
    }
    assert event["requestContext"]["accountId"] == "anonymous"
    assert "connection" not in event["headers"]  # hop-by-hop, as in recorded events


def test_signed_post_event_has_the_shape_of_a_recorded_iam_event(iam_recorder, client):
    recorded = load_event("post-headers-cookies-json-body.json")
    url = iam_recorder.server.url + "/ingest/hello?hello=world&foo=bar"
    body = b'{"hello": "world"}'
    headers = sign_request(
        "POST", url, {"content-type": "application/json", "header1": "h1"}, body, KEY, REGION
    )
    sent = [*headers.items(), ("Cookie", "foo=bar; hello=hello"), ("header2", "h1"), ("header2", "h2")]
    response = client.post(url, content=body, headers=sent)
    assert response.status_code == 200, response.text
    (event,) = iam_recorder.events

    ours, theirs = shape(event), shape(recorded)
    assert set(ours.pop("headers").values()) == set(theirs.pop("headers").values()) == {"str"}
    # The recorded iam block is empty (anonymised); ours is filled in as AWS fills it.
    assert set(ours["requestContext"].pop("authorizer")["iam"]) == IAM_BLOCK_KEYS
    assert theirs["requestContext"].pop("authorizer") == {"iam": {}}
    # aws-lambda-go's test data carries an extra "source-ip"; real events do not.
    del theirs["requestContext"]["http"]["source-ip"]
    assert ours == theirs

    assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False
    assert event["cookies"] == ["foo=bar", "hello=hello"]
    assert event["headers"]["header2"] == "h1,h2"
    assert event["headers"]["cookie"] == "foo=bar; hello=hello"
    assert event["queryStringParameters"] == {"hello": "world", "foo": "bar"}
    assert event["rawQueryString"] == "hello=world&foo=bar"
    assert event["rawPath"] == "/ingest/hello"
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == KEY.access_key and iam["accountId"] == "123456789012"
    assert event["requestContext"]["accountId"] == "123456789012"


def test_event_headers_are_lower_case_and_repeats_are_joined_with_commas(recorder, client):
    client.get(recorder.server.read_url, headers=[("X-Mixed-Case", "A"), ("x-mixed-case", "B"), ("X-One", "1")])
    headers = recorder.events[0]["headers"]
    assert headers["x-mixed-case"] == "A,B"
    assert headers["x-one"] == "1"
    assert all(name == name.lower() for name in headers)
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert re.match(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$", headers["x-amzn-trace-id"])


def test_query_parameters_are_decoded_and_repeats_joined_while_raw_query_is_kept(recorder, client):
    raw = "a=1&a=2&b=x+y&c=%C3%BC%2F%26&empty=&flag"
    client.get(f"{recorder.server.read_url}?{raw}")
    event = recorder.events[0]
    assert event["rawQueryString"] == raw
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "c": "ü/&", "empty": "", "flag": ""}


def test_empty_body_and_query_are_absent_not_empty(recorder, client):
    client.post(recorder.server.ingest_url, content=b"", headers={"content-type": "application/json"})
    event = recorder.events[0]
    assert "body" not in event and "queryStringParameters" not in event and "cookies" not in event
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "text/plain", "application/xml",
     "application/javascript", "application/x-www-form-urlencoded", "application/vnd.api+json",
     "application/atom+xml"],
)
def test_text_like_bodies_arrive_as_text(recorder, client, content_type):
    client.post(recorder.server.ingest_url, content="zoë=1".encode(), headers={"content-type": content_type})
    event = recorder.events[0]
    assert event["body"] == "zoë=1" and event["isBase64Encoded"] is False


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "image/png", "multipart/form-data"])
def test_other_bodies_arrive_base64_encoded(recorder, client, content_type):
    payload = bytes(range(256))
    headers = {"content-type": content_type} if content_type else {}
    client.post(recorder.server.ingest_url, content=payload, headers=headers)
    event = recorder.events[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_text_body_that_is_not_utf8_arrives_base64_encoded_byte_for_byte(recorder, client):
    payload = b'{"message": "\xff\xfe"}'
    client.post(recorder.server.ingest_url, content=payload, headers={"content-type": "application/json"})
    event = recorder.events[0]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == payload


def test_each_request_gets_its_own_id_and_current_time(recorder, client):
    before = time.time()
    client.get(recorder.server.read_url)
    client.get(recorder.server.read_url)
    first, second = (event["requestContext"] for event in recorder.events)
    assert first["requestId"] != second["requestId"]
    uuid.UUID(first["requestId"])
    assert before * 1000 - 1 <= first["timeEpoch"] <= time.time() * 1000 + 1
    assert re.match(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$", first["time"])


def test_build_event_matches_what_the_server_sends_for_the_same_request():
    event = build_event(
        method="PUT", raw_path="/read/x", raw_query="q=1", headers=[("host", "localhost:9"), ("cookie", "a=1")],
        body=b"", source_ip="10.0.0.1", now=1659687279.885,
    )
    assert event["requestContext"]["time"] == "05/Aug/2022:08:14:39 +0000"
    assert event["requestContext"]["timeEpoch"] == 1659687279885
    assert event["requestContext"]["domainName"] == "localhost"
    assert event["cookies"] == ["a=1"]


def test_text_like_content_types():
    assert is_text_content_type("Application/JSON; charset=utf-8")
    assert is_text_content_type("application/problem+json")
    assert not is_text_content_type("application/octet-stream")
    assert not is_text_content_type(None)


# -- handler response -> HTTP ----------------------------------------------------------------------


def test_response_headers_cookies_and_base64_body_are_translated(recorder, client):
    recorder.response = {
        "statusCode": 202,
        "headers": {"X-Custom": "yes", "Content-Type": "application/octet-stream", "Content-Length": "999"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": base64.b64encode(b"\x00\x01binary").decode(),
        "isBase64Encoded": True,
    }
    response = client.post(recorder.server.ingest_url, json={})
    assert response.status_code == 202
    assert response.content == b"\x00\x01binary"
    assert response.headers["x-custom"] == "yes"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == "8"  # the server's, not the handler's
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]


def test_a_result_without_status_code_is_a_json_200(recorder, client):
    recorder.response = {"hello": ["world"]}
    response = client.get(recorder.server.read_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": ["world"]}


@pytest.mark.parametrize(
    "result",
    [
        RuntimeError("boom"),
        {"statusCode": "200", "body": ""},
        {"statusCode": 99, "body": ""},
        {"statusCode": 200, "headers": {"x-bad": "a\r\nInjected: yes"}},
        {"statusCode": 200, "headers": {"bad name": "x"}},
        {"statusCode": 200, "body": b"bytes"},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 200, "cookies": "a=1"},
        {1, 2},
    ],
    ids=["raises", "status-string", "status-99", "header-crlf", "header-name", "body-bytes", "bad-base64",
         "cookies-string", "not-json"],
)
def test_a_failing_or_malformed_handler_is_a_502_and_the_server_keeps_serving(recorder, client, result):
    recorder.response = result
    response = client.get(recorder.server.read_url)
    assert response.status_code == 502
    assert response.json()["errors"]
    assert "Injected" not in response.headers
    recorder.response = {"statusCode": 200, "body": '{"ok": true}'}
    assert client.get(recorder.server.read_url).json() == {"ok": True}


def test_http_response_defaults_content_type_to_json():
    status, headers, body = http_response({"statusCode": 204})
    assert (status, body) == (204, b"")
    assert (b"content-type", b"application/json") in headers


# -- routing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [("/ingest", "ingest"), ("/ingest/", "ingest"), ("/ingest/a/b", "ingest"), ("/read", "read"),
     ("/read/x", "read")],
)
def test_routes_and_their_subpaths_reach_their_handler(path, route, client):
    def handler_for(name):
        return lambda event, store: {"statusCode": 200, "body": json.dumps({"route": name, "path": event["rawPath"]})}

    with LocalServer(None, ingest_handle=handler_for("ingest"), read_handle=handler_for("read")) as running:
        response = client.get(running.url + path)
    assert response.json() == {"route": route, "path": path}


@pytest.mark.parametrize("path", ["/", "/ingestx", "/reader", "/logs", "/INGEST", "/ingest/../admin"])
def test_other_paths_are_404_with_errors(recorder, client, path):
    response = client.request("GET", recorder.server.url + path)
    assert response.status_code == 404
    assert response.json() == {"errors": ["no such path; use /ingest or /read"]}
    assert recorder.events == []


# -- the real handlers ---------------------------------------------------------------------------


def test_post_one_entry_then_read_it_back(server, client):
    response = client.post(server.ingest_url, json=entry("round trip", source="test"))
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["message"] == "Log entry created"
    logs = client.get(server.read_url, params={"limit": "1000"}).json()["logs"]
    stored = [log for log in logs if log["id"] == created["id"]]
    assert stored == [
        {"id": created["id"], "dateTime": created["dateTime"], "severity": "info", "message": "round trip",
         "source": "test"}
    ]


def test_empty_object_is_400_naming_the_missing_fields(server, client, store):
    before = store.count()
    response = client.post(server.ingest_url, json={})
    assert response.status_code == 400
    errors = " ".join(response.json()["errors"])
    assert "severity" in errors and "message" in errors
    assert store.count() == before


def test_concurrent_clients_store_every_entry_exactly_once(server, store):
    ids = [[str(uuid.uuid4()) for _ in range(50)] for _ in range(16)]
    failures: list[str] = []

    def post_all(mine: list[str]) -> None:
        with httpx.Client(timeout=30) as http:
            for entry_id in mine:
                response = http.post(server.ingest_url, json=entry(f"concurrent {entry_id}", id=entry_id))
                if response.status_code != 200 or response.json()["id"] != entry_id:
                    failures.append(f"{response.status_code} {response.text}")

    threads = [threading.Thread(target=post_all, args=(mine,)) for mine in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    sent = {entry_id for mine in ids for entry_id in mine}
    stored = Counter(item["id"] for item in store.recent(Query(limit=100_000)).entries if item["id"] in sent)
    assert set(stored) == sent
    assert set(stored.values()) == {1}


# -- slow, stalled and oversized clients ---------------------------------------------------------


@pytest.fixture
def quick_timeouts_server(tmp_path):
    sqlite = SQLiteStore(tmp_path / "logs.db")
    with LocalServer(
        sqlite, ingest_handle=ingest.handle, read_handle=read.handle, body_timeout=1.0, head_timeout=1.0
    ) as running:
        running.store = sqlite
        yield running
    sqlite.close()


def raw_connection(server: LocalServer) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return connection


def read_response(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_stalled_clients_do_not_block_others(quick_timeouts_server, client):
    url = quick_timeouts_server.ingest_url
    stalled_head = raw_connection(quick_timeouts_server)
    stalled_head.sendall(b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Ty" % quick_timeouts_server.port)
    stalled_body = raw_connection(quick_timeouts_server)
    stalled_body.sendall(
        b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sev"
        % quick_timeouts_server.port
    )
    silent = raw_connection(quick_timeouts_server)

    started = time.monotonic()
    for index in range(20):
        response = client.post(url, json=entry(f"while others stall {index}"))
        assert response.status_code == 200
    assert time.monotonic() - started < 2.0

    # And the stalled ones are let go: 408 for the half body, closed for the half head and silence.
    assert read_response(stalled_body).startswith(b"HTTP/1.1 408 ")
    assert read_response(stalled_head) == b""
    assert read_response(silent) == b""
    assert quick_timeouts_server.store.count() == 20
    for connection in (stalled_head, stalled_body, silent):
        connection.close()


def test_an_oversized_request_head_is_refused_and_closed(server):
    connection = raw_connection(server)
    connection.sendall(b"GET /read HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 100_000 + b"\r\n\r\n")
    reply = read_response(connection)
    connection.close()
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_a_slow_handler_does_not_block_other_requests(client):
    entered, release, slow_returned = threading.Event(), threading.Event(), threading.Event()

    def slow(event, store):
        entered.set()
        release.wait(10)
        slow_returned.set()
        return {"statusCode": 200, "body": "{}"}

    def fast(event, store):
        return {"statusCode": 200, "body": '{"fast": true}'}

    with LocalServer(None, ingest_handle=slow, read_handle=fast, handler_threads=2) as running:
        blocked = threading.Thread(target=lambda: httpx.post(running.ingest_url, json={}, timeout=15))
        blocked.start()
        assert entered.wait(10), "the slow request never reached its handler"
        assert client.get(running.read_url).json() == {"fast": True}
        # Served while the slow handler was still waiting: an ordering, not a timing.
        assert not slow_returned.is_set()
        release.set()
        blocked.join(15)


def test_declared_oversized_body_gets_413_before_it_is_sent(server):
    connection = raw_connection(server)
    connection.sendall(
        b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n[{\"severity\"" % server.port
    )
    started = time.monotonic()
    reply = read_response(connection)
    assert time.monotonic() - started < 1.0
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in reply.lower()
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["errors"]
    connection.close()


def test_chunked_body_over_the_limit_gets_413_while_streaming(server, store):
    import select

    before = store.count()
    connection = raw_connection(server)
    connection.sendall(
        b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" % server.port
    )
    piece = b" " * 65536
    within = MAX_BODY_BYTES // len(piece)  # this many pieces stay within the limit, one more passes it
    for _ in range(within):
        connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    assert not select.select([connection], [], [], 0)[0], "answered before the body passed the limit"
    try:
        connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered and closed part-way through this piece: the reply is already here
    # The stream is left open (no last chunk): the answer must come because the count passed the
    # limit, not because the body ended. The deadline only bounds a failure.
    connection.settimeout(30)
    reply = b""
    try:
        while chunk := connection.recv(65536):
            reply += chunk
    except ConnectionResetError:
        pass  # closed with our unread bytes still queued: a reset after the reply, which came first
    connection.close()
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["errors"]
    assert store.count() == before


def test_body_at_the_server_limit_reaches_the_handler(recorder, client):
    payload = b"x" * MAX_BODY_BYTES
    response = client.post(recorder.server.ingest_url, content=payload, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert len(recorder.events[0]["body"]) == MAX_BODY_BYTES


def test_stop_returns_promptly_with_a_stalled_client():
    running = start_in_thread(None, ingest_handle=Recorder(), read_handle=Recorder())
    connection = raw_connection(running)
    connection.sendall(b"POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 10\r\n\r\nab" % running.port)
    time.sleep(0.1)
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 2.0
    assert not running.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()
    connection.close()


def test_stop_lets_a_request_in_the_handler_finish():
    entered = threading.Event()

    def slow(event, store):
        entered.set()
        time.sleep(0.5)
        return {"statusCode": 200, "body": '{"finished": true}'}

    running = start_in_thread(None, ingest_handle=slow, read_handle=slow)
    results: list[httpx.Response] = []
    request = threading.Thread(target=lambda: results.append(httpx.get(running.read_url, timeout=10)))
    request.start()
    assert entered.wait(5)
    running.stop()
    request.join(10)
    assert [response.json() for response in results] == [{"finished": True}]


# -- server set-up -------------------------------------------------------------------------------


RUN_SCRIPT = """
import sys
from logsvc.serve import run
from logsvc.store.sqlite import SQLiteStore

store = SQLiteStore(sys.argv[1])
stopped_by = run(store, on_ready=lambda ingest, read: print(f"{ingest} {read}", flush=True))
print(f"stopped by {stopped_by} with {store.count()} stored", flush=True)
"""


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_serves_until_a_signal_then_returns_cleanly_and_silently(tmp_path, stop_signal):
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, str(tmp_path / "logs.db")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ingest_url, read_url = process.stdout.readline().split()
        assert re.match(r"^http://127\.0\.0\.1:\d+/ingest$", ingest_url)
        assert httpx.post(ingest_url, json=entry("via run")).status_code == 200
        assert httpx.get(read_url).json()["count"] == 1
        # A request uvicorn itself rejects would normally log a warning: it must not.
        port = int(ingest_url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as bad:
            bad.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert read_response(bad).startswith(b"HTTP/1.1 400 ")
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0
    assert out == f"stopped by {int(stop_signal)} with 1 stored\n"
    assert err == ""


def test_port_zero_reports_the_real_port_and_urls(recorder):
    running = recorder.server
    assert running.port > 0
    assert running.ingest_url == f"http://127.0.0.1:{running.port}/ingest"
    assert running.read_url == f"http://127.0.0.1:{running.port}/read"


def test_a_taken_port_raises_oserror(recorder):
    with pytest.raises(OSError):
        LocalServer(None, ingest_handle=Recorder(), read_handle=Recorder(), port=recorder.server.port).start()


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("LOCALHOST", True), ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False),
     ("192.168.1.10", False), ("example.com", False), ("", False)],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


# -- AuthType AWS_IAM ----------------------------------------------------------------------------


def test_signed_requests_pass_and_are_stored(iam_server, client):
    before = iam_server.store.count()
    body = json.dumps(entry("signed")).encode()
    headers = sign_request("POST", iam_server.ingest_url, {"content-type": "application/json"}, body, KEY, REGION)
    response = client.post(iam_server.ingest_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert iam_server.store.count() == before + 1


@pytest.mark.parametrize(
    "params",
    [
        {"grep": "two words"},
        {"grep": "zoë ünïcödé ✓"},
        {"grep": "reserved /?#[]@!$&'()*+,;= chars"},
        {"grep": "100% sure", "limit": "5"},
        {"grep": "a+b=c&d"},
    ],
    ids=["spaces", "unicode", "reserved", "percent", "plus-equals-amp"],
)
@pytest.mark.parametrize("encoding", ["rfc3986", "form"])
def test_signed_query_strings_pass_however_they_are_encoded(iam_server, client, params, encoding):
    # The signer and the server canonicalise the same way, whatever encoding went on the wire.
    quote_via = quote if encoding == "rfc3986" else None
    query = urlencode(params, quote_via=quote_via) if quote_via else urlencode(params)
    url = f"{iam_server.read_url}?{query}"
    headers = sign_request("GET", url, {}, b"", KEY, REGION)
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text


def test_botocore_signed_requests_pass(iam_server, client):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    # Query already in canonical form: botocore signs the URL's query as it stands.
    url = iam_server.read_url + "?grep=" + quote("space and ü/", safe="") + "&limit=3"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(KEY, "lambda", "us-east-1").add_auth(request)
    response = client.get(url, headers=dict(request.headers.items()))
    assert response.status_code == 200, response.text

    # Query from params: botocore signs %20 for a space but sends '+'.
    request = AWSRequest(method="GET", url=iam_server.read_url, params={"grep": "a b+c", "limit": "2"})
    SigV4Auth(KEY, "lambda", "ap-southeast-2").add_auth(request)
    prepared = request.prepare()
    response = client.get(prepared.url, headers=dict(prepared.headers.items()))
    assert response.status_code == 200, response.text

    body = json.dumps(entry("botocore signed")).encode()
    request = AWSRequest(method="POST", url=iam_server.ingest_url, data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(TEMPORARY_KEY, "lambda", "eu-central-1").add_auth(request)
    response = client.post(iam_server.ingest_url, content=body, headers=dict(request.headers.items()))
    assert response.status_code == 200, response.text


def _signed_post(server, *, credentials=KEY, body=None, now=None, extra=None):
    body = body if body is not None else json.dumps(entry("maybe")).encode()
    headers = sign_request(
        "POST", server.ingest_url + "?x=1", {"content-type": "application/json", **(extra or {})}, body,
        credentials, REGION, now=now,
    )
    return body, headers


def _tamper_body(server):
    body, headers = _signed_post(server)
    return server.ingest_url + "?x=1", body.replace(b"maybe", b"MAYBE"), headers


def _tamper_query(server):
    body, headers = _signed_post(server)
    return server.ingest_url + "?x=2", body, headers


def _tamper_path(server):
    body, headers = _signed_post(server)
    return server.ingest_url + "/other?x=1", body, headers


def _tamper_header(server):
    body, headers = _signed_post(server)
    return server.ingest_url + "?x=1", body, {**headers, "content-type": "application/json; charset=utf-8"}


def _unsigned(server):
    return server.ingest_url, json.dumps(entry("unsigned")).encode(), {"content-type": "application/json"}


def _wrong_secret(server):
    body, headers = _signed_post(server, credentials=Credentials(KEY.access_key, "not-the-secret"))
    return server.ingest_url + "?x=1", body, headers


def _unknown_key(server):
    body, headers = _signed_post(server, credentials=Credentials("AKIDUNKNOWN", KEY.secret_key))
    return server.ingest_url + "?x=1", body, headers


def _expired(server):
    body, headers = _signed_post(server, now=time.time() - 6 * 60)
    return server.ingest_url + "?x=1", body, headers


def _future(server):
    body, headers = _signed_post(server, now=time.time() + 6 * 60)
    return server.ingest_url + "?x=1", body, headers


def _missing_token(server):
    body, headers = _signed_post(server, credentials=TEMPORARY_KEY._replace(token=None))
    return server.ingest_url + "?x=1", body, headers


def _wrong_token(server):
    body, headers = _signed_post(server, credentials=TEMPORARY_KEY._replace(token="another-token"))
    return server.ingest_url + "?x=1", body, headers


def _token_on_permanent_key(server):
    body, headers = _signed_post(server, credentials=KEY._replace(token="stray-token"))
    return server.ingest_url + "?x=1", body, headers


def _other_service(server):
    body, headers = _signed_post(server)
    headers["authorization"] = headers["authorization"].replace("/lambda/", "/execute-api/")
    return server.ingest_url + "?x=1", body, headers


def _wrong_content_sha(server):
    body, headers = _signed_post(server, extra={"x-amz-content-sha256": "0" * 64})
    return server.ingest_url + "?x=1", body, headers


def _garbled_authorization(server):
    body, headers = _signed_post(server)
    headers["authorization"] = "AWS4-HMAC-SHA256 garbage"
    return server.ingest_url + "?x=1", body, headers


@pytest.mark.parametrize(
    "make",
    [_unsigned, _tamper_body, _tamper_query, _tamper_path, _tamper_header, _wrong_secret, _unknown_key,
     _expired, _future, _missing_token, _wrong_token, _token_on_permanent_key, _other_service,
     _wrong_content_sha, _garbled_authorization],
    ids=lambda make: make.__name__.strip("_"),
)
def test_requests_not_validly_signed_get_403_and_store_nothing(iam_server, client, make):
    before = iam_server.store.count()
    url, body, headers = make(iam_server)
    response = client.post(url, content=body, headers=headers)
    assert response.status_code == 403
    payload = response.json()
    assert payload["message"] == "Forbidden" and payload["errors"]
    assert iam_server.store.count() == before


def test_signed_content_sha256_and_session_token_pass(iam_server, client):
    import hashlib

    before = iam_server.store.count()
    body = json.dumps(entry("with sha")).encode()
    headers = sign_request(
        "POST", iam_server.ingest_url, {"content-type": "application/json",
                                        "x-amz-content-sha256": hashlib.sha256(body).hexdigest()},
        body, TEMPORARY_KEY, REGION,
    )
    assert headers["x-amz-security-token"] == TEMPORARY_KEY.token
    response = client.post(iam_server.ingest_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert iam_server.store.count() == before + 1


def test_auth_iam_checks_against_the_credentials_botocore_finds(monkeypatch, client):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-environment")
    recorder = Recorder()
    with LocalServer(None, ingest_handle=recorder, read_handle=recorder, auth="iam") as running:
        environment_key = Credentials("AKIDFROMENVIRONMENT", "secret-from-environment")
        assert client.get(running.read_url, headers=sign_request("GET", running.read_url, {}, b"", environment_key,
                                                                  REGION)).status_code == 200
        assert client.get(running.read_url, headers=sign_request("GET", running.read_url, {}, b"", KEY,
                                                                  REGION)).status_code == 403
    assert len(recorder.events) == 1


def test_sign_request_signs_x_amz_date_even_when_given_a_date_header(iam_server, client):
    headers = sign_request("GET", iam_server.read_url, {"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}, b"", KEY, REGION)
    assert "date" not in headers and "x-amz-date" in headers
    assert "x-amz-date" in headers["authorization"]
    assert client.get(iam_server.read_url, headers=headers).status_code == 200


def test_canonical_query_sorts_and_reencodes():
    assert canonical_query("b=2&a=x+y&a=%7e&c") == "a=x%20y&a=~&b=2&c="
    assert canonical_query("k=%ff") == "k=%FF"


# -- hostile input -------------------------------------------------------------------------------


def _entry_of_size(size: int) -> bytes:
    """An entry whose normalised, serialised form is exactly `size` bytes."""
    fixed = {"id": "0b9c4e6e-2f7a-4c1e-9d55-6f3e2a1b0c9d", "dateTime": "2026-01-01T00:00:00.000000+00:00",
             "severity": "info", "message": ""}
    overhead = len(serialise(fixed).encode())
    return json.dumps({**fixed, "message": "m" * (size - overhead)}).encode()


NOW = datetime.now(timezone.utc)
JSON = {"content-type": "application/json"}
HOSTILE: list[tuple[str, str, str, bytes | None, dict]] = [
    # malformed and truncated JSON
    ("open-brace", "POST", "/ingest", b"{", JSON),
    ("truncated-object", "POST", "/ingest", b'{"severity": "info", "message": "x"', JSON),
    ("missing-value", "POST", "/ingest", b'{"severity": "info", "message": }', JSON),
    ("truncated-array", "POST", "/ingest", b'[{"severity":"info","message":"a"},', JSON),
    ("bare-word", "POST", "/ingest", b"nul", JSON),
    ("single-quotes", "POST", "/ingest", b"{'severity': 'info', 'message': 'x'}", JSON),
    ("trailing-garbage", "POST", "/ingest", b'{"severity":"info","message":"x"} trailing', JSON),
    ("two-objects", "POST", "/ingest", b'{"severity":"info","message":"x"}{"severity":"info","message":"y"}', JSON),
    ("nan", "POST", "/ingest", b"NaN", JSON),
    ("nan-message", "POST", "/ingest", b'{"severity":"info","message":NaN}', JSON),
    ("infinity-time", "POST", "/ingest", b'{"severity":"info","message":"x","dateTime":Infinity}', JSON),
    ("trailing-comma", "POST", "/ingest", b'{"severity":"info","message":"x",}', JSON),
    # wrong types and nulls
    ("string-document", "POST", "/ingest", b'"just a string"', JSON),
    ("number-document", "POST", "/ingest", b"42", JSON),
    ("true-document", "POST", "/ingest", b"true", JSON),
    ("null-document", "POST", "/ingest", b"null", JSON),
    ("severity-number", "POST", "/ingest", b'{"severity": 1, "message": "x"}', JSON),
    ("message-number", "POST", "/ingest", b'{"severity": "info", "message": 5}', JSON),
    ("message-array", "POST", "/ingest", b'{"severity": "info", "message": ["x"]}', JSON),
    ("message-object", "POST", "/ingest", b'{"severity": "info", "message": {"a": 1}}', JSON),
    ("severity-null", "POST", "/ingest", b'{"severity": null, "message": "x"}', JSON),
    ("message-null", "POST", "/ingest", b'{"severity": "info", "message": null}', JSON),
    ("source-number", "POST", "/ingest", b'{"severity": "info", "message": "x", "source": 7}', JSON),
    ("id-number", "POST", "/ingest", b'{"severity": "info", "message": "x", "id": 12345}', JSON),
    ("time-number", "POST", "/ingest", b'{"severity": "info", "message": "x", "dateTime": 1700000000}', JSON),
    ("severity-unknown", "POST", "/ingest", b'{"severity": "FATAL", "message": "x"}', JSON),
    ("severity-alias", "POST", "/ingest", b'{"severity": "warn", "message": "x"}', JSON),
    ("message-blank", "POST", "/ingest", b'{"severity": "info", "message": "   "}', JSON),
    ("message-empty", "POST", "/ingest", b'{"severity": "info", "message": ""}', JSON),
    ("empty-object", "POST", "/ingest", b"{}", JSON),
    ("missing-severity", "POST", "/ingest", b'{"message": "x"}', JSON),
    ("unknown-field", "POST", "/ingest", b'{"severity": "info", "message": "x", "extra": 1}', JSON),
    # huge numbers and deep nesting
    ("float-overflow", "POST", "/ingest", b'{"severity": "info", "message": 1e400}', JSON),
    ("float-overflow-time", "POST", "/ingest", b'{"severity": "info", "message": "x", "dateTime": 1e400}', JSON),
    ("int-5000-digits", "POST", "/ingest",
     b'{"severity": "info", "message": "x", "id": ' + b"9" * 5000 + b"}", JSON),
    ("deep-arrays", "POST", "/ingest", b"[" * 100_000 + b"]" * 100_000, JSON),
    ("deep-objects", "POST", "/ingest", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON),
    # arrays of junk
    ("array-of-numbers", "POST", "/ingest", b"[1, 2, 3]", JSON),
    ("array-of-null", "POST", "/ingest", b"[null]", JSON),
    ("empty-array", "POST", "/ingest", b"[]", JSON),
    ("one-bad-in-batch", "POST", "/ingest",
     b'[{"severity":"info","message":"valid"},{"severity":"bad","message":"x"}]', JSON),
    ("nested-batch", "POST", "/ingest", b'[[{"severity":"info","message":"x"}]]', JSON),
    ("batch-of-501", "POST", "/ingest", json.dumps([entry(f"n{i}") for i in range(501)]).encode(), JSON),
    # sizes
    ("entry-10KiB-plus-1", "POST", "/ingest", _entry_of_size(MAX_ENTRY_BYTES + 1), JSON),
    ("body-just-over-1MiB", "POST", "/ingest", b'["' + b"x" * (1024 * 1024) + b'"]', JSON),
    ("body-over-server-limit", "POST", "/ingest", b" " * (2 * 1024 * 1024), JSON),
    # control characters, bad encodings
    ("nul-in-key", "POST", "/ingest", b'{"sev\\u0000erity": "info", "message": "x"}', JSON),
    ("newline-in-key", "POST", "/ingest", b'{"severity\\n": "info", "message": "x"}', JSON),
    ("raw-control-char", "POST", "/ingest", b'{"severity": "info", "message": "a\x01b"}', JSON),
    ("not-utf8", "POST", "/ingest", b'{"severity": "info", "message": "\xff\xfe"}', JSON),
    ("latin1-charset", "POST", "/ingest", '{"severity": "info", "message": "é"}'.encode("latin-1"),
     {"content-type": "application/json; charset=iso-8859-1"}),
    ("lone-surrogate", "POST", "/ingest", b'{"severity": "info", "message": "\\ud800"}', JSON),
    ("utf16-body", "POST", "/ingest", '{"severity": "info", "message": "x"}'.encode("utf-16"), JSON),
    # ids and times
    ("uuid-garbage", "POST", "/ingest", b'{"severity": "info", "message": "x", "id": "not-a-uuid"}', JSON),
    ("uuid-bad-hex", "POST", "/ingest",
     b'{"severity": "info", "message": "x", "id": "12345678-1234-1234-1234-1234567890zz"}', JSON),
    ("uuid-empty", "POST", "/ingest", b'{"severity": "info", "message": "x", "id": ""}', JSON),
    ("time-naive", "POST", "/ingest", b'{"severity": "info", "message": "x", "dateTime": "2026-02-09T21:50:20"}', JSON),
    ("time-future", "POST", "/ingest",
     json.dumps(entry("x", dateTime=(NOW + timedelta(days=1)).isoformat())).encode(), JSON),
    ("time-words", "POST", "/ingest", b'{"severity": "info", "message": "x", "dateTime": "yesterday"}', JSON),
    ("time-impossible", "POST", "/ingest",
     b'{"severity": "info", "message": "x", "dateTime": "2026-13-45T99:99:99Z"}', JSON),
    # wrong methods
    *[(f"{method.lower()}-{route.strip('/')}", method, route, json.dumps(entry("x")).encode(), JSON)
      for route in ("/ingest", "/read") for method in ("PUT", "DELETE", "PATCH")],
    ("get-ingest", "GET", "/ingest", None, {}),
    ("post-read", "POST", "/read", json.dumps(entry("x")).encode(), JSON),
    # bad query parameters on /read
    *[(f"read-{query}", "GET", f"/read?{query}", None, {})
      for query in ("limit=0", "limit=abc", "limit=1001", "limit=-1", "limit=1&limit=2", "severity=fatal",
                    "since=yesterday", "since=2026-01-01T00:00:00", "until=soon", "cursor=garbage",
                    "cursor=", "unknown=1")],
    # empty and missing bodies
    ("empty-body", "POST", "/ingest", b"", JSON),
    ("no-body-no-type", "POST", "/ingest", None, {}),
    ("whitespace-body", "POST", "/ingest", b"  \n\t ", JSON),
    # wrong content types
    ("form-urlencoded", "POST", "/ingest", b"severity=info&message=x",
     {"content-type": "application/x-www-form-urlencoded"}),
    ("multipart", "POST", "/ingest", b"--b\r\n\r\n{}\r\n--b--", {"content-type": "multipart/form-data; boundary=b"}),
    ("text-html", "POST", "/ingest", json.dumps(entry("x")).encode(), {"content-type": "text/html"}),
    ("image-png", "POST", "/ingest", json.dumps(entry("x")).encode(), {"content-type": "image/png"}),
    ("utf16-charset", "POST", "/ingest", json.dumps(entry("x")).encode(),
     {"content-type": "application/json; charset=utf-16"}),
    # no such route
    ("unknown-path", "POST", "/ingestx", json.dumps(entry("x")).encode(), JSON),
]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    sqlite = SQLiteStore(tmp_path_factory.mktemp("hostile") / "logs.db")
    with LocalServer(sqlite, ingest_handle=ingest.handle, read_handle=read.handle) as running:
        running.store = sqlite
        yield running
    sqlite.close()


def test_the_hostile_set_is_big_enough():
    assert len(HOSTILE) >= 60
    assert len({case[0] for case in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(("method", "target", "body", "headers"), [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_request_is_rejected_and_stores_nothing(hostile_server, client, method, target, body, headers):
    before = hostile_server.store.count()
    response = client.request(method, hostile_server.url + target, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert isinstance(errors, list) and errors and all(isinstance(error, str) and error for error in errors)
    assert hostile_server.store.count() == before


def test_the_server_still_serves_after_the_hostile_set(hostile_server, client):
    before = hostile_server.store.count()
    response = client.post(hostile_server.ingest_url, json=entry("after the storm"))
    assert response.status_code == 200
    assert hostile_server.store.count() == before + 1
    logs = client.get(hostile_server.read_url).json()["logs"]
    assert [log["message"] for log in logs] == ["after the storm"]
