"""Faults on the way to a target: a server that stops mid-batch, throttling, timeouts, restarts of the
server and of a follower, and many concurrent writers. Every case ends with "each entry stored
(or seen) exactly once", checked against the backend directly.

Faults are injected by wrapping the real Lambda handlers that a `LocalServer` runs, or by really
stopping the server; the CLI runs as real subprocesses wherever process boundaries matter.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from logsvc.client import FunctionUrlStore
from logsvc.entry import normalise
from logsvc.errors import ExitCode
from logsvc.handler import ingest, read
from logsvc.store import Query
from tests.targets_fixtures import (  # noqa: F401 - fixtures are used by name
    Target,
    UrlBackend,
    assert_exactly_once,
    cli,
    duplicates,
    free_port,
    jsonl,
    make_entries,
    make_target,
    moto_endpoint,
    procs,
    run,
    spooled_count,
    wait_until,
    with_host,
)

UNAVAILABLE_503 = {"statusCode": 503, "headers": {"content-type": "application/json", "retry-after": "0"},
                   "body": json.dumps({"errors": ["injected: service unavailable"]})}


class Counting:
    """A handler wrapper: `fault(n)` decides, for the n-th call (1-based), what happens."""

    def __init__(self, real, fault) -> None:
        self.real = real
        self.fault = fault
        self.calls = 0
        self.finished = 0
        self._lock = threading.Lock()

    def __call__(self, event, store):
        with self._lock:
            self.calls += 1
            number = self.calls
        try:
            return self.fault(number, lambda: self.real(event, store))
        finally:
            with self._lock:
                self.finished += 1

    def idle(self) -> bool:
        with self._lock:
            return self.finished == self.calls


def url_backend(tmp_path, **options) -> UrlBackend:
    return UrlBackend(tmp_path / "server.db", port=free_port(), **options).start()


@pytest.fixture
def backends():
    """Make UrlBackends with `backends(tmp_path, **options)`; all are closed at the end."""
    made: list[UrlBackend] = []

    def make(tmp_path, **options) -> UrlBackend:
        backend = url_backend(tmp_path, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def write_file(tmp_path, name: str, raw: list[dict]):
    path = tmp_path / name
    path.write_bytes(jsonl(raw))
    return path


# -- the server goes away in the middle of a bulk send -------------------------------------------------


def test_server_answering_503_after_two_batches_spools_exactly_the_rest(tmp_path, backends):
    handle = Counting(ingest.handle, lambda n, call: call() if n <= 2 else UNAVAILABLE_503)
    backend = backends(tmp_path, ingest_handle=handle)
    env = backend.env()
    raw, expected = make_entries(3000, prefix="mid")
    sent = run(env, "send", "--file", str(write_file(tmp_path, "3000.jsonl", raw)))
    assert sent.returncode == ExitCode.SPOOLED, sent.stderr
    assert b"answered 503" in sent.stderr and b"2000 entries kept in the spool" in sent.stderr
    assert_exactly_once(backend.stored(), with_host(expected[:1000]))  # two batches of 500, in file order
    assert spooled_count(Target("url", env, backend.stored)) == 2000

    backend.stop()
    backend.options["ingest_handle"] = ingest.handle
    backend.start()
    flushed = cli(env, "flush")
    assert flushed.exit_code == 0, flushed.output
    assert "delivered 2000, 0 still spooled" in flushed.stderr  # exactly the undelivered ones were spooled
    assert_exactly_once(backend.stored(), with_host(expected))


def test_server_really_stopped_after_two_batches_then_restarted(tmp_path, backends):
    stopper: list[threading.Thread] = []
    backend: UrlBackend | None = None

    def fault(number, call):
        if number > 2:
            # Only if the request raced the shutdown: refuse it, and make the client wait a moment.
            return dict(UNAVAILABLE_503, headers={"retry-after": "1"})
        result = call()
        if number == 2:
            thread = threading.Thread(target=backend.stop, name="stop-server")
            thread.start()
            stopper.append(thread)
        return result

    backend = backends(tmp_path, ingest_handle=Counting(ingest.handle, fault))
    env = backend.env()
    raw, expected = make_entries(3000, prefix="stop")
    sent = run(env, "send", "--file", str(write_file(tmp_path, "3000.jsonl", raw)))
    stopper[0].join(20)
    assert not stopper[0].is_alive() and backend.server is None
    assert sent.returncode == ExitCode.SPOOLED, sent.stderr
    assert f"cannot reach 127.0.0.1:{backend.port}".encode() in sent.stderr  # the last attempts found no server
    assert b"2000 entries kept in the spool" in sent.stderr
    assert_exactly_once(backend.stored(), with_host(expected[:1000]))

    backend.options["ingest_handle"] = ingest.handle
    backend.start()  # the same port: the spool belongs to the same ingest URL
    flushed = run(env, "flush")
    assert flushed.returncode == 0, flushed.stderr
    assert b"delivered 2000, 0 still spooled" in flushed.stderr
    assert_exactly_once(backend.stored(), with_host(expected))
    status = run(env, "status")
    assert b"spooled: 0 entries" in status.stdout


def test_one_conflicting_spooled_entry_does_not_block_the_rest_of_the_spool(tmp_path, backends):
    backend = backends(tmp_path)
    env = backend.env()
    backend.stop()
    clash = str(uuid.uuid4())
    for args in (["--id", clash, "mine"], ["good 1"], ["good 2"]):
        result = cli(env, "send", "--source", "t", *args)
        assert result.exit_code == ExitCode.SPOOLED, result.output
    assert spooled_count(Target("url", env, backend.stored)) == 3
    # Meanwhile another writer stores the same id with other content.
    backend.store.put([normalise({"id": clash, "severity": "info", "message": "theirs", "source": "other"})])
    backend.start()
    flushed = cli(env, "flush")
    assert flushed.exit_code == ExitCode.INVALID_INPUT, flushed.output  # the conflict is reported ...
    assert clash in flushed.stderr
    messages = sorted(entry["message"] for entry in backend.stored())
    assert messages == ["good 1", "good 2", "theirs"]  # ... and the other entries are delivered anyway


# -- throttling and timeouts ------------------------------------------------------------------------------


def test_503_for_the_first_three_attempts_is_retried_and_stored_once(tmp_path, backends):
    handle = Counting(ingest.handle, lambda n, call: UNAVAILABLE_503 if n <= 3 else call())
    backend = backends(tmp_path, ingest_handle=handle)
    env = backend.env()
    one = run(env, "send", "-s", "error", "after throttling")
    assert one.returncode == 0, one.stderr
    assert handle.calls == 4  # three refusals, then the one that stored it
    [stored] = backend.stored()
    assert stored["id"] == one.stdout.decode().strip() and stored["message"] == "after throttling"

    handle.calls = 0  # again, for a bulk send: the first batch is refused three times
    raw, expected = make_entries(1200, prefix="throttled")
    bulk = run(env, "send", "--file", str(write_file(tmp_path, "1200.jsonl", raw)))
    assert bulk.returncode == 0, bulk.stderr
    assert b"stored 1200" in bulk.stderr
    assert handle.calls == 3 + 3  # three refusals, then three batches
    assert_exactly_once(backend.stored(), with_host(expected) + [stored])
    assert spooled_count(Target("url", env, backend.stored)) == 0


def test_response_lost_after_the_batch_was_stored_is_a_harmless_replay(tmp_path, backends):
    def fault(number, call):
        answer = call()  # stored ...
        return UNAVAILABLE_503 if number == 1 else answer  # ... but the client hears 503

    handle = Counting(ingest.handle, fault)
    backend = backends(tmp_path, ingest_handle=handle)
    raw, expected = make_entries(1200, prefix="lost")
    bulk = run(backend.env(), "send", "--file", str(write_file(tmp_path, "1200.jsonl", raw)))
    assert bulk.returncode == 0, bulk.stderr
    assert handle.calls == 4
    assert_exactly_once(backend.stored(), with_host(expected))


def test_a_request_timing_out_is_retried_and_stored_once(tmp_path, backends):
    def slow_first(number, call):
        if number == 1:
            time.sleep(1.5)  # well past the client's 0.5 s timeout; then it stores anyway
        return call()

    ingest_handle = Counting(ingest.handle, slow_first)
    read_handle = Counting(read.handle, slow_first)
    backend = backends(tmp_path, ingest_handle=ingest_handle, read_handle=read_handle, handler_threads=4)
    store = FunctionUrlStore(backend.ingest_url, backend.read_url, timeout=0.5)
    try:
        entries = [normalise({"severity": "info", "message": f"slow {n}", "source": "t"}) for n in range(3)]
        started = time.monotonic()
        result = store.put(entries)
        assert time.monotonic() - started < 8
        assert sorted(result.stored + result.replayed) == sorted(e["id"] for e in entries)
        assert ingest_handle.calls >= 2  # the first attempt timed out
        wait_until(ingest_handle.idle, 5, "the timed-out first call to finish its write")
        assert_exactly_once(backend.stored(), entries)

        page = store.recent(Query(limit=10))  # a read that times out once is retried as well
        assert read_handle.calls >= 2
        assert sorted(e["id"] for e in page.entries) == sorted(e["id"] for e in entries)
    finally:
        store.close()


# -- following across restarts ----------------------------------------------------------------------------


def test_tail_follow_keeps_going_across_a_server_restart(tmp_path, backends, procs):
    backend = backends(tmp_path)
    env = backend.env()
    assert cli(env, "send", "seed").exit_code == 0
    follower = procs(env, "tail", "-f", "-n", "1", "-o", "jsonl", "--interval", "0.1", "--max-entries", "8")
    follower.wait_for(lambda: len(follower.out) >= 1, 30, "the seed entry")
    sent = [cli(env, "send", f"before {n}").stdout.strip() for n in range(3)]
    follower.wait_for(lambda: len(follower.out) >= 4, 30, "the entries sent before the restart")

    backend.stop()
    # While the URL is down, entries still arrive in the store (another ingest path).
    during = [normalise({"severity": "warning", "message": f"during {n}", "source": "x"}) for n in range(2)]
    backend.store.put(during)
    sent += [entry["id"] for entry in during]
    follower.wait_for(lambda: any("retrying" in line for line in follower.err), 20, "a notice about the outage")
    assert follower.popen.poll() is None  # a notice, not an exit
    backend.start()  # same port, same store

    sent += [cli(env, "send", f"after {n}").stdout.strip() for n in range(3)]
    assert follower.wait(30) == 0, follower.err
    seen = follower.entries()
    assert seen[0]["message"] == "seed"
    assert [entry["id"] for entry in seen[1:]] == sent
    assert not duplicates(seen)
    notices = [line for line in follower.err if "retrying" in line]
    assert notices and f"127.0.0.1:{backend.port}" in notices[0]


def test_tail_follow_resumes_after_sigint_with_its_cursor_file(tmp_path, backends, procs):
    backend = backends(tmp_path)
    env = backend.env()
    cursor = tmp_path / "follow.cursor"
    follow = ("tail", "-f", "--cursor", str(cursor), "-n", "1", "-o", "jsonl", "--interval", "0.1")
    assert cli(env, "send", "seed").exit_code == 0
    first = procs(env, *follow)
    first.wait_for(lambda: len(first.out) >= 1, 30, "the seed entry")
    batch_a = [{"id": str(uuid.uuid4()), "severity": "info", "message": f"a {n}"} for n in range(5)]
    assert cli(env, "send", "--file", str(write_file(tmp_path, "a.jsonl", batch_a))).exit_code == 0
    first.wait_for(lambda: len(first.out) >= 6, 30, "batch a")
    time.sleep(0.3)  # a few polls: the page is finished (an interrupt mid-page is the case below)
    first.interrupt()
    assert first.wait(20) == ExitCode.INTERRUPTED
    assert cursor.read_text().strip()

    batch_b = [cli(env, "send", f"b {n}").stdout.strip() for n in range(4)]
    second = procs(env, *follow, "--max-entries", "4")
    assert second.wait(30) == 0, second.err
    union = first.entries() + second.entries()
    assert not duplicates(union), duplicates(union)
    assert [entry["id"] for entry in second.entries()] == batch_b
    assert_exactly_once(backend.stored(), union)


def test_tail_follow_interrupted_mid_page_does_not_repeat_printed_entries(tmp_path, monkeypatch):
    from logsvc import output

    env = {}  # the local target: the bug is in the follower, whatever the store
    cursor = tmp_path / "mid.cursor"
    follow = ("tail", "-f", "--cursor", str(cursor), "--idle-timeout", "1s", "--interval", "0.1", "-o", "jsonl")
    assert cli(env, "send", "seed").exit_code == 0
    assert cli(env, *follow).exit_code == 0  # prints the seed, saves the cursor
    batch = [{"id": str(uuid.uuid4()), "severity": "info", "message": f"page {n}"} for n in range(6)]
    assert cli(env, "send", "--file", str(write_file(tmp_path, "page.jsonl", batch))).exit_code == 0

    real_entry = output.Renderer.entry
    printed = []

    def entry_then_ctrl_c(self, entry):
        real_entry(self, entry)
        printed.append(entry["id"])
        if len(printed) == 2:
            raise KeyboardInterrupt  # Ctrl-C right after the second line of the page was written

    monkeypatch.setattr(output.Renderer, "entry", entry_then_ctrl_c)
    interrupted = cli(env, *follow)
    assert interrupted.exit_code == ExitCode.INTERRUPTED
    monkeypatch.setattr(output.Renderer, "entry", real_entry)

    resumed = cli(env, *follow)
    assert resumed.exit_code == 0, resumed.output
    rest = [json.loads(line)["id"] for line in resumed.stdout.splitlines()]
    assert printed + rest == [entry["id"] for entry in batch]


# -- many writers at once ---------------------------------------------------------------------------------


def send_concurrently(env: dict, tmp_path, processes: int = 8, each: int = 2000) -> list[dict]:
    """`processes` real `send --file` processes of `each` entries at once; returns the expected entries."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.targets_fixtures import full_env

    expected, running = [], []
    for number in range(processes):
        raw, stored = make_entries(each, prefix=f"p{number}")
        expected += stored
        path = write_file(tmp_path, f"p{number}.jsonl", raw)
        running.append(subprocess.Popen([sys.executable, "-m", "logsvc", "send", "--file", str(path)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env(env), cwd=ROOT))
    for proc in running:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert f"stored {each}".encode() in err
    return with_host(expected)


@pytest.mark.parametrize("name", ["local", "url", "dynamodb"])
def test_eight_processes_sending_2000_each_store_16000_exactly_once(name, request, tmp_path):
    target = make_target(name, request, tmp_path)
    expected = send_concurrently(target.env, tmp_path)
    stored = target.stored()
    assert len(stored) == 16000
    assert_exactly_once(stored, expected)


# -- flush of spools that are not whole batches ---------------------------------------------------------

SPOOL_COUNTS = [1, 499, 501, 1001]  # around the batch size of 500: one short, one over, two and one over


def spool_while_down(tmp_path, backend: UrlBackend, count: int, prefix: str) -> tuple[dict, list[dict]]:
    """Spool `count` entries for the backend's URL by sending while it is stopped."""
    env = backend.env()
    backend.stop()
    raw, expected = make_entries(count, prefix=prefix)
    sent = cli(env, "send", "--file", str(write_file(tmp_path, f"{count}.jsonl", raw)))
    assert sent.exit_code == ExitCode.SPOOLED, sent.output
    assert spooled_count(Target("url", env, backend.stored)) == count
    return env, expected


@pytest.mark.parametrize("count", SPOOL_COUNTS)
def test_flush_delivers_a_spool_of_any_size_exactly_once_and_empties_it(tmp_path, backends, count):
    backend = backends(tmp_path)
    env, expected = spool_while_down(tmp_path, backend, count, f"spool{count}")
    backend.start()
    flushed = cli(env, "flush")
    assert flushed.exit_code == 0, flushed.output
    assert f"delivered {count}, 0 still spooled" in flushed.stderr
    assert_exactly_once(backend.stored(), with_host(expected))
    assert spooled_count(Target("url", env, backend.stored)) == 0
    again = cli(env, "flush")  # nothing left: a second flush delivers nothing and stores nothing twice
    assert again.exit_code == 0, again.output
    assert_exactly_once(backend.stored(), with_host(expected))


@pytest.mark.parametrize("count", [501, 1001])
def test_flush_cut_short_after_one_batch_keeps_exactly_the_rest(tmp_path, backends, count):
    backend = backends(tmp_path)
    env, expected = spool_while_down(tmp_path, backend, count, f"cut{count}")
    backend.options["ingest_handle"] = Counting(ingest.handle, lambda n, call: call() if n == 1 else UNAVAILABLE_503)
    backend.start()
    flushed = cli(env, "flush")
    assert flushed.exit_code != 0, flushed.output
    stored = backend.stored()  # one batch of the spool (which one depends on the order send spooled them)
    assert len(stored) == 500 and not duplicates(stored)
    assert_exactly_once(stored, [entry for entry in with_host(expected) if entry["id"] in {s["id"] for s in stored}])
    assert spooled_count(Target("url", env, backend.stored)) == count - 500

    backend.stop()
    backend.options["ingest_handle"] = ingest.handle
    backend.start()
    flushed = cli(env, "flush")
    assert flushed.exit_code == 0, flushed.output
    assert f"delivered {count - 500}, 0 still spooled" in flushed.stderr
    assert_exactly_once(backend.stored(), with_host(expected))
    assert spooled_count(Target("url", env, backend.stored)) == 0
