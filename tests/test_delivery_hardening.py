"""Delivery and the spool lose nothing (issue 9, items 1-3): batches the service takes whatever the
entries' size, spool writes that are complete or loudly refused, torn spool lines set aside, and
URLs that are wrong said so at once instead of spooled forever.

Real parts throughout: a `LocalServer` running the real handlers over SQLite on loopback, spool
files on disk. The one seam is the spool's low-level writer (our own `os.write` parameter), to
simulate the short and failing writes of a nearly full disk.
"""

from __future__ import annotations

import errno
import json
import threading
import uuid

import pytest

from logsvc.client import FunctionUrlStore
from logsvc.delivery import FlushReport, flush, put
from logsvc.entry import MAX_BATCH_ENTRIES, normalise
from logsvc.errors import ExitCode
from logsvc.handler import common, ingest
from logsvc.spool import Spool
from logsvc.store import StoreUnavailable
from tests.targets_fixtures import (
    UrlBackend,
    assert_exactly_once,
    cli,
    free_port,
    jsonl,
    spooled_count,
    Target,
)

KIB = 1024
MIB = 1024 * KIB  # the service's limit on one ingest request body (entry.MAX_BATCH_BYTES)


class RecordingIngest:
    """The real ingest handler, recording the size of every request body it was given."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, event, store):
        with self._lock:
            self.sizes.append(len(common.parse_event(event).body or b""))
        return ingest.handle(event, store)


@pytest.fixture
def server(tmp_path):
    """A LocalServer over SQLite with a recording ingest handler; `.recorder` holds the body sizes."""
    recorder = RecordingIngest()
    backend = UrlBackend(tmp_path / "server.db", port=free_port(), ingest_handle=recorder).start()
    backend.recorder = recorder
    yield backend
    backend.close()


def big_entries(count: int, size: int = 3 * KIB, prefix: str = "big") -> list[dict]:
    """Normalised entries whose message is `size` characters (some non-ASCII, 2 bytes in UTF-8)."""
    entries = []
    for index in range(count):
        head = f"{prefix} {index} é "
        entries.append(normalise({"severity": "info", "message": head + "x" * (size - len(head)), "source": "t"}))
    return entries


# -- 1. batches split by count and by encoded size ------------------------------------------------------


def test_batches_respect_both_the_count_and_the_body_size_and_keep_order():
    from logsvc.entry import MAX_BATCH_BYTES, batches

    sizes = [3 * KIB] * 700 + [10 * KIB] * 300 + [10] * 1200
    items = list(enumerate(sizes))
    grouped = list(batches(items, lambda item: item[1]))
    assert [item for batch in grouped for item in batch] == items  # nothing lost, nothing reordered
    for batch in grouped:
        body = 2 + sum(size for _, size in batch) + len(batch) - 1  # [a,b,c]
        assert len(batch) <= MAX_BATCH_ENTRIES and body <= MAX_BATCH_BYTES
    # Full: each batch but the last was closed only because the next item did not fit.
    for batch, following in zip(grouped, grouped[1:]):
        body = 2 + sum(size for _, size in batch) + len(batch) - 1
        assert len(batch) == MAX_BATCH_ENTRIES or body + 1 + following[0][1] > MAX_BATCH_BYTES


def test_client_put_of_500_entries_of_3_kib_stores_all_in_requests_under_the_limit(server):
    entries = big_entries(500)
    assert len(json.dumps(entries).encode()) > MIB  # one request would be refused (413)
    store = FunctionUrlStore(server.ingest_url, server.read_url)
    try:
        result = store.put(entries)
    finally:
        store.close()
    assert sorted(result.stored) == sorted(entry["id"] for entry in entries)
    assert_exactly_once(server.stored(), entries)
    assert len(server.recorder.sizes) >= 2 and max(server.recorder.sizes) <= MIB


def test_send_file_of_500_entries_of_3_kib_through_serve_stores_them_all(server, tmp_path):
    entries = big_entries(500)
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(entries))
    sent = cli(server.env(), "send", "--file", str(path))
    assert sent.exit_code == 0, sent.output
    assert "stored 500" in sent.stderr
    assert_exactly_once(server.stored(), entries)
    assert max(server.recorder.sizes) <= MIB


def test_a_spool_of_1500_entries_of_3_kib_flushes_completely(server, tmp_path):
    env = server.env()
    entries = big_entries(1500, prefix="spooled")
    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(entries))
    server.stop()
    sent = cli(env, "send", "--file", str(path))
    assert sent.exit_code == ExitCode.SPOOLED, sent.output
    assert "1500 entries kept in the spool" in sent.stderr
    server.start()
    flushed = cli(env, "flush")
    assert flushed.exit_code == 0, flushed.output
    assert "delivered 1500, 0 still spooled" in flushed.stderr
    assert_exactly_once(server.stored(), entries)
    assert max(server.recorder.sizes) <= MIB


def test_a_bulk_send_cut_off_part_way_spools_exactly_what_was_not_stored(tmp_path):
    """The batcher reads one entry ahead: that entry must be spooled too when the target gives up."""
    calls = {"n": 0}

    def fault(event, store):
        calls["n"] += 1
        if calls["n"] > 1:
            return {"statusCode": 503, "headers": {"retry-after": "0"}, "body": json.dumps({"errors": ["down"]})}
        return ingest.handle(event, store)

    backend = UrlBackend(tmp_path / "server.db", port=free_port(), ingest_handle=fault).start()
    try:
        entries = big_entries(700)
        path = tmp_path / "big.jsonl"
        path.write_bytes(jsonl(entries))
        env = backend.env()
        sent = cli(env, "send", "--file", str(path))
        assert sent.exit_code == ExitCode.SPOOLED, sent.output
        stored = backend.stored()
        assert 0 < len(stored) < 700
        assert spooled_count(Target("url", env, backend.stored)) == 700 - len(stored)
        backend.stop()
        backend.options["ingest_handle"] = ingest.handle
        backend.start()
        flushed = cli(env, "flush")
        assert flushed.exit_code == 0, flushed.output
        assert_exactly_once(backend.stored(), entries)
    finally:
        backend.close()


# -- 2. spool writes: complete or refused; torn lines set aside ----------------------------------------


class Down:
    """A backend that is always unavailable (the store interface's put)."""

    def put(self, entries):
        raise StoreUnavailable("injected: target down")


def short_writer(limit: int):
    """os.write that writes at most `limit` bytes a call, as a nearly full disk may."""
    import os

    calls = []

    def write(fd, data):
        calls.append(len(data))
        return os.write(fd, bytes(data[:limit]))

    write.calls = calls
    return write


def test_short_writes_are_continued_until_every_entry_is_in_the_spool(tmp_path):
    write = short_writer(100)
    spool = Spool("url http://127.0.0.1:1/ingest auth=none", tmp_path / "spool", write=write)
    entries = big_entries(20, size=500)
    with pytest.raises(Exception) as raised:
        put(Down(), entries, spool)
    assert raised.value.exit_code == ExitCode.SPOOLED
    assert "20 entries kept in the spool" in raised.value.message
    assert len(write.calls) > 20  # the writes really were short
    delivered: list[dict] = []
    assert spool.flush(delivered.extend) == 20
    assert delivered == entries


def test_a_full_disk_while_spooling_is_an_error_and_nothing_is_claimed_or_left_torn(tmp_path):
    import os

    from logsvc.spool import SpoolWriteError

    directory = tmp_path / "spool"
    target = "url http://127.0.0.1:1/ingest auth=none"
    earlier = big_entries(3, size=200, prefix="earlier")
    Spool(target, directory).append(earlier)
    before = (directory / f"{Spool(target, directory).key}.jsonl").read_bytes()

    def full_disk(fd, data):
        if len(data) > 1000:
            return os.write(fd, bytes(data[:700]))  # part of it fits ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then nothing does

    spool = Spool(target, directory, write=full_disk)
    with pytest.raises(SpoolWriteError) as raised:
        put(Down(), big_entries(10, size=500), spool)
    error = raised.value
    assert error.exit_code == ExitCode.UNAVAILABLE
    assert "No space left on device" in error.message and "not kept" in error.message
    assert "kept in the spool" not in error.message
    assert spool.path.read_bytes() == before  # the half-written append was undone
    delivered: list[dict] = []
    assert Spool(target, directory).flush(delivered.extend) == 3
    assert delivered == earlier


def test_a_torn_spool_line_is_set_aside_and_every_intact_entry_is_delivered(server):
    env = server.env()
    server.stop()
    first = cli(env, "send", "--source", "t", "before the crash")
    assert first.exit_code == ExitCode.SPOOLED, first.output
    spool = Spool(f"url {server.ingest_url} auth=none")
    torn = b'{"id": "' + str(uuid.uuid4()).encode() + b'", "dateTime": "2026-01-01T00:00:00.0'
    with open(spool.path, "ab") as handle:
        handle.write(torn)  # a crash in the middle of a line: no newline
    second = cli(env, "send", "--source", "t", "after the crash")
    assert second.exit_code == ExitCode.SPOOLED, second.output
    assert spool.path.read_bytes().count(b"\n") == 3  # the append started on a line of its own

    server.start()
    flushed = cli(env, "flush")
    assert sorted(entry["message"] for entry in server.stored()) == ["after the crash", "before the crash"]
    assert "delivered 2, 0 still spooled" in flushed.stderr
    assert flushed.exit_code == ExitCode.INVALID_INPUT, flushed.output  # something could not be delivered
    assert str(spool.quarantine_path) in flushed.stderr.replace("\n", "")
    assert spool.quarantine_path.read_bytes() == torn + b"\n"
    assert spooled_count(Target("url", env, server.stored)) == 0
    # The set-aside line waits for a person: plain `status` names its file too.
    status = cli(env, "status")
    assert f"set aside (torn): {spool.quarantine_path}" in status.stdout.replace("\n", ""), status.output


def test_flush_sets_aside_undecodable_lines_anywhere_and_reports_them(tmp_path):
    spool = Spool("url http://127.0.0.1:1/ingest auth=none", tmp_path / "spool")
    good = big_entries(4, size=100)
    spool.append(good[:2])
    bad = [b"\xff\xfe not utf-8", b"[1, 2, 3]", b'{"no id": true}']
    with open(spool.path, "ab") as handle:
        handle.write(b"\n".join(bad) + b"\n")
    spool.append(good[2:])
    delivered: list[dict] = []

    class Backend:
        def put(self, entries):
            delivered.extend(entries)

    report = FlushReport()
    flush(Backend(), spool, report)
    assert delivered == good
    assert report.delivered == 4 and report.quarantined == 3
    assert report.quarantine_file == spool.quarantine_path
    assert spool.quarantine_path.read_bytes() == b"\n".join(bad) + b"\n"
    assert spool.count() == 0


def test_a_flush_stopped_by_an_outage_keeps_the_undelivered_entries_in_order(tmp_path):
    spool = Spool("url http://127.0.0.1:1/ingest auth=none", tmp_path / "spool")
    entries = big_entries(800, size=3 * KIB)
    spool.append(entries)
    delivered: list[dict] = []
    calls = {"n": 0}

    def deliver(batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreUnavailable("down")
        delivered.extend(batch)

    with pytest.raises(StoreUnavailable):
        spool.flush(deliver)
    assert 0 < len(delivered) < 800
    assert [json.loads(line) for line in spool.path.read_bytes().splitlines()] == entries[len(delivered):]
    rest: list[dict] = []
    spool.flush(rest.extend)
    assert delivered + rest == entries


# -- 3. URLs: wrong ones are configuration errors --------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://x", "not-a-url", "http://", "http://host:99999/", "http://a b/"])
def test_config_set_refuses_an_invalid_url_and_writes_nothing(url, isolated):
    result = cli({}, "config", "set", "ingest_url", url)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "ingest_url" in result.stderr and "hint" in result.stderr.lower()
    assert not (isolated / "logsvc" / "config.toml").exists()


def test_config_set_accepts_http_and_https_urls(isolated):
    for key, url in (("ingest_url", "https://abc.lambda-url.eu-west-1.on.aws/"), ("read_url", "http://127.0.0.1:8080/read")):
        result = cli({}, "config", "set", key, url)
        assert result.exit_code == 0, result.output
    assert "abc.lambda-url" in (isolated / "logsvc" / "config.toml").read_text()


def test_an_invalid_url_from_the_environment_is_a_usage_error_and_nothing_is_spooled():
    env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": "ftp://x", "LOGSVC_READ_URL": "ftp://x"}
    sent = cli(env, "send", "hello")
    assert sent.exit_code == ExitCode.USAGE, sent.output
    assert "ftp://x" in sent.stderr and "LOGSVC_INGEST_URL" in sent.stderr


def test_a_host_that_does_not_exist_is_a_configuration_error_not_an_outage():
    url = "http://no-such-host.invalid/ingest"
    env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": url, "LOGSVC_READ_URL": url}
    sent = cli(env, "send", "hello")
    assert sent.exit_code == ExitCode.USAGE, sent.output
    assert "no-such-host.invalid" in sent.stderr and "does not exist" in sent.stderr
    assert "spool" not in sent.stderr
    assert Spool(f"url {url} auth=none").count() == 0


def test_doctor_reports_an_invalid_url():
    env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": "not-a-url", "LOGSVC_READ_URL": "not-a-url"}
    result = cli(env, "doctor", "--no-canary")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "FAIL  configuration: ingest_url 'not-a-url'" in result.stdout
    assert "LOGSVC_INGEST_URL" in result.stdout  # where the bad value came from, and what to fix


def test_a_spool_for_a_url_no_longer_configured_is_listed_and_delivered_by_name(tmp_path):
    old = UrlBackend(tmp_path / "old.db", port=free_port()).start()
    new = UrlBackend(tmp_path / "new.db", port=free_port()).start()
    try:
        old.stop()
        for message in ("first", "second"):
            sent = cli(old.env(), "send", "--source", "t", message)
            assert sent.exit_code == ExitCode.SPOOLED, sent.output
        key = Spool(f"url {old.ingest_url} auth=none").key
        # The operator moved on to the new URL: the old spool is not the configured target's.
        status = cli(new.env(), "status")
        assert status.exit_code == 0, status.output
        assert "spooled: 0 entries waiting for this target" in status.stdout
        assert f"2 waiting for url {old.ingest_url} auth=none (spool {key})" in status.stdout
        plain = cli(new.env(), "flush")
        assert plain.exit_code == 0 and "nothing to flush" in plain.stderr

        old.start()
        flushed = cli(new.env(), "flush", "--spool", key[:8])
        assert flushed.exit_code == 0, flushed.output
        assert "delivered 2, 0 still spooled" in flushed.stderr
        assert sorted(entry["message"] for entry in old.stored()) == ["first", "second"]
        assert new.stored() == []
        assert f"spool {key}" not in cli(new.env(), "status").stdout
    finally:
        old.close()
        new.close()


def test_a_spool_for_an_invalid_url_can_only_be_discarded_and_only_when_confirmed():
    # A spool left by an earlier version, which accepted `ftp://x` and spooled for it.
    stranded = Spool("url ftp://x auth=none")
    stranded.append(big_entries(3, size=50))
    env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": "http://127.0.0.1:1/ingest"}

    deliver = cli(env, "flush", "--spool", "url ftp://x auth=none")
    assert deliver.exit_code == ExitCode.USAGE, deliver.output
    assert "cannot deliver the spool" in deliver.stderr and "--discard" in deliver.stderr

    unconfirmed = cli(env, "flush", "--spool", stranded.key, "--discard")  # no terminal to ask on
    assert unconfirmed.exit_code == ExitCode.USAGE, unconfirmed.output
    assert "--yes" in unconfirmed.stderr
    assert stranded.count() == 3

    dropped = cli(env, "flush", "--spool", stranded.key, "--discard", "--yes")
    assert dropped.exit_code == 0, dropped.output
    assert "discarded 3 entries spooled for url ftp://x auth=none" in dropped.stderr
    assert stranded.count() == 0 and "ftp://x" not in cli(env, "status").stdout


def test_discard_asks_on_a_terminal_and_a_no_keeps_the_spool():
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import ROOT

    spool = Spool("url http://127.0.0.1:1/ingest auth=none")
    spool.append(big_entries(2, size=50))

    def answer(reply: bytes) -> tuple[int, bytes]:
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "logsvc", "flush", "--spool", spool.key, "--discard"],
                                stdin=follower, stdout=follower, stderr=follower, cwd=ROOT)
        os.close(follower)
        seen = b""
        while b"?" not in seen:
            seen += os.read(leader, 1024)
        os.write(leader, reply + b"\n")
        code = proc.wait(30)
        try:
            while chunk := os.read(leader, 1024):
                seen += chunk
        except OSError:  # the terminal closes with the process
            pass
        os.close(leader)
        return code, seen

    code, seen = answer(b"n")
    assert code == ExitCode.ERROR and b"delete 2 entries spooled for url http://127.0.0.1:1/ingest" in seen
    assert spool.count() == 2
    code, seen = answer(b"y")
    assert code == 0 and b"discarded 2 entries" in seen, seen
    assert spool.count() == 0


@pytest.mark.parametrize("flags", [
    {"target": "url", "ingest_url": "https://abc.lambda-url.eu-west-1.on.aws/", "auth": "iam"},
    {"target": "url", "ingest_url": "http://127.0.0.1:8080/ingest", "auth": "none"},
    {"target": "dynamodb", "table": "logs", "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:4566"},
    {"target": "dynamodb", "table": "logs", "region": "eu-west-1"},
])
def test_a_named_spool_resolves_to_the_target_it_was_written_for(flags):
    """`flush --spool` must deliver where the entries were meant to go, not to the configured target."""
    from logsvc.config import resolve
    from logsvc.delivery import spool_for, target_flags

    spool = spool_for(resolve(flags))
    again = resolve(target_flags(spool))
    assert spool_for(again).key == spool.key
    assert {key: again[key] for key in flags} == flags


def test_flush_spool_refuses_target_options_that_would_contradict_it():
    spool = Spool("url http://127.0.0.1:1/ingest auth=none")
    spool.append(big_entries(1, size=50))
    result = cli({}, "flush", "--spool", spool.key, "--table", "other")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--table" in result.stderr and spool.count() == 1


# -- Ctrl-C while a remote target keeps us waiting ------------------------------------------------


@pytest.mark.parametrize("how", ["single", "bulk"])
def test_ctrl_c_while_the_target_hangs_keeps_the_entries_in_the_spool_and_says_so(tmp_path, how):
    """The request is in flight when Ctrl-C comes: whether it arrived is unknown, so the entries
    go to the spool (a replay is harmless) and one line says so, with exit 130."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(30)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/ingest"
    env = {**os.environ, "LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": url, "LOGSVC_READ_URL": url}
    ids = [str(uuid.uuid4()) for _ in range(3)]
    if how == "single":
        args, stdin = ["send", "--id", ids[0], "hanging"], None
        ids = ids[:1]
    else:
        lines = "".join(json.dumps({"id": i, "severity": "info", "message": f"m{n}"}) + "\n" for n, i in enumerate(ids))
        args, stdin = ["send", "-"], lines.encode()
    process = subprocess.Popen([sys.executable, "-m", "logsvc", *args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        if stdin is not None:
            process.stdin.write(stdin)
        process.stdin.close()
        held, _ = listener.accept()  # the request is on its way: hold it, answer nothing
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        err = process.stderr.read()
    finally:
        process.kill()
        listener.close()
    held.close()
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert b"interrupted" in err and b"kept in the spool" in err and b"Traceback" not in err, err
    spooled = Spool(f"url {url} auth=none", tmp_path / "logsvc" / "spool")
    assert spooled.path.exists(), err
    assert [json.loads(line)["id"] for line in spooled.path.read_text().splitlines() if line] == ids
