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
from tests.conftest import ROOT, on_a_terminal, run_logsvc

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


def test_no_color_means_no_ansi_at_allon_a_terminal():
    send_at("boom", datetime.now(timezone.utc), "-s", "error")
    assert b"\x1b[" in on_a_terminal("recent", env={})  # the terminal gets styles normally
    for args in (("recent",), ("tail",), ("recent", "-o", "raw")):
        shown = on_a_terminal(*args, env={"NO_COLOR": "1"})
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


# -- 19: input and flags ---------------------------------------------------------------------------


def recent_entries(*args: str) -> list[dict]:
    result = invoke("recent", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bulk_severity_is_the_default_for_lines_without_one(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"message": "no level"}\n{"message": "has one", "severity": "warning"}\n')
    without = invoke("send", "--file", str(path))
    assert without.exit_code == ExitCode.INVALID_INPUT  # no -s: a line without severity is still invalid
    assert recent_entries() == []
    result = invoke("send", "--file", str(path), "-s", "error")
    assert result.exit_code == 0, result.output
    assert {e["message"]: e["severity"] for e in recent_entries()} == {"no level": "error", "has one": "warning"}


def test_bulk_output_json_and_id_print_the_entries_sent(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"message": "one", "severity": "info"}\n{"message": "two", "severity": "error"}\n')
    result = invoke("send", "--file", str(path), "-o", "json")
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(printed, key=lambda e: e["message"]) == sorted(recent_entries(), key=lambda e: e["message"])
    ids = invoke("send", "-", "--lines", "-o", "id", input="three\nfour\n").stdout.split()
    stored = {e["message"]: e["id"] for e in recent_entries()}
    assert ids == [stored["three"], stored["four"]]
    assert invoke("send", "--file", str(path)).stdout == ""  # no -o: the summary on stderr only


@pytest.mark.parametrize("flag", ["--lines", "--skip-invalid"])
def test_bulk_flags_with_a_single_message_are_a_usage_error(flag):
    result = invoke("send", flag, "just one")
    assert result.exit_code == ExitCode.USAGE
    assert flag in result.stderr
    assert recent_entries() == []


def test_plain_text_on_stdin_suggests_lines():
    result = invoke("send", "-", input="server started\nlistening on 8080\n")
    assert result.exit_code == ExitCode.INVALID_INPUT
    hint = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert len(hint) == 1 and "--lines" in hint[0]
    assert recent_entries() == []


def test_json_lines_without_a_severity_suggest_the_severity_option():
    lines = '{"message": "no level"}\n{"message": "leveled", "severity": "error"}\n'
    result = invoke("send", "-", input=lines)
    assert result.exit_code == ExitCode.INVALID_INPUT
    hint = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert len(hint) == 1 and "--severity LEVEL" in hint[0], result.stderr
    assert recent_entries() == []
    assert invoke("send", "-", "-s", "warning", input=lines).exit_code == 0  # what the hint says works
    assert sorted((e["message"], e["severity"]) for e in recent_entries()) == [("leveled", "error"), ("no level", "warning")]


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"message": "first", "severity": "info"}\n{"message": "second", "severity": "info"}\n')
    assert invoke("send", "--file", str(path)).exit_code == 0
    assert invoke("send", "-", "--lines", input="\ufeffplain first\nplain second\n".encode()).exit_code == 0
    assert sorted(e["message"] for e in recent_entries()) == ["first", "plain first", "plain second", "second"]


@pytest.mark.parametrize("args", [["send", "-s", "critical", "x"], ["send", "-", "--lines", "-s", "critical"]])
def test_a_bad_severity_option_is_a_usage_error(args):
    result = invoke(*args, input="x\n")
    assert result.exit_code == ExitCode.USAGE
    assert "--severity" in result.stderr and "critical" in result.stderr
    assert recent_entries() == []


@pytest.mark.parametrize("args", [["use", ""], ["use", "bad name/x"], ["set", "shards", "0"], ["set", "shards", "x"],
                                  ["set", "region", "eu west"], ["set", "table", "a b"],
                                  ["set", "region", "eu-west-1", "--profile", "a/b"]])
def test_config_rejects_bad_names_and_values(args):
    config = Path(os.environ["LOGSVC_HOME"]) / "config.toml"
    result = invoke("config", *args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("error: ")
    assert not config.exists()  # nothing written
    assert invoke("config", "set", "region", "eu-west-1").exit_code == 0  # the shape a good one has


@pytest.mark.parametrize("where", ["flag", "env", "profile"])
def test_a_bad_table_name_is_refused_with_its_origin_wherever_it_comes_from(where, monkeypatch):
    args, origin = ["recent", "--target", "dynamodb", "--region", "eu-west-1"], ""
    if where == "flag":
        args += ["--table", "logs;drop"]
        origin = "(flag)"
    elif where == "env":
        monkeypatch.setenv("LOGSVC_TABLE", "logs;drop")
        origin = "(env LOGSVC_TABLE)"
    else:
        config = Path(os.environ["LOGSVC_HOME"]) / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('current = "default"\n[profiles.default]\ntable = "lo"\n')  # too short: 3 or more
        origin = "(profile default)"
    result = invoke(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "is not a DynamoDB table name" in result.stderr and origin in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["send", "--source", "", "x"], ["send", "--source", "  ", "x"],
                                  ["send", "-", "--lines", "--source", ""]])
def test_a_blank_source_is_a_usage_error_not_the_host_name(args):
    result = invoke(*args, input="x\n")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--source must not be blank" in result.stderr
    assert recent_entries() == []


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path):
    typo = tmp_path / "typo" / "dir" / "logs.db"
    for command in (("recent",), ("tail",), ("tail", "-f", "--for", "1s")):
        result = invoke(*command, "--store", str(typo))
        assert result.exit_code == ExitCode.UNAVAILABLE, result.output
        assert "does not exist" in result.stderr
    assert not (tmp_path / "typo").exists()
    assert invoke("recent").exit_code == 0  # the default store is still made on first use


def _without_write_permission() -> list[str]:
    """A command prefix under which the folder permissions hold: as root, drop the override."""
    if os.geteuid() != 0:
        return []
    import shutil

    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be made to hold")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_a_store_in_a_read_only_folder_can_be_read(tmp_path):
    folder = tmp_path / "ro"
    store = folder / "logs.db"
    assert invoke("send", "--store", str(store), "kept for reading").exit_code == 0
    folder.chmod(0o555)
    try:
        probe = subprocess.run([*_without_write_permission(), sys.executable, "-c",
                                f"open({str(folder / 'probe')!r}, 'w')"], capture_output=True)
        assert probe.returncode != 0  # the folder really is read-only for the command below
        proc = subprocess.run([*_without_write_permission(), sys.executable, "-m", "logsvc", "recent", "-o", "jsonl",
                               "--store", str(store)], capture_output=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert messages(proc.stdout.decode()) == ["kept for reading"]


@pytest.mark.parametrize("command", ["recent", "tail"])
def test_an_empty_time_range_is_a_usage_error(command):
    result = invoke(command, "--since", "1h", "--until", "2h")
    assert result.exit_code == ExitCode.USAGE
    assert "--since" in result.stderr and "--until" in result.stderr


# -- 17: no unexpected crashes ---------------------------------------------------------------------


def test_config_set_in_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    # A read-only folder, with the permission really holding (as root too).
    home = tmp_path / "ro-home"
    home.mkdir()
    home.chmod(0o555)
    try:
        proc = subprocess.run([*_without_write_permission(), sys.executable, "-m", "logsvc", "config", "use", "prod"],
                              capture_output=True, cwd=ROOT, env={**os.environ, "LOGSVC_HOME": str(home)}, timeout=60)
    finally:
        home.chmod(0o755)
    assert proc.returncode == ExitCode.USAGE, proc.stderr
    assert proc.stderr.decode().startswith("error: cannot write the config file") and b"unexpected" not in proc.stderr
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("where", ["missing", "file"])
def test_a_cursor_that_cannot_be_saved_is_refused_before_following(tmp_path, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cursor = (tmp_path / "nonexistent" / "dir" / "cur") if where == "missing" else blocker / "cur"
    started = time.monotonic()
    result = invoke("tail", "-f", "--cursor", str(cursor), "--interval", "0.05", "--for", "20s")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--cursor" in result.stderr and "unexpected" not in result.stderr
    assert time.monotonic() - started < 10  # refused up front, not after following


def _unread(pipe) -> int:
    """Bytes written to `pipe` that its reader has not read yet (Linux answers for either end)."""
    import fcntl
    import struct
    import termios

    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def test_ctrl_c_during_a_bulk_send_is_quiet_and_stores_nothing():
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", "send", "-", "--lines"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ))
    proc.stdin.write(b"a line\n" * 5000)
    proc.stdin.flush()
    # Once the pipe is empty the send has read every line inside its bulk write and waits for more
    # (stdin stays open). A fixed pause could end during a loaded machine's start-up instead, and
    # the test would quietly check Ctrl-C at start-up (the test below) rather than this case.
    deadline = time.monotonic() + 60
    while _unread(proc.stdin) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _unread(proc.stdin) == 0 and proc.poll() is None, "the send did not read its input"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()
    assert recent_entries() == []


def test_ctrl_c_during_start_up_exits_130_without_a_traceback():
    # Deterministic: the interrupt arrives while the command line's imports are running.
    code = ("import builtins, os, runpy, signal, sys\n"
            "real_import = builtins.__import__\n"
            "def interrupting(name, *args, **kwargs):\n"
            "    if name == 'typer':\n"
            "        builtins.__import__ = real_import\n"
            "        os.kill(os.getpid(), signal.SIGINT)\n"
            "    return real_import(name, *args, **kwargs)\n"
            "builtins.__import__ = interrupting\n"
            "sys.argv = ['logsvc', 'recent']\n"
            "runpy.run_module('logsvc', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, proc.stderr
    assert b"Traceback" not in proc.stderr and b"KeyboardInterrupt" not in proc.stderr


# -- 20 (continued): hints that name the cause, one retry policy, a true outage notice --------------


AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_stopped_dynamodb_endpoint_is_named_with_a_hint():
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    result = invoke("recent", "--table", "logs", "--endpoint-url", endpoint, env=AWS_ENV)
    assert result.exit_code == ExitCode.UNAVAILABLE
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: cannot connect to {endpoint}")
    assert "EndpointConnectionError" not in error and "failed after" not in error
    assert hint.startswith("hint: ") and "running" in hint


def test_an_unknown_host_says_dns_on_both_remote_targets():
    dynamodb = invoke("recent", "--table", "logs", "--endpoint-url", "http://no-such-host.invalid:8000", env=AWS_ENV)
    url = invoke("recent", env={"LOGSVC_TARGET": "url", "LOGSVC_READ_URL": "http://no-such-host.invalid/read",
                                "LOGSVC_INGEST_URL": "http://no-such-host.invalid/ingest"})
    for result in (dynamodb, url):
        assert result.exit_code == ExitCode.USAGE, result.output  # a configuration mistake, not an outage
        assert "DNS" in result.stderr and "throttled" not in result.stderr


class _Silent:
    """A TCP server that reads each request and never answers: every try ends in a read timeout."""

    def __init__(self) -> None:
        import socket
        import threading

        self.requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._held: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._held.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if b"\r\n\r\n" in data:
                self.requests += 1

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@pytest.mark.parametrize("target", ["url", "dynamodb"])
def test_one_retry_policy_bounds_both_remote_targets(monkeypatch, target):
    import logsvc.retry

    # The second try must start inside the window even when the first one also paid for a loaded
    # machine's lazy client set-up (up to 0.75 s here); a third can never fit.
    policy = logsvc.retry.RetryPolicy(attempts=5, seconds=2.0, connect_timeout=0.5, read_timeout=1.2)
    monkeypatch.setattr(logsvc.retry, "REMOTE", policy)
    silent = _Silent()
    try:
        env = ({"LOGSVC_TARGET": "url", "LOGSVC_READ_URL": f"{silent.url}/read", "LOGSVC_INGEST_URL": f"{silent.url}/ingest"}
               if target == "url" else {**AWS_ENV, "LOGSVC_TARGET": "dynamodb", "LOGSVC_TABLE": "logs",
                                        "LOGSVC_ENDPOINT_URL": silent.url})
        started = time.monotonic()
        result = invoke("recent", env=env)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert result.exit_code == ExitCode.UNAVAILABLE, result.output
    assert "did not answer in time" in result.stderr
    # A try of 1.2 s, a short pause, a second one; then the 2 s window is spent: two tries, not five.
    assert silent.requests == 2, (silent.requests, result.stderr)
    assert "2 attempts" in result.stderr
    assert elapsed < policy.longest + 2


def test_the_default_policy_is_the_one_the_readme_states():
    from logsvc.retry import REMOTE

    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (f"at most {REMOTE.attempts} tries within {REMOTE.seconds:.0f} s" in readme
            and f"{REMOTE.connect_timeout:.0f} s to connect and {REMOTE.read_timeout:.0f} s" in readme)


def test_the_outage_notice_of_a_tail_never_says_retrying_in_0s(monkeypatch, tmp_path):
    import threading

    import logsvc.output
    import logsvc.retry
    from logsvc.handler import read
    from logsvc.serve import LocalServer
    from logsvc.store.sqlite import SQLiteStore

    monkeypatch.setattr(logsvc.retry, "REMOTE", logsvc.retry.RetryPolicy(attempts=1, seconds=0.5,
                                                                         connect_timeout=0.5, read_timeout=0.5))
    # The server goes away once the follower polls (its second read, after the start-up read),
    # not after a fixed time: a loaded machine's start-up could take longer and then fail the
    # first read instead. The operator presses Ctrl-C after a few notices (0.05 s, 0.1 s, 0.2 s).
    reads, polling = [], threading.Event()

    def read_then_go_away(event, store):
        reads.append(event)
        if len(reads) == 2:
            polling.set()
        return read.handle(event, store)

    server = LocalServer(SQLiteStore(tmp_path / "served.db"), read_handle=read_then_go_away).start()
    env = {"LOGSVC_TARGET": "url", "LOGSVC_READ_URL": server.read_url, "LOGSVC_INGEST_URL": server.ingest_url}
    stopper = threading.Thread(target=lambda: (polling.wait(60), server.stop()))
    stopper.start()
    real_notice, heard = logsvc.output.notice, []

    def notice_then_ctrl_c(message, **options):
        real_notice(message, **options)
        heard.append(message)
        if len(heard) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(logsvc.output, "notice", notice_then_ctrl_c)
    try:
        # --for only bounds a failure (no notice at all): the test ends at the third notice.
        result = invoke("tail", "-f", "-n", "0", "--interval", "0.05", "--for", "60s", env=env)
    finally:
        polling.set()
        stopper.join()
    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    notices = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert notices, result.stderr
    assert "retrying in 0.05s" in notices[0]
    assert not any(line.endswith("retrying in 0s") for line in notices)
