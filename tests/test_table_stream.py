"""`recent` reads and shows page by page: every entry once, newest first, the first rows at once.

The page size is made small (`entries.FIRST_PAGE`) so that a few dozen entries cross many page
boundaries; the pipe tests run the real command on a store big enough that its output cannot fit
in a pipe, so the order of events, not a timer, shows what was written before what was read.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.cli import entries as entries_command
from logsvc.entry import normalise
from logsvc.store.sqlite import SQLiteStore
from tests.conftest import ROOT, on_a_terminal
from tests.targets_fixtures import moto_endpoint  # noqa: F401 - a fixture, used by name

runner = CliRunner()
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
ROW = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")  # a data row starts with its time


def stored(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def clock(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fill(path, data: list[dict]) -> None:
    store = SQLiteStore(path)
    try:
        store.put([normalise(entry) for entry in data])
    finally:
        store.close()


def entries_at(count: int, *, per_instant: int = 3, start: datetime = BASE, step=timedelta(seconds=1)) -> list[dict]:
    """`count` entries, `per_instant` of them sharing each time (their ids alone order them)."""
    severities = ("info", "warning", "error")
    return [{"id": str(uuid.uuid4()), "dateTime": stored(start + step * (index // per_instant)),
             "severity": severities[index % 3], "message": f"entry {index}"} for index in range(count)]


def newest_first(data: list[dict]) -> list[dict]:
    return sorted(data, key=lambda entry: (entry["dateTime"], entry["id"]), reverse=True)


def table(*args: str, env: dict | None = None) -> list[str]:
    result = runner.invoke(app, ["recent", "--color", "never", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


@pytest.fixture
def reads(monkeypatch):
    """The limits and positions of every read the local store serves, in order."""
    seen = []
    original = SQLiteStore.recent

    def recent(self, query):
        seen.append((query.limit, query.before))
        return original(self, query)

    monkeypatch.setattr(SQLiteStore, "recent", recent)
    return seen


@pytest.mark.parametrize("limit", [1000, 999, 437, 7, 5000])
def test_the_table_shows_each_entry_once_newest_first_across_pages(tmp_path, monkeypatch, reads, limit):
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 7)
    data = entries_at(1000)  # three to an instant: page boundaries fall between equal times
    fill(tmp_path / "s.db", data)
    lines = table("--store", str(tmp_path / "s.db"), "-n", str(limit), "--utc")
    expected = newest_first(data)[:limit]
    assert lines[0].split() == ["Time", "(UTC)", "Severity", "Message"]
    shown = [(line[:23], line[25:33].rstrip(), line[35:].rstrip()) for line in lines[1:]]
    assert shown == [(clock(datetime.fromisoformat(entry["dateTime"])), entry["severity"].upper(), entry["message"])
                     for entry in expected]
    asked = [asked for asked, _ in reads]
    if limit > 7:
        assert asked[:3] == [7, 28, 112][:len(asked[:3])] and len(reads) > 2  # many pages, each below the last
        assert all(before for _, before in reads[1:]) and sum(asked) >= len(expected)
    else:
        assert asked == [7]


def test_jsonl_and_raw_stream_the_same_entries_as_one_read(tmp_path, monkeypatch):
    data = entries_at(300)
    fill(tmp_path / "s.db", data)
    args = ["recent", "--store", str(tmp_path / "s.db"), "-n", "250"]
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 1000)
    whole = {output: runner.invoke(app, [*args, "-o", output]).stdout for output in ("jsonl", "raw", "json")}
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 4)
    for output in ("jsonl", "raw", "json"):
        assert runner.invoke(app, [*args, "-o", output]).stdout == whole[output], output
    assert len(whole["jsonl"].splitlines()) == 250


AWKWARD = [  # (message, as the table must show it)
    ("[bold]no markup[/bold]", "[bold]no markup[/bold]"),
    ("esc \x1b[2J clear", "esc \\x1b[2J clear"),
    ("real\n2026-01-01 00:00:00.000  ERROR     forged row", "real\\n2026-01-01 00:00:00.000  ERROR     forged row"),
    ("back\rspace", "back\\rspace"),
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("wide 日本語 text", "wide 日本語 text"),
    ("tab\there", "tab\there"),
    ("long " + "x" * 300, "long " + "x" * 300),
]


def test_messages_stay_literal_and_cannot_forge_rows_in_a_streamed_table(tmp_path, monkeypatch):
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 3)
    data = [{"id": str(uuid.uuid4()), "dateTime": stored(BASE + timedelta(seconds=index)),
             "severity": ("error", "info")[index % 2], "message": AWKWARD[index % len(AWKWARD)][0]}
            for index in range(40)]
    fill(tmp_path / "s.db", data)
    for color in ("never", "always"):
        result = runner.invoke(app, ["recent", "--store", str(tmp_path / "s.db"), "-n", "40", "--utc", "--color", color])
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert "\x1b[2J" not in text and "\r" not in text and "\u200b" not in text
        plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # the styles Rich adds, and only those
        assert (plain == text) is (color == "never")
        lines = plain.splitlines()
        starts = [index for index, line in enumerate(lines) if ROW.match(line)]
        assert len(starts) == 40 and starts[0] == 1  # one row an entry: a newline forged none
        for entry, begin, end in zip(newest_first(data), starts, [*starts[1:], len(lines)]):
            # A folded message continues on lines of its own below its row, in the message column.
            message = "".join(line[35:].rstrip() for line in lines[begin:end])
            expected = dict(AWKWARD)[entry["message"]]
            assert message.replace(" ", "") == expected.replace(" ", "").expandtabs().replace(" ", "")


def test_severity_colours_in_a_streamed_table(tmp_path, monkeypatch):
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 2)
    data = entries_at(9, per_instant=1)
    fill(tmp_path / "s.db", data)
    lines = table("--store", str(tmp_path / "s.db"), "-n", "9", "--utc", "--color", "always")
    assert len(lines) == 10
    for entry, line in zip(newest_first(data), lines[1:]):
        code = {"error": "1;31", "warning": "33", "info": "36"}[entry["severity"]]
        assert f"\x1b[{code}m{entry['severity'].upper()}" in line
        assert (f"\x1b[{code}m{entry['message']}" in line) is (entry["severity"] == "error")  # error rows stand out


def test_a_store_failing_after_the_first_pages_is_one_error_line_after_the_rows_shown(tmp_path, monkeypatch):
    from logsvc.errors import ExitCode
    from logsvc.store import StoreUnavailable

    monkeypatch.setattr(entries_command, "FIRST_PAGE", 5)
    data = entries_at(100, per_instant=1)
    fill(tmp_path / "s.db", data)
    original, calls = SQLiteStore.recent, []

    def recent(self, query):
        calls.append(query.limit)
        if len(calls) == 3:
            raise StoreUnavailable("the disk went away")
        return original(self, query)

    monkeypatch.setattr(SQLiteStore, "recent", recent)
    for output in ("table", "jsonl"):
        calls.clear()
        result = runner.invoke(app, ["recent", "--store", str(tmp_path / "s.db"), "-n", "100", "--color", "never",
                                     "-o", output])
        assert result.exit_code == ExitCode.UNAVAILABLE
        assert result.stderr.splitlines()[0] == "error: the disk went away" and "Traceback" not in result.stderr
        shown = result.stdout.splitlines()[1:] if output == "table" else result.stdout.splitlines()
        assert len(shown) == 5 + 20  # the two pages read, and nothing made up after them
        assert all(f"entry {99 - n}" in line for n, line in enumerate(shown))


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_daylight_saving_change_after_the_first_page_restates_the_header(tmp_path, monkeypatch, berlin):
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 4)
    # Every 10 minutes from 00:00 to 01:50 UTC; at 01:00 UTC Berlin went from +01:00 to +02:00.
    data = entries_at(12, per_instant=1, start=datetime(2026, 3, 29, tzinfo=timezone.utc), step=timedelta(minutes=10))
    fill(tmp_path / "s.db", data)
    lines = table("--store", str(tmp_path / "s.db"), "-n", "12", "--local")
    summer = [clock(datetime(2026, 3, 29, 3, 50) - timedelta(minutes=10 * n)) for n in range(6)]  # 03:50 .. 03:00
    winter = [clock(datetime(2026, 3, 29, 1, 50) - timedelta(minutes=10 * n)) for n in range(6)]  # 01:50 .. 01:00
    assert lines[0].split() == ["Time", "(+02:00)", "Severity", "Message"]
    assert [line[:23] for line in lines[1:7]] == summer
    assert lines[7].split() == ["Time", "(+01:00)", "Severity", "Message"]
    assert [line[:23] for line in lines[8:]] == winter


def test_a_first_page_across_the_change_gives_every_row_its_offset(tmp_path, monkeypatch, berlin):
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 8)
    data = entries_at(12, per_instant=1, start=datetime(2026, 3, 29, tzinfo=timezone.utc), step=timedelta(minutes=10))
    fill(tmp_path / "s.db", data)
    lines = table("--store", str(tmp_path / "s.db"), "-n", "12", "--local")
    assert lines[0].split()[:2] == ["Time", "(local)"] and len(lines) == 13
    summer = [clock(datetime(2026, 3, 29, 3, 50) - timedelta(minutes=10 * n)) + " +02:00" for n in range(6)]
    winter = [clock(datetime(2026, 3, 29, 1, 50) - timedelta(minutes=10 * n)) + " +01:00" for n in range(6)]
    assert [line[:30] for line in lines[1:]] == summer + winter


def test_a_terminal_too_narrow_for_the_streamed_widths_gets_the_whole_table(tmp_path, monkeypatch):
    data = entries_at(20, per_instant=1)
    fill(tmp_path / "s.db", data)
    args = ["--store", str(tmp_path / "s.db"), "-n", "20", "--utc"]
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 3)
    paged = table(*args, env={"COLUMNS": "34"})  # one column short of time, severity and one of message
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 100)
    assert paged == table(*args, env={"COLUMNS": "34"})  # as Rich lays it out, from one read
    assert sum(1 for line in paged if ROW.match(line)) == 20
    assert table(*args, env={"COLUMNS": "36"}) != paged


# -- the real command into a pipe ----------------------------------------------------------------

BIG = 30_000  # rows of ~120 bytes: far more than a pipe holds, so the command waits on its reader


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.db"
    fill(path, entries_at(BIG, per_instant=1))
    return path


def start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.Popen([sys.executable, "-m", "logsvc", "recent", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)


def first_lines(proc: subprocess.Popen, count: int, deadline: float = 60.0) -> bytes:
    """At least the first `count` lines the command writes, read as they come (no sleeping), within `deadline`."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen, until = b"", time.monotonic() + deadline
    try:
        while seen.count(b"\n") < count:
            assert selector.select(timeout=max(0.0, until - time.monotonic())), f"no {count} lines in {deadline} s"
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, f"the output ended after {seen!r}"
            seen += chunk
    finally:
        selector.close()
    return seen


def test_the_first_rows_reach_a_pipe_before_the_store_is_read_to_the_end(big_store, tmp_path):
    path = tmp_path / "big.db"
    path.write_bytes(big_store.read_bytes())
    proc = start("--store", str(path), "-n", "100000", "--utc")
    try:
        early = first_lines(proc, 2)
        header, row = early.split(b"\n")[:2]
        assert header.split() == [b"Time", b"(UTC)", b"Severity", b"Message"]
        assert b"entry 29999" in row
        # The rest of the table cannot fit in the pipe, so the command is still running: an entry
        # stored now, older than every other, shows at the end only if the store is read in pages.
        assert proc.poll() is None
        fill(path, [{"id": str(uuid.uuid4()), "dateTime": stored(BASE - timedelta(days=1)), "severity": "info",
                     "message": "stored after the first rows showed"}])
        rest, errors = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, errors
    rows = [line for line in (early + rest).decode().splitlines() if ROW.match(line)]
    assert len(rows) == BIG + 1  # every entry once, and the late one too
    assert rows[-1].rstrip().endswith("stored after the first rows showed")
    assert rows[-2].rstrip().endswith("entry 0")


def test_a_reader_that_goes_away_ends_the_command_quietly(big_store):
    proc = start("--store", str(big_store), "-n", "100000")
    try:
        assert first_lines(proc, 3).count(b"\n") >= 3
        proc.stdout.close()  # as `head -3` does
        assert proc.wait(timeout=60) == 0
        assert proc.stderr.read() == b""
    finally:
        proc.kill()
        proc.wait()


def test_a_read_below_a_position_starts_there_on_the_index(tmp_path):
    """Each page of a long listing reads from where the last stopped, not from the newest entry."""
    import sqlite3

    from logsvc.store import Query
    from logsvc.store.sqlite import _filters

    fill(tmp_path / "s.db", entries_at(10))
    where, params = _filters(Query(before=stored(BASE) + "#x"))
    with sqlite3.connect(tmp_path / "s.db") as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM entries {where} ORDER BY date_time DESC, id DESC",
                            params).fetchall()
    assert "SEARCH entries USING COVERING INDEX entries_by_time (date_time<?)" in [row[-1] for row in plan]


# -- the remote targets: the same pages, over their own continuations ------------------------------


def messages_shown(stdout: str) -> list[str]:
    """The message column of a table's rows (the last column; columns are two spaces apart or more)."""
    return [re.split(r"\s{2,}", line.strip())[-1] for line in stdout.splitlines()[1:]]


@pytest.fixture(params=["url", "dynamodb"])
def remote(request, tmp_path):
    from tests.targets_fixtures import make_target

    return make_target(request.param, request, tmp_path)


def send_all(target, data: list[dict]) -> None:
    from tests.targets_fixtures import cli, jsonl

    result = cli(target.env, "send", "--file", "-", input=jsonl(data))
    assert result.exit_code == 0, result.output


def test_remote_targets_stream_every_entry_once_in_order(remote, monkeypatch):
    from tests.targets_fixtures import cli

    monkeypatch.setattr(entries_command, "FIRST_PAGE", 3)
    data = entries_at(60)
    send_all(remote, data)
    expected = [entry["message"] for entry in newest_first(data)]
    result = cli(remote.env, "recent", "-n", "100", "-o", "jsonl")
    assert result.exit_code == 0, result.output
    assert [line.split('"message": "')[1].split('"')[0] for line in result.stdout.splitlines()] == expected
    result = cli(remote.env, "recent", "-n", "59", "--utc", "--color", "never")
    assert result.exit_code == 0, result.output
    assert messages_shown(result.stdout) == expected[:59]


def test_a_dynamodb_search_stopped_at_its_bound_shows_what_it_found_and_how_to_go_on(monkeypatch, tmp_path, request):
    import shlex

    from logsvc import reading
    from logsvc.store.dynamodb import scan
    from tests.targets_fixtures import cli, make_target

    target = make_target("dynamodb", request, tmp_path)
    data = entries_at(80, per_instant=1)
    for entry in data[::8]:
        entry["message"] = "needle " + entry["message"]
    send_all(target, data)
    needles = [entry["message"] for entry in newest_first(data) if entry["message"].startswith("needle")]
    monkeypatch.setattr(entries_command, "FIRST_PAGE", 2)
    monkeypatch.setattr(scan, "MIN_SCAN", 4)  # a read of 2 examines 10 items: most reads stop at their bound
    found = cli(target.env, "recent", "--grep", "needle", "-n", "10", "--utc", "--color", "never")
    assert found.exit_code == 0, found.output
    assert messages_shown(found.stdout) == needles  # all 10, once, in order
    monkeypatch.setattr(reading, "MAX_EXAMINED", 40)  # half the table: the search stops
    monkeypatch.setattr(sys, "argv", ["logsvc", "recent", "--grep", "needle", "-n", "10", "--utc", "--color", "never"])
    stopped = cli(target.env, *sys.argv[1:])
    assert stopped.exit_code == 0, stopped.output
    shown = messages_shown(stopped.stdout)
    assert 0 < len(shown) < len(needles) and shown == needles[:len(shown)]
    note = stopped.stderr.strip().splitlines()[-1]
    assert note.startswith("stopped early: examined ") and f"found {len(shown)} of 10" in note
    rest = cli(target.env, *shlex.split(note.split("continue with: ", 1)[1])[1:])
    assert rest.exit_code == 0, rest.output
    assert messages_shown(rest.stdout)[:1] == needles[len(shown):len(shown) + 1]


def test_a_streamed_table_is_coloured_on_a_terminal_and_plain_under_no_color_or_in_a_pipe(tmp_path):
    count = entries_command.FIRST_PAGE * 3  # several pages in the real command
    fill(tmp_path / "s.db", entries_at(count, per_instant=1))
    args = ("recent", "--store", str(tmp_path / "s.db"), "-n", str(count))
    coloured = on_a_terminal(*args, env={})
    assert b"\x1b[1;31mERROR" in coloured and b"\x1b[36mINFO" in coloured
    plain = on_a_terminal(*args, env={"NO_COLOR": "1"})
    piped = subprocess.run([sys.executable, "-m", "logsvc", *args], capture_output=True, cwd=ROOT, timeout=60,
                           env={key: value for key, value in os.environ.items() if key != "NO_COLOR"}).stdout
    for output in (plain, piped):
        assert b"\x1b" not in output
        rows = [line for line in output.decode().splitlines() if ROW.match(line)]
        assert len(rows) == count and rows[0].rstrip().endswith(f"entry {count - 1}")
        assert rows[-1].rstrip().endswith("entry 0")
