"""`logsvc.logging.LogsvcHandler` against a real `logsvc serve` on loopback (auth none and iam).

Every stored entry is read back with plain SQL from the server's SQLite file, never through the
handler; outages are a stopped server, slowness an ingest handler held on an event.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest

from logsvc.entry import MAX_ENTRY_BYTES, normalise, serialise
from logsvc.errors import UsageError
from logsvc.handler import ingest
from logsvc.logging import LogsvcHandler
from tests.conftest import ROOT
from tests.targets_fixtures import (  # noqa: F401 - moto_endpoint is a fixture (the dynamodb target)
    UrlBackend,
    full_env,
    host_name,
    iam_env,
    make_target,
    moto_endpoint,
    run,
    sqlite_entries,
    wait_until,
)

THREADS = 8
EACH = 1250  # 8 x 1250 = 10,000 records


class Recorder(logging.Handler):
    """Keeps every record it sees, to compare with what the service stored."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logger():
    """A logger of its own for the test, handlers removed (and closed) at the end."""
    log = logging.getLogger(f"app-{uuid.uuid4().hex[:8]}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


@pytest.fixture(params=["url", "url-iam"])
def served(request, tmp_path, monkeypatch):
    """A `logsvc serve` target (auth none or iam) whose settings are in this process's environment."""
    target = make_target(request.param, request, tmp_path)
    for name, value in target.env.items():
        monkeypatch.setenv(name, value)
    return target


def stored_time(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def test_ten_thousand_records_from_eight_threads_arrive_exactly_once(served, logger):
    handler = LogsvcHandler(timeout=60)  # the target from LOGSVC_* (auth none or iam)
    recorder = Recorder()
    logger.addHandler(handler)
    logger.addHandler(recorder)
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]

    def work(worker: int) -> None:
        for index in range(EACH):
            logger.log(levels[index % len(levels)], "worker %d record %d", worker, index)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()

    stored = served.stored()
    assert len(stored) == THREADS * EACH
    assert len({entry["id"] for entry in stored}) == len(stored)
    severity = {logging.DEBUG: "info", logging.INFO: "info", logging.WARNING: "warning",
                logging.ERROR: "error", logging.CRITICAL: "error"}
    expected = {record.getMessage(): (severity[record.levelno], stored_time(record.created))
                for record in recorder.records}
    assert len(expected) == THREADS * EACH
    got = {entry["message"]: (entry["severity"], entry["dateTime"]) for entry in stored}
    assert got == expected
    assert {entry["source"] for entry in stored} == {host_name()}
    assert all(str(uuid.UUID(entry["id"])) == entry["id"] for entry in stored)


def test_records_map_to_entries_within_the_entry_limit(tmp_path, logger):
    backend = UrlBackend(tmp_path / "served.db").start()
    try:
        handler = LogsvcHandler(ingest_url=backend.ingest_url, source="web-1")
        logger.addHandler(handler)
        huge = "é\n\"\x01" * 10_000  # 2, 2, 2 and 6 bytes serialised: measured, not counted
        logger.info("")
        try:
            raise ValueError("the cause")
        except ValueError:
            logger.exception("failed with %s", huge)
        logger.warning("bad name \udcff")  # a lone surrogate, as from an undecodable file name
        assert handler.flush()
        stored = sorted(backend.stored(), key=lambda entry: entry["severity"])
    finally:
        backend.close()
    assert [entry["severity"] for entry in stored] == ["error", "info", "warning"]
    error, empty, surrogate = stored
    assert len(serialise(error).encode("utf-8")) <= MAX_ENTRY_BYTES
    assert len(serialise(error).encode("utf-8")) > MAX_ENTRY_BYTES - 100  # cut to fit, not to a fraction
    assert error["message"].startswith("failed with é\n\"\x01")
    marker = re.search(r"\n…\[truncated by logsvc: (\d+) characters in all\]…\n", error["message"])
    assert marker and int(marker.group(1)) > len(huge)
    assert error["message"].endswith('raise ValueError("the cause")\nValueError: the cause')
    assert empty["message"] == f"(empty INFO message from {logger.name})"
    assert surrogate["message"] == "bad name \\udcff"
    assert {entry["source"] for entry in stored} == {"web-1"}


def test_an_entry_is_what_the_service_accepts_unchanged():
    handler = LogsvcHandler(ingest_url="http://127.0.0.1:9/ingest")
    try:
        # (message, too large as it is): ü is 2 bytes in UTF-8, \x00 is 6 in JSON (\u0000)
        for message, too_large in [("x", False), ("ü" * 5000, False), ("ü" * 5100, True),
                                   ("\x00" * 1600, False), ("\x00" * 1800, True), ("a" * 1_000_000, True)]:
            record = logging.LogRecord("n", logging.ERROR, __file__, 1, message, None, None)
            entry = handler.entry(record)
            assert normalise(entry) == entry  # valid, already normal, within the size limit
            assert entry["source"] == host_name()
            assert ("[truncated by logsvc:" in entry["message"]) == too_large
            assert (f"{len(message)} characters in all" in entry["message"]) == too_large
            if not too_large:
                assert entry["message"] == message
    finally:
        handler.close()


def test_records_emitted_while_the_server_is_down_are_spooled_and_delivered_by_flush(served, logger):
    served.down()
    handler = LogsvcHandler(timeout=30)
    logger.addHandler(handler)
    for index in range(300):
        logger.error("while down %d", index)
    handler.close()
    assert served.stored() == []
    assert handler.spool.count() == 300

    served.up()
    result = run(served.env, "flush")
    assert result.returncode == 0, result.stderr
    stored = served.stored()
    assert sorted(entry["message"] for entry in stored) == sorted(f"while down {i}" for i in range(300))
    assert handler.spool.count() == 0


def test_refused_credentials_keep_the_entries_in_the_spool_and_say_so_once(request, tmp_path, logger, capsys,
                                                                          monkeypatch):
    target = make_target("url-iam", request, tmp_path)
    for name, value in {**target.env, **iam_env(secret="not-the-secret")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(logging, "raiseExceptions", True)
    handler = LogsvcHandler()
    logger.addHandler(handler)
    for index in range(20):
        logger.error("refused %d", index)
    assert handler.flush()
    logger.error("refused again")
    handler.close()
    assert target.stored() == []
    assert handler.spool.count() == 21
    err = capsys.readouterr().err
    assert err.count("logsvc handler:") == 1, err
    # the server's own reason, not a generic "check your credentials"
    assert "403 from" in err and "signature does not match" in err and "kept in the spool" in err

    result = run(target.env, "flush")  # the right credentials
    assert result.returncode == 0, result.stderr
    assert sorted(entry["message"] for entry in target.stored()) == sorted(
        [f"refused {i}" for i in range(20)] + ["refused again"])


def test_interpreter_exit_delivers_what_was_queued_with_dictconfig(tmp_path):
    backend = UrlBackend(tmp_path / "served.db").start()
    script = textwrap.dedent(f"""
        import logging, logging.config, sys
        logging.config.dictConfig({{
            "version": 1,
            "handlers": {{"logsvc": {{"class": "logsvc.logging.LogsvcHandler", "level": "INFO",
                                     "ingest_url": {backend.ingest_url!r}, "source": "exiting-app"}}}},
            "root": {{"level": "DEBUG", "handlers": ["logsvc"]}},
        }})
        log = logging.getLogger("app")
        for index in range(2000):
            log.info("queued %d", index)
        log.debug("below the handler's level")
        print(",".join(sorted({{name.split(".")[0] for name in sys.modules}} & {{"typer", "rich", "boto3", "click"}})))
    """)  # ends without close() or flush()
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                              env=full_env({}), timeout=60)
        stored = backend.stored()
    finally:
        backend.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""  # none of the CLI's packages
    assert proc.stderr == ""
    assert sorted(entry["message"] for entry in stored) == sorted(f"queued {i}" for i in range(2000))
    assert {entry["source"] for entry in stored} == {"exiting-app"}


class HeldServer:
    """A served store whose ingest waits at `gate`; `entered` is set once a request is inside."""

    def __init__(self, tmp_path) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.backend = UrlBackend(tmp_path / "served.db", ingest_handle=self._held).start()

    def _held(self, event, store):
        self.entered.set()
        self.gate.wait(30)
        return ingest.handle(event, store)

    def handler_with_sender_inside(self, logger) -> LogsvcHandler:
        """A handler with a queue of 10 and batches of 5, its sender held inside a request ("first")."""
        handler = LogsvcHandler(ingest_url=self.backend.ingest_url, queue_size=10, batch_entries=5, linger=0.05,
                                timeout=30)
        logger.addHandler(handler)
        logger.info("first")
        # No batch (which would take the drop count) is made until the gate opens.
        assert self.entered.wait(10), "the sender never reached the server"
        return handler

    def close(self) -> None:
        self.gate.set()
        self.backend.close()


def test_a_full_queue_counts_drops_reports_them_and_never_raises(tmp_path, logger, capsys, monkeypatch):
    server = HeldServer(tmp_path)  # a server that takes its time: the sender waits, the queue fills
    monkeypatch.setattr(logging, "raiseExceptions", True)  # errors would show on stderr
    try:
        handler = server.handler_with_sender_inside(logger)
        for index in range(200):
            logger.info("record %d", index)  # never raises, never waits
        dropped = handler.dropped
        server.gate.set()
        handler.close()
        stored = server.backend.stored()
    finally:
        server.close()
    assert dropped == 190  # 200 - the 10 the queue holds: counted while the sender waits on the server
    warnings = [entry for entry in stored if entry["severity"] == "warning"]
    records = [entry for entry in stored if entry["severity"] == "info"]
    counts = [re.fullmatch(r"logsvc handler dropped (\d+) log records from \S+: its queue of 10 was full",
                           entry["message"]) for entry in warnings]
    assert warnings and all(counts)
    reported = sum(int(match.group(1)) for match in counts)
    assert reported >= dropped and reported >= 150  # the queue holds 10, a batch 5: most were dropped
    assert len(records) + reported == 201  # every record either stored or counted as dropped
    assert len({entry["message"] for entry in records}) == len(records)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_flush_delivers_every_record_before_it_when_a_drop_warning_bumps_one_from_a_full_batch(tmp_path, logger):
    server = HeldServer(tmp_path)
    try:
        handler = server.handler_with_sender_inside(logger)
        for index in range(5):
            logger.info("before %d", index)
        flushed = []
        flusher = threading.Thread(target=lambda: flushed.append(handler.flush(timeout=30)))
        flusher.start()
        wait_until(lambda: handler._queue.qsize() == 6, 10, "flush's marker behind the five records")
        for index in range(7):
            logger.info("after %d", index)  # 4 fill the queue, 3 are dropped
        server.gate.set()
        flusher.join(30)
        # The next batch is 5 records and the warning about the 3 dropped: one record gives way
        # to the warning, and must still be delivered before flush() returns.
        assert flushed == [True]
        at_flush = {entry["message"] for entry in server.backend.stored()}
        handler.close()
        stored = [entry["message"] for entry in server.backend.stored()]
    finally:
        server.close()
    assert {"first", *(f"before {i}" for i in range(5))} <= at_flush
    assert sorted(stored) == sorted(["first", *(f"before {i}" for i in range(5)), *(f"after {i}" for i in range(4)),
                                     next(m for m in stored if m.startswith("logsvc handler dropped 3 log records"))])


def test_close_with_the_server_stuck_spools_what_it_could_not_deliver_in_time(tmp_path, logger):
    gate = threading.Event()

    def stuck(event, store):
        gate.wait(30)
        return ingest.handle(event, store)

    backend = UrlBackend(tmp_path / "served.db", ingest_handle=stuck).start()
    try:
        handler = LogsvcHandler(ingest_url=backend.ingest_url, batch_entries=20, linger=0.05)
        logger.addHandler(handler)
        for index in range(50):
            logger.info("stuck %d", index)
        started = time.monotonic()
        handler.close(timeout=1)
        took = time.monotonic() - started
        spooled = handler.spool.count()
        gate.set()  # the request in flight now completes: its entries are stored and spooled
        result = run(backend.env(), "flush")
        stored = backend.stored()
    finally:
        gate.set()
        backend.close()
    assert took < 5  # bounded by the timeout, not by the stuck request (10 s, then retries)
    assert spooled == 50
    assert result.returncode == 0, result.stderr
    assert Counter(entry["message"] for entry in stored) == Counter(f"stuck {i}" for i in range(50))


def test_a_forked_child_sends_its_own_records_and_not_the_parents(tmp_path, logger):
    backend = UrlBackend(tmp_path / "served.db").start()
    try:
        handler = LogsvcHandler(ingest_url=backend.ingest_url, linger=0.5)
        logger.addHandler(handler)
        for index in range(100):
            logger.info("parent before fork %d", index)  # still queued when the child is born
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for index in range(50):
                    logger.info("child %d", index)
                code = 0 if handler.flush(20) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        for index in range(50):
            logger.info("parent after fork %d", index)
        assert handler.flush(20)
        stored = backend.stored()
    finally:
        backend.close()
    assert os.waitstatus_to_exitcode(status) == 0
    counts = Counter(entry["message"] for entry in stored)
    expected = ([f"parent before fork {i}" for i in range(100)] + [f"child {i}" for i in range(50)]
                + [f"parent after fork {i}" for i in range(50)])
    assert counts == Counter(expected)


def test_the_handler_does_not_ship_the_http_clients_own_log_records(tmp_path, monkeypatch):
    backend = UrlBackend(tmp_path / "served.db").start()
    root = logging.getLogger()
    handler = LogsvcHandler(ingest_url=backend.ingest_url)
    monkeypatch.setattr(root, "level", logging.DEBUG)
    root.addHandler(handler)  # httpx logs each request at INFO on the root's handlers
    try:
        for index in range(10):
            logging.getLogger("app").info("app %d", index)
        assert handler.flush()
        logging.getLogger("app").info("app last")
        assert handler.flush()
        stored = backend.stored()
    finally:
        root.removeHandler(handler)
        handler.close()
        backend.close()
    assert sorted(entry["message"] for entry in stored) == sorted([f"app {i}" for i in range(10)] + ["app last"])


def test_the_local_target_stores_in_the_local_file(logger):
    handler = LogsvcHandler()  # nothing configured: the embedded store, as for the CLI
    logger.addHandler(handler)
    logger.warning("kept locally")
    handler.close()
    stored = sqlite_entries(handler._settings.store_path())
    assert [(entry["severity"], entry["message"]) for entry in stored] == [("warning", "kept locally")]


def test_the_dynamodb_target_receives_records_exactly_once(request, tmp_path, logger, monkeypatch):
    target = make_target("dynamodb", request, tmp_path)
    for name, value in target.env.items():
        monkeypatch.setenv(name, value)
    handler = LogsvcHandler(timeout=60)
    logger.addHandler(handler)
    for index in range(600):  # more than one batch
        logger.warning("to dynamodb %d", index)
    handler.close()
    stored = target.stored()
    assert Counter(entry["message"] for entry in stored) == Counter(f"to dynamodb {i}" for i in range(600))
    assert {entry["severity"] for entry in stored} == {"warning"}


def test_configuration_errors_are_raised_at_construction(monkeypatch):
    monkeypatch.setenv("LOGSVC_TARGET", "url")
    with pytest.raises(UsageError, match="ingest_url"):
        LogsvcHandler()
    with pytest.raises(UsageError, match="auth 'sigv4' is not one of"):
        LogsvcHandler(ingest_url="http://127.0.0.1:9/ingest", auth="sigv4")
    with pytest.raises(UsageError, match="source"):
        LogsvcHandler(ingest_url="http://127.0.0.1:9/ingest", source=" ")


@pytest.mark.parametrize("auth, allowed", [("none", set()), ("iam", {"botocore"})])
def test_importing_and_using_the_handler_imports_no_cli_packages(auth, allowed, tmp_path):
    backend = UrlBackend(tmp_path / "served.db").start()
    script = textwrap.dedent(f"""
        import logging, sys
        from logsvc.logging import LogsvcHandler
        assert logging.__file__.endswith("logging/__init__.py"), logging.__file__  # the stdlib's
        handler = LogsvcHandler(ingest_url={backend.ingest_url!r}, auth={auth!r}, timeout=20)
        logging.getLogger("x").addHandler(handler)
        logging.getLogger("x").error("hello")
        assert handler.flush()
        handler.close()
        heavy = {{"typer", "rich", "boto3", "botocore", "click"}}
        print(",".join(sorted({{name.split(".")[0] for name in sys.modules}} & heavy)))
    """)
    env = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-1"}
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                              env=full_env(env), timeout=60)
        stored = backend.stored()
    finally:
        backend.close()
    assert proc.returncode == 0, proc.stderr
    assert set(filter(None, proc.stdout.strip().split(","))) == allowed
    assert [entry["message"] for entry in stored] == ["hello"]


def test_a_spool_that_cannot_be_written_loses_records_loudly_and_never_raises(served, logger, capsys,
                                                                            monkeypatch):
    """Target down and disk full: nothing can keep the records. The handler says so once on stderr,
    reports the count in the next batch that gets through, and neither the sender thread nor the
    application's close() raises."""
    from logsvc.spool import Spool

    monkeypatch.setattr(logging, "raiseExceptions", True)
    served.down()
    handler = LogsvcHandler(timeout=30)
    logger.addHandler(handler)

    def disk_full(fd, data):
        raise OSError(28, "No space left on device")

    handler.spool = Spool(handler.spool.target, handler.spool.path.parent, write=disk_full)
    for index in range(30):
        logger.error("lost %d", index)
    assert handler.flush()  # the sender thread survived: it answered the flush marker
    assert handler.spool.count() == 0

    served.up()
    handler._retry_at = 0  # skip the back-off the outage started, rather than sleep through it
    logger.error("after the disk was freed")
    handler.close()
    stored = served.stored()
    messages = [entry["message"] for entry in stored]
    assert "after the disk was freed" in messages
    assert not any(message.startswith("lost ") for message in messages)
    warnings = [entry for entry in stored if entry["severity"] == "warning"]
    assert len(warnings) == 1 and "30" in warnings[0]["message"], warnings
    err = capsys.readouterr().err
    assert "No space left on device" in err and "30 records lost" in err, err
    assert "Traceback" not in err
