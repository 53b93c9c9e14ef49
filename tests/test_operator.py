"""The operator's side (issue 9, items 15-20): flags with one meaning, pasteable serve lines,
no unexpected crashes, a display that cannot be forged, input and flags checked, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.errors import ExitCode
from tests.conftest import ROOT, run_logsvc

runner = CliRunner()


def invoke(*args: str, input: str | bytes | None = None, env: dict | None = None):
    return runner.invoke(app, list(args), input=input, env=env)


def iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat()


def send_at(message: str, when: datetime, *extra: str) -> None:
    result = invoke("send", "--time", iso(when), *extra, message)
    assert result.exit_code == 0, result.output


def messages(jsonl: str) -> list[str]:
    return [json.loads(line)["message"] for line in jsonl.splitlines()]


# -- 15: --since/--until mean the entries' time range in recent and tail; --for bounds a follow --------


def test_tail_until_bounds_the_entries_times_like_recent():
    now = datetime.now(timezone.utc)
    for minutes, name in ((180, "old-1"), (150, "old-2"), (90, "old-3"), (1, "new-1"), (0, "new-2")):
        send_at(name, now - timedelta(minutes=minutes))
    tail = invoke("tail", "--until", "1h", "-n", "2", "-o", "jsonl")
    assert tail.exit_code == 0, tail.output
    assert messages(tail.stdout) == ["old-2", "old-3"]  # the last two before the hour, oldest first
    recent = invoke("recent", "--until", "1h", "-n", "2", "-o", "jsonl")
    assert messages(recent.stdout) == ["old-3", "old-2"]
    ranged = invoke("tail", "--since", "160m", "--until", "1h", "-o", "jsonl")
    assert messages(ranged.stdout) == ["old-2", "old-3"]


def test_follow_with_until_keeps_to_the_range_and_for_bounds_how_long_it_runs():
    now = datetime.now(timezone.utc)
    send_at("an hour ago", now - timedelta(hours=1))
    send_at("just now", now)
    started = time.monotonic()
    result = invoke("tail", "-f", "--until", "30m", "--for", "0.8s", "--interval", "0.05", "-o", "jsonl")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert messages(result.stdout) == ["an hour ago"]
    assert elapsed >= 0.8  # it followed for the time asked, not zero


def test_for_and_bad_durations_name_their_flag():
    for flag in ("--for", "--idle-timeout"):
        result = invoke("tail", "-f", flag, "abc")
        assert result.exit_code == ExitCode.USAGE
        assert flag in result.stderr and "'abc'" in result.stderr
    assert invoke("tail", "--for", "5m").exit_code == ExitCode.USAGE  # goes with --follow


# -- 16: the lines serve prints configure curl and the CLI ----------------------------------------


def test_pasting_what_serve_prints_sends_and_reads_through_the_server(tmp_path):
    served = tmp_path / "served.db"
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "logsvc", "serve", "--port", "0", "--store", str(served)],
                                stdout=stdout, stderr=stderr, cwd=ROOT, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while "serving" not in err.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "serving" in err.read_text(), err.read_text()
        script = (f'eval "$(cat {out})"\n'
                  f'"{sys.executable}" -m logsvc send -s warning "pasted and sent"\n'
                  f'"{sys.executable}" -m logsvc recent -o jsonl\n'
                  'curl -s -X POST "$INGEST_URL" -H "Content-Type: application/json" '
                  '-d \'{"severity":"info","message":"from curl"}\' >/dev/null\n'
                  'curl -s "$READ_URL"\n')
        shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60,
                               env=dict(os.environ))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert shell.returncode == 0, shell.stderr
    lines = shell.stdout.splitlines()
    assert json.loads(lines[1])["message"] == "pasted and sent"  # recent read it back from the server
    assert {entry["message"] for entry in json.loads(lines[2])["logs"]} == {"pasted and sent", "from curl"}
    # Both went to the served store; the CLI's own local store was never created.
    assert not (Path(os.environ["LOGSVC_HOME"]) / "logs.db").exists()
    stored = run_logsvc("recent", "--store", str(served), "-o", "jsonl")
    assert sorted(messages(stored.stdout.decode())) == ["from curl", "pasted and sent"]


# -- 20: errors are one line and a hint --------------------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (["recent", "--bogus"], "No such option: --bogus"),
    (["recent", "-n", "x"], "'x'"),
    (["--bogus"], "No such option: --bogus"),
    (["config", "set"], "Missing argument"),
    (["bogus"], "No such command 'bogus'"),
])
def test_usage_errors_are_one_line_and_a_hint_not_a_panel(args, fragment):
    proc = run_logsvc(*args)
    assert proc.returncode == ExitCode.USAGE
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert lines[1].startswith("hint: ") and "--help" in lines[1]
    assert "╭" not in proc.stderr.decode()


def test_help_keeps_its_panels():
    proc = run_logsvc("recent", "--help")
    assert proc.returncode == 0 and "╭" in proc.stdout.decode()
    assert "Usage" in run_logsvc("config").stdout.decode()  # a group alone still shows its help


# -- 18: a display that cannot be forged, plain under NO_COLOR, true across DST ---------------------


def test_a_newline_in_a_message_cannot_forge_a_table_row():
    forged = "2026-01-01 00:00:00.000 ERROR   forged row"
    send_at(f"real message\n{forged}\rand\u2028more", datetime(2026, 1, 1, tzinfo=timezone.utc))
    table = invoke("recent", "--utc", "--color", "never").stdout
    rows = table.splitlines()[1:]
    assert len(rows) == 1, table
    assert rows[0].endswith("real message\\n" + forged + "\\rand\\u2028more")


def _all_invisible() -> str:
    import unicodedata

    return "".join(chr(code) for code in range(0x80, 0x110000)
                   if unicodedata.category(chr(code)) in ("Cf", "Zl", "Zp"))


def test_format_characters_and_line_separators_are_escaped_in_every_output():
    import unicodedata

    invisible = _all_invisible()
    assert "\u200b" in invisible and "\u2029" in invisible and "\U000e0041" in invisible
    message = "x" + invisible + "y"
    result = invoke("send", "-o", "json", message)
    assert result.exit_code == 0, result.output
    for output in ("table", "raw", "json", "jsonl"):
        shown = invoke("recent", "-o", output, "--color", "never").stdout
        leaked = {f"U+{ord(ch):04X}" for ch in shown if unicodedata.category(ch) in ("Cf", "Zl", "Zp")}
        assert not leaked, (output, sorted(leaked)[:10])
    assert json.loads(invoke("recent", "-o", "json").stdout)[0]["message"] == message  # still round-trips
    assert "\\u200b" in invoke("recent", "-o", "raw").stdout


def _on_a_terminal(*args: str, env: dict) -> bytes:
    """Run logsvc with stdout on a pseudo-terminal, as an operator's shell runs it."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", *args], stdout=secondary, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "TERM": "xterm-256color", **env})
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(primary)
    assert proc.returncode == 0, proc.stderr.read()
    return b"".join(chunks)


def test_no_color_means_no_ansi_at_all_on_a_terminal():
    send_at("boom", datetime.now(timezone.utc), "-s", "error")
    assert b"\x1b[" in _on_a_terminal("recent", env={})  # the terminal gets styles normally
    for args in (("recent",), ("tail",), ("recent", "-o", "raw")):
        shown = _on_a_terminal(*args, env={"NO_COLOR": "1"})
        assert b"boom" in shown and b"\x1b[" not in shown, (args, shown)


def _table_in_berlin(*times: str) -> list[str]:
    for number, when in enumerate(times):
        assert invoke("send", "--time", when, f"entry {number}").exit_code == 0
    proc = run_logsvc("recent", "--local", env={"TZ": "Europe/Berlin"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    return lines


@pytest.mark.parametrize("times, header, rows", [
    # Spring forward: 02:00 CET became 03:00 CEST.
    (("2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"), "Time (local)",
     ["2026-03-29 03:30:00.000 +02:00", "2026-03-29 01:30:00.000 +01:00"]),
    # Fall back: 02:30 happened twice, an hour apart; only the offset tells them apart.
    (("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"), "Time (local)",
     ["2026-10-25 02:30:00.000 +01:00", "2026-10-25 02:30:00.000 +02:00"]),
    # One side only: the header states that side's offset, whatever the offset is today.
    (("2026-07-01T10:00:00Z", "2026-07-01T11:00:00Z"), "Time (+02:00)",
     ["2026-07-01 13:00:00.000", "2026-07-01 12:00:00.000"]),
    (("2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"), "Time (+01:00)",
     ["2026-01-10 12:00:00.000", "2026-01-10 11:00:00.000"]),
])
def test_table_times_are_true_across_a_daylight_saving_change(times, header, rows):
    lines = _table_in_berlin(*times)
    assert lines[0].startswith(header)
    assert [line[:len(rows[0])] for line in lines[1:]] == rows
