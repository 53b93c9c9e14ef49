"""The command line on the local default: CliRunner for most cases, real subprocesses end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.errors import ExitCode
from tests.conftest import ROOT, run_logsvc
from tests.targets_fixtures import procs  # noqa: F401 - a fixture, used by name

runner = CliRunner()


def invoke(*args: str, input: str | bytes | None = None):
    return runner.invoke(app, list(args), input=input)


def recent_json(*args: str) -> list[dict]:
    result = invoke("recent", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_send_then_recent_shows_the_entry_with_normalised_fields():
    sent = invoke("send", "--severity", "ERR", "disk full")
    assert sent.exit_code == 0, sent.output
    entry_id = sent.stdout.strip()
    assert str(uuid.UUID(entry_id)) == entry_id
    [entry] = recent_json()
    assert entry["id"] == entry_id
    assert entry["severity"] == "error"
    assert entry["message"] == "disk full"
    assert entry["source"]  # the host name, filled in by the CLI
    assert entry["dateTime"].endswith("+00:00")


def test_send_output_json_is_the_stored_entry():
    result = invoke("send", "-o", "json", "--id", "6F9619FF-8B86-D011-B42D-00C04FC964FF",
                    "--time", "2026-01-02T03:04:05+02:00", "--source", "web-1", "hello")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert entry == {"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "dateTime": "2026-01-02T01:04:05.000000+00:00",
                     "severity": "info", "message": "hello", "source": "web-1"}
    assert recent_json() == [entry]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["send", "--time", "2026-01-01T00:00:00", "x"], "add 'Z'"),
        (["send", "--id", "not-a-uuid", "x"], "not a UUID"),
        (["send", "   "], "blank"),
    ],
)
def test_invalid_send_exits_3_with_one_clear_line_and_stores_nothing(args, fragment):
    result = invoke(*args)
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert recent_json() == []


def test_wrong_flag_is_a_usage_error():
    result = invoke("recent", "--bogus")
    assert result.exit_code == ExitCode.USAGE
    assert recent_json() == []


@pytest.mark.parametrize("args", [["recent", "--since", "yesterday"], ["recent", "--severity", "loud"],
                                  ["recent", "--grep", "(", "--regex"], ["tail", "--max-entries", "3"],
                                  ["send", "-s", "fatal", "x"]])
def test_bad_option_values_exit_2(args):
    result = invoke(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "error:" in result.stderr


def test_replaying_the_same_entry_stores_it_once_and_a_different_one_conflicts():
    args = ["send", "--id", str(uuid.uuid4()), "--time", "2026-03-01T00:00:00Z", "--source", "s", "same"]
    assert invoke(*args).exit_code == 0
    assert invoke(*args).exit_code == 0
    assert len(recent_json()) == 1
    clash = invoke(*args[:-1], "different")
    assert clash.exit_code == ExitCode.INVALID_INPUT
    assert "different content" in clash.stderr
    assert [e["message"] for e in recent_json()] == ["same"]


def _send_at(message: str, when: str, severity: str = "info") -> None:
    result = invoke("send", "--time", when, "-s", severity, message)
    assert result.exit_code == 0, result.output


def test_recent_filters_and_limits():
    _send_at("old info", "2026-01-01T00:00:00Z")
    _send_at("old error", "2026-01-01T00:01:00Z", "error")
    _send_at("mid warning", "2026-01-01T00:02:00Z", "warning")
    _send_at("new info", "2026-01-01T00:03:00Z")
    assert [e["message"] for e in recent_json()] == ["new info", "mid warning", "old error", "old info"]
    assert [e["message"] for e in recent_json("--limit", "2")] == ["new info", "mid warning"]
    assert [e["message"] for e in recent_json("--severity", "WARN")] == ["mid warning", "old error"]
    assert [e["message"] for e in recent_json("--since", "2026-01-01T00:01:00Z", "--until", "2026-01-01T00:03:00Z")] == [
        "mid warning", "old error"]
    assert [e["message"] for e in recent_json("--grep", "old")] == ["old error", "old info"]
    assert [e["message"] for e in recent_json("--grep", "^(mid|new) ", "--regex")] == ["new info", "mid warning"]


def test_relative_since_uses_the_current_time():
    _send_at("two hours ago", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200)))
    invoke("send", "just now")
    assert [e["message"] for e in recent_json("--since", "1h")] == ["just now"]
    assert len(recent_json("--since", "3h")) == 2


def test_jsonl_and_json_outputs_round_trip_awkward_messages():
    messages = ["quote \" and \\ backslash", "unicode ✓ é 日本", "tab\tnew\nline", "esc \x1b[2J", "c1 \x9b31m", "rtl \u202e"]
    for message in messages:
        assert invoke("send", message).exit_code == 0
    lines = invoke("recent", "-o", "jsonl").stdout.splitlines()
    assert len(lines) == len(messages)
    from_jsonl = [json.loads(line) for line in lines]
    assert sorted(e["message"] for e in from_jsonl) == sorted(messages)
    assert from_jsonl == recent_json()
    raw = invoke("recent", "-o", "jsonl").stdout
    assert "\x1b" not in raw and "\x9b" not in raw and "\u202e" not in raw


def test_messages_are_shown_literally_in_every_human_output():
    hostile = "[bold red]boom[/bold red] \x1b[2J\x1b[31mred\r\x07"
    assert invoke("send", "-s", "error", hostile).exit_code == 0
    for output in ("table", "raw"):
        for color in ("always", "never"):
            shown = invoke("recent", "-o", output, "--color", color).stdout
            assert "[bold red]boom[/bold red]" in shown
            assert "\\x1b[2J\\x1b[31mred\\r\\x07" in shown
            assert "\x1b[2J" not in shown and "\x1b[31mred" not in shown and "\r" not in shown and "\x07" not in shown


def test_colour_only_when_asked_or_on_a_terminal():
    invoke("send", "-s", "error", "boom")
    assert "\x1b[" in invoke("recent", "--color", "always").stdout
    assert "\x1b[" not in invoke("recent", "--color", "never").stdout
    assert "\x1b[" not in invoke("recent").stdout  # CliRunner's stdout is not a terminal


def test_no_color_environment_turns_colour_off(monkeypatch):
    invoke("send", "-s", "error", "boom")
    proc = run_logsvc("recent", env={"NO_COLOR": "1", "TERM": "xterm-256color"})
    assert proc.returncode == 0
    assert b"boom" in proc.stdout and b"\x1b[" not in proc.stdout


def test_table_fits_80_columns_and_wraps_long_messages(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    long = "word " * 60
    invoke("send", "-s", "warning", long.strip())
    table = invoke("recent", "--color", "never").stdout
    lines = table.splitlines()
    assert len(lines) > 3  # the message wrapped onto several lines
    assert all(len(line) <= 80 for line in lines)
    assert "WARNING" in table  # severities are not cut


def test_tail_without_follow_shows_the_last_n_oldest_first():
    for i in range(30):
        _send_at(f"m{i:02d}", f"2026-01-01T00:00:{i:02d}Z")
    result = invoke("tail", "-o", "jsonl")
    messages = [json.loads(line)["message"] for line in result.stdout.splitlines()]
    assert messages == [f"m{i:02d}" for i in range(10, 30)]
    result = invoke("tail", "-n", "3", "-o", "raw", "--utc")
    assert [line.split(None, 2)[2] for line in result.stdout.splitlines()] == ["m27", "m28", "m29"]
    assert result.stdout.splitlines()[0].startswith("2026-01-01T00:00:27.000000Z INFO")


def test_bounded_follow_ends_by_itself_on_idle_timeout_and_for():
    invoke("send", "before")
    started = time.monotonic()
    result = invoke("tail", "-f", "-n", "0", "--interval", "0.05", "--idle-timeout", "0.3s", "-o", "jsonl")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert time.monotonic() - started < 5
    result = invoke("tail", "-f", "-n", "1", "--interval", "0.05", "--for", "1s", "-o", "jsonl")
    assert result.exit_code == 0
    assert [json.loads(line)["message"] for line in result.stdout.splitlines()] == ["before"]


def test_bulk_file_all_or_nothing_with_line_numbers(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"severity":"info","message":"one"}\n\n{"severity":"bad","message":"two"}\nnot json\n'
                    '{"severity":"error","message":"four","sevrity":"x"}\n{"severity":"warn","message":"five"}\n')
    result = invoke("send", "--file", str(path))
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "line 3:" in result.stderr and "line 4:" in result.stderr and "line 5:" in result.stderr
    assert "line 1:" not in result.stderr and "line 6:" not in result.stderr
    assert "'sevrity'" in result.stderr
    assert recent_json() == []
    result = invoke("send", "--file", str(path), "--skip-invalid")
    assert result.exit_code == 0
    assert "stored 2" in result.stderr and "skipped 3" in result.stderr
    assert sorted(e["message"] for e in recent_json()) == ["five", "one"]


def test_bulk_stdin_plain_lines_and_replay_is_idempotent(tmp_path):
    result = invoke("send", "-", "--lines", "-s", "warning", input="alpha\nbeta\n\ngamma\n")
    assert result.exit_code == 0, result.output
    entries = recent_json()
    assert sorted(e["message"] for e in entries) == ["alpha", "beta", "gamma"]
    assert {e["severity"] for e in entries} == {"warning"}
    path = tmp_path / "again.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    result = invoke("send", "--file", str(path))
    assert result.exit_code == 0
    assert "stored 0, already stored 3" in result.stderr
    assert len(recent_json()) == 3


def test_missing_bulk_file_is_a_usage_error(tmp_path):
    result = invoke("send", "--file", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == ExitCode.USAGE
    assert "nope.jsonl" in result.stderr


def test_corrupt_store_names_the_path(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = invoke("recent", "--store", str(bad))
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert str(bad) in result.stderr
    assert "Traceback" not in result.output


def test_store_flag_and_logsvc_home_move_the_store(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "x.db"
    assert invoke("send", "--store", str(other), "in other").exit_code == 0
    assert other.exists()
    assert recent_json() == []
    assert [e["message"] for e in recent_json("--store", str(other))] == ["in other"]


def test_version_names_logsvc_python_and_botocore_for_bug_reports():
    import platform
    from importlib import metadata

    from logsvc import __version__

    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"logsvc {__version__}", f"Python {platform.python_version()}",
                                          f"botocore {metadata.version('botocore')}"]


def test_help_lists_the_commands_in_panels():
    import re

    result = invoke("--help")
    assert result.exit_code == 0, result.output
    panels: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if title := re.match(r"╭─ (\w+) ", line):
            current = panels.setdefault(title[1], [])
        elif row := re.match(r"│ ([a-z]\S*)\s{2,}", line):
            current.append(row[1])
    assert {name: panels[name] for name in ("Entries", "Spool", "Service", "Setup")} == {
        "Entries": ["send", "recent", "tail"], "Spool": ["status", "flush"],
        "Service": ["serve", "deploy", "diff", "outputs", "destroy", "table"], "Setup": ["doctor", "config"]}


# -- real processes ------------------------------------------------------------------------------


def test_end_to_end_quick_start_in_subprocesses():
    sent = run_logsvc("send", "--severity", "error", "disk almost full")
    assert sent.returncode == 0, sent.stderr
    shown = run_logsvc("recent")
    assert shown.returncode == 0
    assert b"disk almost full" in shown.stdout and b"ERROR" in shown.stdout


def start_follower(procs, *args: str):
    """`tail -f -n 1` after a marker entry: printing the marker shows it has its starting cursor.

    The follower prints the newest past entry only once `recent` has returned it with the cursor
    it then follows, so whatever is sent after the marker line appears is after that cursor.
    Waiting for the line (with a deadline) replaces guessing how long start-up takes.
    """
    marker = f"marker {uuid.uuid4()}"
    assert run_logsvc("send", marker).returncode == 0
    # PYTHONUNBUFFERED unset: the lines must come through the pipe because logsvc flushes them.
    follower = procs({"PYTHONUNBUFFERED": None}, "tail", "-f", "-n", "1", "--interval", "0.05", "-o", "jsonl", *args)
    follower.wait_for(lambda: len(follower.out) >= 1, 60, "the follower to print the marker")
    assert json.loads(follower.out[0])["message"] == marker
    return follower


def test_follow_sees_every_entry_from_another_process_exactly_once_in_order(procs):
    follower = start_follower(procs, "--max-entries", "60")
    writers = [
        subprocess.Popen([sys.executable, "-m", "logsvc", "send", "-", "--lines"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ))
        for _ in range(3)
    ]
    for n, writer in enumerate(writers):
        writer.communicate("".join(f"w{n}-{i:02d}\n" for i in range(20)).encode(), timeout=60)
        assert writer.returncode == 0
    assert follower.wait(60) == 0, follower.err
    messages = [entry["message"] for entry in follower.entries()[1:]]  # after the marker
    assert len(messages) == 60 and len(set(messages)) == 60
    for n in range(3):
        mine = [m for m in messages if m.startswith(f"w{n}-")]
        assert mine == sorted(mine)  # each writer's entries in the order it wrote them


def test_follow_jsonl_is_flushed_line_by_line_into_a_pipe(procs):
    follower = start_follower(procs)  # the marker line already came through the pipe on its own
    assert run_logsvc("send", "first").returncode == 0
    # A line held in a buffer would never come while the follower runs: the deadline bounds a failure.
    follower.wait_for(lambda: len(follower.out) >= 2, 60, "the followed line")
    assert json.loads(follower.out[1])["message"] == "first"
    follower.interrupt()  # Ctrl-C
    assert follower.wait(30) == ExitCode.INTERRUPTED
    assert not any("Traceback" in line for line in follower.err)


def test_a_bug_is_one_line_naming_it_and_debug_shows_the_traceback(monkeypatch):
    import logsvc.targets

    def broken(settings, **options):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(logsvc.targets, "open_store", broken)
    result = invoke("recent")
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.splitlines()[0] == "error: unexpected ZeroDivisionError: simulated bug"
    assert "--debug" in result.stderr and "Traceback" not in result.stderr
    debug = runner.invoke(app, ["--debug", "recent"])
    assert isinstance(debug.exception, ZeroDivisionError)
    after = runner.invoke(app, ["recent", "--debug"])
    assert isinstance(after.exception, ZeroDivisionError)


@pytest.mark.parametrize("args", [["--debug", "recent", "--since", "zz"], ["recent", "--debug", "--since", "zz"],
                                  ["recent", "--since", "zz", "--debug"]])
def test_debug_before_or_after_the_command_shows_the_traceback_and_keeps_the_exit_code(args):
    plain = run_logsvc("recent", "--since", "zz")
    assert plain.returncode == ExitCode.USAGE
    assert b"Traceback" not in plain.stderr
    debug = run_logsvc(*args)
    assert debug.returncode == ExitCode.USAGE, debug.stderr
    assert b"Traceback" in debug.stderr and b"UsageError" in debug.stderr
    assert debug.stderr.decode().splitlines()[-len(plain.stderr.splitlines()):] == plain.stderr.decode().splitlines()


def test_debug_after_a_sub_command_of_a_group():
    result = invoke("config", "unset", "region", "--debug")
    assert result.exit_code == ExitCode.USAGE
    assert "Traceback" in result.stderr and "is not set in profile default" in result.stderr


@pytest.mark.parametrize(
    "words, cword, expected",
    [("logsvc re", 1, ["recent"]), ("logsvc recent --output ", 3, ["table", "json", "jsonl", "raw"]),
     ("logsvc tail --fol", 2, ["--follow"]), ("logsvc config set tab", 3, ["table"]),
     ("logsvc config unset re", 3, ["read_url", "region", "retention_days", "reserved_concurrency"]),
     ("logsvc config set target ", 4, ["local", "url", "dynamodb"]), ("logsvc config set alarms o", 4, ["on", "off"])],
)
def test_shell_completion_offers_commands_options_and_choices(words, cword, expected):
    script = Path(sys.executable).parent / "logsvc"  # the installed console script names the completion
    proc = subprocess.run([str(script)], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "_LOGSVC_COMPLETE": "complete_bash", "COMP_WORDS": words,
                               "COMP_CWORD": str(cword)})
    assert proc.returncode == 0
    assert proc.stdout.split() == expected
