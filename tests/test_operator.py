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
