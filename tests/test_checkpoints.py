"""A long-lived writer (`serve`) checkpoints the SQLite write-ahead log on a thread of its own."""

from __future__ import annotations

import threading
import time
import uuid

from logsvc.serve import LocalServer
from logsvc.store.sqlite import SQLiteStore


def entries(count: int) -> list[dict]:
    return [{"id": str(uuid.uuid4()), "dateTime": f"2026-01-01T00:00:{index % 60:02d}.000000+00:00",
             "severity": "info", "message": f"entry {index} " + "x" * 200} for index in range(count)]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def checkpoint_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "logsvc-checkpoint"]


def test_the_log_reaches_the_file_without_a_writer_checkpointing(tmp_path):
    path = tmp_path / "logs.db"
    quiet, busy = SQLiteStore(tmp_path / "quiet.db"), SQLiteStore(path)
    stop = busy.checkpoint_in_background(interval=0.05)
    try:
        for store in (quiet, busy):
            store.put(entries(2000))  # ~600 KB of log: far below the writers' own threshold
        # Without the thread the pages stay in the log and the file keeps its first few pages.
        assert (tmp_path / "quiet.db").stat().st_size < 100_000
        assert wait_for(lambda: path.stat().st_size > 500_000)
        assert busy.count() == 2000
    finally:
        stop()
        quiet.close()
        busy.close()
    assert not checkpoint_threads()


def test_serve_checkpoints_while_it_runs_and_stops_the_thread_with_it(tmp_path):
    store = SQLiteStore(tmp_path / "served.db")
    before = len(checkpoint_threads())
    server = LocalServer(store).start()
    try:
        assert len(checkpoint_threads()) == before + 1
    finally:
        server.stop()
        store.close()
    assert len(checkpoint_threads()) == before
