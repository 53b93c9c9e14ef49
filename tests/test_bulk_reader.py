"""Bulk input read in a second process: the same items, errors and outcome as read in-process."""

from __future__ import annotations

import io
import json
import sqlite3
import uuid

import pytest

from logsvc.bulk import CHUNK, read_entries, read_entries_aside, read_entries_usable_aside
from logsvc.entry import EntryError, MAX_ENTRY_BYTES
from tests.conftest import run_logsvc


def mixed_lines(count: int) -> bytes:
    """Valid lines (all with ids, so both readers' results compare whole) among every kind of invalid one."""
    lines = []
    for n in range(count):
        kind = n % 13
        if kind == 3:
            lines.append(b"not json")
        elif kind == 5:
            lines.append(b'{"severity": "info", "message": "a", "message": "b"}')
        elif kind == 7:
            lines.append(b"   ")
        elif kind == 9:
            lines.append(json.dumps({"id": str(uuid.UUID(int=n)), "severity": "info",
                                     "message": "x" * MAX_ENTRY_BYTES}).encode())
        elif kind == 11:
            lines.append(b'{"severity": "info", "message": "\xff"}')
        elif kind == 12:
            lines.append(b'{"id": "nope", "severity": "loud", "dateTime": "2026-02-30T00:00:00Z"}')
        else:
            lines.append(json.dumps({"id": str(uuid.UUID(int=n)), "severity": "warn", "message": f"m {n} \u00e9",
                                     "dateTime": "2026-01-01T00:00:00.5Z"}).encode())
    return b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n"


def comparable(items):
    return [(lineno, size, ("error", item.problems, item.too_large) if isinstance(item, EntryError) else item)
            for lineno, size, item in items]


def test_the_reading_process_yields_what_reading_here_does(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(mixed_lines(3 * CHUNK + 17))  # several chunks through the pipe, and a partial one
    with open(path, "rb") as stream:
        here = comparable(read_entries(stream, source="s"))
    with open(path, "rb") as stream:
        aside = read_entries_aside(stream, source="s")
        there = comparable(aside)
    assert there == here
    assert any(isinstance(item[2], tuple) for item in here) and any(isinstance(item[2], dict) for item in here)
    assert not aside._process.is_alive()


def test_a_failure_in_the_reading_process_is_raised_here():
    class FailingStream(io.BytesIO):
        def __iter__(self):
            yield b'{"severity": "info", "message": "one"}\n'
            raise OSError(5, "Input/output error")

    reader = read_entries_aside(FailingStream())
    assert next(reader)[2]["message"] == "one"
    with pytest.raises(OSError, match="Input/output error"):
        next(reader)


def test_a_reading_process_killed_midway_is_a_clear_error_here(tmp_path):
    import os
    import signal

    from logsvc.errors import LogsvcError

    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"severity": "info", "message": "m"}\n' * (50 * CHUNK))
    with open(path, "rb") as stream:
        reader = read_entries_aside(stream)
        next(reader)
        os.kill(reader._process.pid, signal.SIGKILL)  # as the kernel's OOM killer would
        with pytest.raises(LogsvcError, match=r"ended unexpectedly \(exit code -9\); nothing of this input"):
            for _ in reader:
                pass
    assert not reader._process.is_alive()


def test_closing_early_ends_the_reading_process(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"severity": "info", "message": "m"}\n' * (20 * CHUNK))
    with open(path, "rb") as stream:
        reader = read_entries_aside(stream)
        next(reader)
        reader.close()
    assert not reader._process.is_alive()


def test_only_files_of_some_size_are_read_aside():
    assert not read_entries_usable_aside(1000)


def big_file(path, count: int, *, bad_line: int | None = None) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with open(path, "w") as out:
        for n, entry_id in enumerate(ids, 1):
            if n == bad_line:
                out.write('{"severity": "info", "message": ""}\n')
            else:
                out.write(json.dumps({"id": entry_id, "severity": "info", "message": f"request {n} " + "x" * 80,
                                      "dateTime": "2026-01-01T00:00:00.123Z"}) + "\n")
    assert read_entries_usable_aside(path.stat().st_size)  # so the CLI takes the second process
    return ids


def test_a_big_file_is_stored_whole_in_input_order(tmp_path):
    ids = big_file(tmp_path / "big.jsonl", 40_000)
    store = tmp_path / "s.db"
    result = run_logsvc("send", "--file", str(tmp_path / "big.jsonl"), "--store", str(store), "-o", "id")
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().strip() == "stored 40000"
    assert result.stdout.decode().split() == ids
    conn = sqlite3.connect(store)
    assert [row[0] for row in conn.execute("SELECT id FROM entries ORDER BY seq")] == ids
    conn.close()


def test_a_big_file_with_one_bad_line_names_it_and_stores_nothing(tmp_path):
    big_file(tmp_path / "big.jsonl", 40_000, bad_line=39_990)
    store = tmp_path / "s.db"
    result = run_logsvc("send", "--file", str(tmp_path / "big.jsonl"), "--store", str(store))
    assert result.returncode != 0
    assert "line 39990: message must not be blank" in result.stderr.decode()
    assert "1 invalid line; nothing was stored" in result.stderr.decode()
    conn = sqlite3.connect(store)
    assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 0
    conn.close()


def test_the_pipe_holds_several_chunks(tmp_path):
    import fcntl
    from pathlib import Path

    if int(Path("/proc/sys/fs/pipe-max-size").read_text()) < 1024 * 1024:
        pytest.skip("this system caps pipes below 1 MiB")
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"severity": "info", "message": "m"}\n')
    with open(path, "rb") as stream:
        reader = read_entries_aside(stream)
        try:
            assert fcntl.fcntl(reader._receiver.fileno(), fcntl.F_GETPIPE_SZ) >= 1024 * 1024
        finally:
            list(reader)
    assert not reader._process.is_alive()
