"""The service under hostile clients and broken set-ups (issue 9, items 8-11, 13, 14).

Real parts only: `logsvc serve` as a subprocess or `LocalServer` in a thread on loopback, raw
sockets and httpx as clients, SQLite files, DynamoDB on a moto server.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from dynamo_fixtures import REGION, dynamo_client, make_store, make_table, moto_endpoint, new_client  # noqa: F401
from logsvc.bulk import read_entries
from logsvc.entry import normalise
from logsvc.errors import StoreFull
from logsvc.handler import common, ingest, read
from logsvc.serve import MAX_HEAD_BYTES, LocalServer
from logsvc.sigv4 import Credentials, SigV4Verifier, sign_request
from logsvc.store import ConflictError, Query
from logsvc.store.dynamodb import DynamoDBStore
from logsvc.store.sqlite import SQLiteStore
from tests.conftest import ROOT, run_logsvc


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


def test_send_to_a_misconfigured_service_is_an_error_not_a_spool(make_store, dynamo_client):
    """A 500 "misconfigured" cannot be mended by retrying: the CLI says what the service said,
    exits 4 and spools nothing (a 503 would have been retried, then spooled with exit 5)."""
    store = make_store(1)
    with LocalServer(store) as server:
        dynamo_client.delete_table(TableName=store.table_name)
        env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": server.ingest_url,
               "LOGSVC_READ_URL": server.read_url}
        sent = run_logsvc("send", "into a missing table", env=env)
        status = run_logsvc("status", env=env)
    assert sent.returncode == 4, sent.stderr
    assert b"misconfigured" in sent.stderr and b"spool" not in sent.stderr
    assert b"1 attempt" not in sent.stderr and b"attempts" not in sent.stderr  # not retried
    assert b"spooled: 0 entries" in status.stdout, status.stdout


# -- item 14: duplicate keys, a batch holding an entry twice, the caller's id ------------------------


@pytest.mark.parametrize("body", [
    '{"severity": "info", "message": "harmless", "message": "evil"}',
    '[{"severity": "info", "message": "ok"}, {"severity": "info", "severity": "error", "message": "x"}]',
], ids=["one", "in-a-batch"])
def test_duplicate_json_keys_are_a_400_naming_the_key_and_store_nothing(tmp_path, body):
    store = SQLiteStore(tmp_path / "logs.db")
    try:
        response = ingest.handle(post_event(body), store)
        assert response["statusCode"] == 400
        [error] = json.loads(response["body"])["errors"]
        assert "appears more than once" in error and ("'message'" in error or "'severity'" in error)
        assert store.count() == 0
    finally:
        store.close()


def test_duplicate_json_keys_in_json_lines_input_are_invalid_lines():
    lines = b'{"severity": "info", "message": "fine"}\n{"severity": "info", "message": "a", "message": "b"}\n'
    results = list(read_entries(io.BytesIO(lines)))
    assert isinstance(results[0][2], dict)
    lineno, _, problem = results[1]
    assert lineno == 2 and "'message' appears more than once" in str(problem)


def test_send_file_with_a_duplicate_key_exits_3_naming_the_line(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"severity": "info", "message": "fine"}\n{"severity": "error", "severity": "info", "message": "m"}\n')
    done = run_logsvc("send", "--file", str(source))
    assert done.returncode == 3, done.stderr
    assert b"line 2" in done.stderr and b"'severity' appears more than once" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.fixture(params=["sqlite", "dynamodb"])
def either_store(request, tmp_path):
    if request.param == "dynamodb":
        yield request.getfixturevalue("make_store")(2)
        return
    sqlite = SQLiteStore(tmp_path / "logs.db")
    yield sqlite
    sqlite.close()


def test_the_same_entry_twice_in_a_batch_is_stored_and_reported_once_by_both_stores(either_store):
    store = either_store
    one = normalise(entry("twice", id=str(uuid.uuid4())))
    other = normalise(entry("once", id=str(uuid.uuid4())))
    first = store.put([one, other, dict(one)])
    assert sorted(first.stored) == sorted([one["id"], other["id"]]) and first.replayed == []
    again = store.put([one, dict(one)])
    assert again.stored == [] and again.replayed == [one["id"]]
    changed = {**one, "message": "changed"}
    with pytest.raises(ConflictError) as raised:
        store.put([changed, other, dict(changed), one])
    assert raised.value.ids == [one["id"]]
    assert sorted(e["message"] for e in store.recent(Query()).entries) == ["once", "twice"]


def test_the_service_answers_a_batch_with_an_entry_twice_the_same_on_both_stores(either_store):
    store = either_store
    one = entry("twice", id=str(uuid.uuid4()))
    body = json.loads(ingest.handle(post_event(json.dumps([one, one])), store)["body"])
    assert body["ids"] == [one["id"], one["id"]] and body["replayed"] == []
    conflict = ingest.handle(post_event(json.dumps([one, {**one, "message": "other"}])), store)
    assert conflict["statusCode"] == 409
    assert json.loads(conflict["body"])["ids"] == [one["id"]]


def test_bulk_input_with_a_line_twice_stores_and_reports_it_once(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db")
    try:
        one = normalise(entry("twice", id=str(uuid.uuid4())))
        with store.bulk() as writer:
            writer.write([one, dict(one)])
        assert (writer.stored, writer.replayed) == (1, 0)
        with store.bulk() as writer:
            writer.write([one, dict(one)])
        assert (writer.stored, writer.replayed) == (0, 1)
    finally:
        store.close()


def test_serve_does_not_copy_the_access_key_into_user_id_or_caller_id():
    key = Credentials("AKIDHARDENINGTEST", "hardening-secret")
    events: list[dict] = []

    def record(event, store):
        events.append(event)
        return {"statusCode": 200, "body": "{}"}

    with LocalServer(None, ingest_handle=record, read_handle=record, auth=SigV4Verifier(key)) as server:
        body = json.dumps(entry()).encode()
        headers = sign_request("POST", server.ingest_url, {"content-type": "application/json"}, body, key, "eu-west-1")
        assert httpx.post(server.ingest_url, content=body, headers=headers).status_code == 200
    iam = events[0]["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == key.access_key  # as AWS sends it
    for name in ("userId", "callerId"):
        assert key.access_key not in iam[name]
        assert iam[name].startswith("AIDA") and len(iam[name]) == 21
    safe = json.dumps(common.redact(events[0]))
    assert key.access_key not in safe


def test_redact_hides_the_access_key_wherever_the_iam_block_carries_it():
    event = get_event()
    event["requestContext"]["authorizer"] = {"iam": {"accessKey": "AKIDLEAKY", "userId": "AKIDLEAKY",
                                                     "callerId": "AKIDLEAKY:session", "accountId": "1"}}
    safe = json.dumps(common.redact(event))
    assert "AKIDLEAKY" not in safe and '"accountId": "1"' in safe


# -- item 13: a full disk says so, and loses nothing acknowledged ----------------------------------


def _big_batch(tag: str, count: int = 20, size: int = 4000) -> list[dict]:
    return [normalise(entry(f"{tag} {n} " + "x" * size)) for n in range(count)]


def _fill(store: SQLiteStore) -> tuple[list[str], StoreFull]:
    """Put batches until the store reports the disk full; the ids it acknowledged, and the error."""
    acknowledged: list[str] = []
    for round_ in range(1000):
        try:
            acknowledged += store.put(_big_batch(f"round {round_}")).stored
        except StoreFull as exc:
            return acknowledged, exc
    pytest.fail("the store never filled up")


def _stored_ids(path) -> set[str]:
    reader = SQLiteStore(path)
    try:
        return {e["id"] for e in reader.recent(Query(limit=100_000)).entries}
    finally:
        reader.close()


def test_sqlite_full_max_page_count_is_reported_as_full_and_keeps_what_was_acknowledged(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db")
    try:
        store._connect().execute("PRAGMA max_page_count = 120")  # SQLite's own SQLITE_FULL, on this connection
        acknowledged, error = _fill(store)
        assert acknowledged
        assert "is full" in str(error) and "rollback" not in str(error)
        assert error.exit_code == 4
        with pytest.raises(StoreFull):  # still full, still said plainly (no "cannot rollback")
            with store.bulk() as writer:
                writer.write(_big_batch("bulk"))
        assert _stored_ids(tmp_path / "logs.db") == set(acknowledged)
        store._connect().execute("PRAGMA max_page_count = 1000000")  # space freed: writing works again
        assert len(store.put(_big_batch("after")).stored) == 20
    finally:
        store.close()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped elsewhere): a real disk that fills up."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny file system needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def test_a_real_full_disk_is_reported_as_full_and_keeps_what_was_acknowledged(tiny_disk):
    store = SQLiteStore(tiny_disk / "logs.db")
    try:
        acknowledged, error = _fill(store)
        assert "is full" in str(error) and "rollback" not in str(error)
        assert _stored_ids(tiny_disk / "logs.db") == set(acknowledged)
    finally:
        store.close()


def test_serve_on_a_full_disk_answers_507_and_keeps_what_it_acknowledged(tiny_disk):
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", "serve", "--port", "0", "--store", str(tiny_disk / "logs.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
    try:
        ingest_url = proc.stdout.readline().strip().partition("=")[2]
        acknowledged: list[str] = []
        with httpx.Client(timeout=30) as http:
            for round_ in range(200):
                answer = http.post(ingest_url, json=[entry(f"round {round_} {n} " + "x" * 4000) for n in range(20)])
                if answer.status_code != 200:
                    break
                acknowledged += answer.json()["ids"]
            assert answer.status_code == 507, answer.text
            assert "disk is full" in answer.json()["errors"][0]
            assert "retry-after" not in answer.headers
    finally:
        proc.send_signal(2)
        _, err = proc.communicate(timeout=30)
    assert acknowledged
    assert _stored_ids(tiny_disk / "logs.db") == set(acknowledged)


def test_send_file_on_a_full_disk_exits_4_saying_so(tiny_disk, tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_text("".join(json.dumps(entry(f"line {n} " + "y" * 4000)) + "\n" for n in range(400)))
    done = run_logsvc("send", "--file", str(source), "--store", str(tiny_disk / "logs.db"))
    assert done.returncode == 4, done.stderr
    assert b"is full" in done.stderr
    assert b"rollback" not in done.stderr and b"cannot open" not in done.stderr and b"Traceback" not in done.stderr
    assert _stored_ids(tiny_disk / "logs.db") == set()  # all or nothing


# -- item 9: DNS rebinding and cross-origin pages --------------------------------------------------


def _raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    return int(reply.split(b" ", 2)[1]), reply.partition(b"\r\n\r\n")[2]


@pytest.fixture
def local_server(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db")
    with LocalServer(store) as server:
        server.store = store
        yield server
    store.close()


@pytest.mark.parametrize("host", ["evil.example:{port}", "evil.example", "127.0.0.1.nip.io:{port}",
                                  "localhost.evil.example:{port}", "127.0.0.1:{other}", "127.0.0.1:notaport", "::1"])
def test_a_request_whose_host_is_not_this_server_is_refused(local_server, host):
    host = host.format(port=local_server.port, other=local_server.port + 1)
    body = json.dumps(entry("rebound")).encode()
    for method, path, content in (("POST", "/ingest", body), ("GET", "/read", b"")):
        status, answer = _raw_request(
            local_server.port, f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n".encode(), content)
        assert status == 403, answer
        assert "does not name this server" in json.loads(answer)["errors"][0]
    assert local_server.store.count() == 0


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "app.localhost:{port}",
                                  "[::1]:{port}", "127.0.0.2:{port}"])
def test_the_addresses_of_this_server_are_accepted(local_server, host):
    host = host.format(port=local_server.port)
    status, answer = _raw_request(local_server.port, f"GET /read HTTP/1.1\r\nHost: {host}\r\n".encode())
    assert status == 200, answer


@pytest.mark.parametrize("origin", ["http://evil.example", "https://evil.example", "null", "http://127.0.0.1:{other}",
                                    "https://127.0.0.1:{port}", "http://evil.example:{port}"])
def test_a_cross_origin_write_from_a_web_page_is_refused(local_server, origin):
    origin = origin.format(port=local_server.port, other=local_server.port + 1)
    with httpx.Client(timeout=10) as http:
        answer = http.post(local_server.ingest_url, content=json.dumps(entry("csrf")),
                           headers={"content-type": "text/plain", "origin": origin})
    assert answer.status_code == 403
    assert "cross-origin" in answer.json()["errors"][0]
    assert local_server.store.count() == 0


def test_a_page_of_this_server_s_own_origin_may_write(local_server):
    with httpx.Client(timeout=10) as http:
        for origin in (local_server.url, f"http://localhost:{local_server.port}"):
            answer = http.post(local_server.ingest_url, json=entry("same origin"), headers={"origin": origin})
            assert answer.status_code == 200, answer.text
    assert local_server.store.count() == 2


def test_serve_on_all_interfaces_accepts_ip_addresses_and_its_host_name_but_not_other_names(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db")
    try:
        with LocalServer(store, host="0.0.0.0") as server:
            for host, expected in ((f"192.0.2.7:{server.port}", 200), (f"{socket.gethostname()}:{server.port}", 200),
                                   (f"evil.example:{server.port}", 403)):
                status, _ = _raw_request(server.port, f"GET /read HTTP/1.1\r\nHost: {host}\r\n".encode())
                assert status == expected, host
    finally:
        store.close()


def test_serve_host_option_allows_that_name(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db")
    try:
        with LocalServer(store, host="localhost") as server:
            status, _ = _raw_request(server.port, f"GET /read HTTP/1.1\r\nHost: localhost:{server.port}\r\n".encode())
            assert status == 200
    finally:
        store.close()


# -- item 10: a signature ties the request to this server -------------------------------------------


SIGNING_KEY = Credentials("AKIDHOSTBINDING", "host-binding-secret")


@pytest.fixture
def iam_server(tmp_path):
    store = SQLiteStore(tmp_path / "logs.db")
    with LocalServer(store, auth=SigV4Verifier(SIGNING_KEY)) as server:
        server.store = store
        yield server
    store.close()


@pytest.mark.parametrize("signed_for", ["https://abcdef.lambda-url.eu-west-1.on.aws/ingest", "http://127.0.0.1:{other}/ingest"])
def test_a_request_signed_for_another_host_is_refused(iam_server, signed_for):
    body = json.dumps(entry("replayed from elsewhere")).encode()
    url = signed_for.format(other=iam_server.port + 1)
    headers = sign_request("POST", url, {"content-type": "application/json"}, body, SIGNING_KEY, "eu-west-1")
    with httpx.Client(timeout=10) as http:
        answer = http.post(iam_server.ingest_url, content=body, headers=headers)  # Host as signed
    assert answer.status_code == 403
    assert iam_server.store.count() == 0
    signed_here = sign_request("POST", iam_server.ingest_url, {"content-type": "application/json"}, body,
                               SIGNING_KEY, "eu-west-1")
    with httpx.Client(timeout=10) as http:
        assert http.post(iam_server.ingest_url, content=body, headers=signed_here).status_code == 200


def test_the_verifier_checks_the_signed_host(iam_server):
    body = b"{}"
    headers = sign_request("POST", "https://abcdef.lambda-url.eu-west-1.on.aws/ingest", {}, body, SIGNING_KEY, "eu-west-1")
    verifier = SigV4Verifier(SIGNING_KEY)
    pairs = list(headers.items())
    assert verifier.verify("POST", "/ingest", "", pairs, body).access_key == SIGNING_KEY.access_key  # valid as such
    with pytest.raises(Exception, match="signed for host 'abcdef.lambda-url.eu-west-1.on.aws'"):
        verifier.verify("POST", "/ingest", "", pairs, body, host_ok=iam_server.app.hosts.allows)


# -- item 8: memory stays bounded, whatever clients send ---------------------------------------------


def _push_header_line(port: int, total: int) -> tuple[int, bytes]:
    """Send one header line of `total` bytes; (bytes sent before the server stopped us, its reply)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(b"GET /read HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Filler: " % port)
            piece = b"a" * 16384
            while sent < total:
                connection.sendall(piece)
                sent += len(piece)
            connection.sendall(b"\r\n\r\n")
            reply = connection.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            reply = b""
    return sent, reply


def test_one_endless_header_line_is_cut_off_at_the_head_limit(local_server):
    total = 16 * 1024 * 1024
    sent, reply = _push_header_line(local_server.port, total)
    # Refused once the limit is passed: the connection is gone long before the 16 MiB are sent
    # (what was sent beyond the limit sat in the kernel's socket buffers, not in the server).
    assert sent < total / 2, sent
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431 ")
    with httpx.Client(timeout=10) as http:
        assert http.get(local_server.read_url).status_code == 200  # and it still serves


def test_a_header_just_under_the_limit_still_passes(local_server):
    filler = "a" * (MAX_HEAD_BYTES - 2048)
    with httpx.Client(timeout=10) as http:
        assert http.get(local_server.read_url, headers={"x-filler": filler}).status_code == 200


def test_requests_beyond_the_cap_in_flight_get_503_with_retry_after(tmp_path):
    release = threading.Event()
    entered = threading.Semaphore(0)

    def slow(event, store):
        entered.release()
        release.wait(10)
        return {"statusCode": 200, "body": "{}"}

    with LocalServer(None, ingest_handle=slow, read_handle=slow, max_in_flight=2, handler_threads=4) as server:
        results: list[int] = []
        workers = [threading.Thread(target=lambda: results.append(httpx.get(server.read_url, timeout=10).status_code))
                   for _ in range(2)]
        for worker in workers:
            worker.start()
        assert entered.acquire(timeout=5) and entered.acquire(timeout=5)
        with httpx.Client(timeout=10) as http:
            busy = http.post(server.ingest_url, content=b"[" + b" " * 100_000 + b"]")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert "busy" in busy.json()["errors"][0]
        release.set()
        for worker in workers:
            worker.join(10)
        assert results == [200, 200]
        with httpx.Client(timeout=10) as http:
            assert http.get(server.read_url).status_code == 200  # the cap frees up again


def _serve_process(tmp_path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", "serve", "--port", "0", "--store", str(tmp_path / "logs.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
    url = proc.stdout.readline().strip().partition("=")[2]
    return proc, int(url.rsplit(":", 1)[1].split("/")[0])


def _memory_mib(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak so far) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


# The bound stated in the README: what serve may add to its resident memory under any flood.
MEMORY_BOUND_MIB = 250


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads RSS from /proc")
def test_a_flood_of_large_posts_and_endless_headers_keeps_serve_s_memory_bounded(tmp_path):
    proc, port = _serve_process(tmp_path)
    try:
        time.sleep(0.3)
        baseline = _memory_mib(proc.pid, "VmRSS")
        entries = [entry(f"{n} " + "x" * 2000) for n in range(480)]
        body = json.dumps(entries).encode()
        assert len(body) < 1024 * 1024
        statuses: Counter = Counter()

        def post() -> None:
            try:
                with httpx.Client(timeout=60) as http:
                    answer = http.post(f"http://127.0.0.1:{port}/ingest", content=body,
                                       headers={"content-type": "application/json"})
                statuses[answer.status_code] += 1
                if answer.status_code == 503:
                    assert answer.headers["retry-after"] == "1"
            except httpx.TransportError as exc:
                statuses[type(exc).__name__] += 1

        flood = [threading.Thread(target=post) for _ in range(150)]
        flood += [threading.Thread(target=_push_header_line, args=(port, 4 * 1024 * 1024)) for _ in range(32)]
        for thread in flood:
            thread.start()
        for thread in flood:
            thread.join(120)
        peak = _memory_mib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 1 and statuses[503] >= 1, statuses  # some served, the rest told to retry
    assert peak - baseline < MEMORY_BOUND_MIB - 100, (baseline, peak, statuses)  # well inside the bound
    assert len(_stored_ids(tmp_path / "logs.db")) == statuses[200] * len(entries)  # 503s stored nothing
