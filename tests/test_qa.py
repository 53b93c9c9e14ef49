"""Found by using logsvc as a new operator and a hostile client would: each test a bug fixed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_logsvc
from tests.dynamo_fixtures import moto_endpoint  # noqa: F401 - a fixture, used by name


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60, cwd=ROOT)


_DICT_CONFIG = """
import logging.config, sys
logging.config.dictConfig({  # uncaught, as in an application: the traceback keeps the handler alive
    "version": 1,
    "handlers": {"logsvc": {"class": "logsvc.logging.LogsvcHandler", "ingest_url": sys.argv[1],
                            "auth": sys.argv[2], "level": sys.argv[3]}},
    "root": {"level": "INFO", "handlers": ["logsvc"]},
})
"""


def test_a_handler_refused_by_dictconfig_leaves_nothing_to_fail_at_exit():
    # A bad URL, auth or level is a ValueError from dictConfig; the half-built handler used to stay
    # registered with logging, whose shutdown then raised AttributeError ('no attribute timeout').
    for args, reason in [(("notaurl", "none", "INFO"), "is not a URL"),
                         (("http://127.0.0.1:9/", "bogus", "INFO"), "auth 'bogus'"),
                         (("http://127.0.0.1:9/", "none", "LOUD"), "LOUD")]:
        result = _python(_DICT_CONFIG, *args)
        assert result.returncode == 1
        assert "ValueError: Unable to configure handler 'logsvc'" in result.stderr
        assert reason in result.stderr
        assert "Exception ignored" not in result.stderr, result.stderr
        assert "AttributeError" not in result.stderr


def test_config_show_keeps_its_columns_aligned_for_long_keys_and_values(tmp_path):
    # `ingest_alarm_threshold` and friends are longer than the 13 characters the key column had,
    # and a store path can be longer than 50: every row used to shift by the difference.
    long_store = tmp_path / ("a-rather-long-folder-name-for-the-store" * 2) / "logs.db"
    assert run_logsvc("config", "set", "store", str(long_store)).returncode == 0
    assert run_logsvc("config", "set", "ingest_alarm_threshold", "500").returncode == 0
    shown = run_logsvc("config", "show")
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.decode().splitlines()[1:]
    # Columns are separated by two spaces or more; a cell (`profile default`) has single spaces.
    starts = {tuple(m.start() for m in re.finditer(r"\S+(?: \S+)*", row)) for row in rows}
    assert len(starts) == 1 and len(next(iter(starts))) == 3, rows
    assert any(row.split()[:2] == ["store", str(long_store)] for row in rows)


def test_threshold_without_fail_on_is_a_usage_error_not_a_silent_pass():
    # `--threshold 10` alone counted nothing and exited 0: a cron alert that can never fire.
    assert run_logsvc("send", "-s", "error", "disk full").returncode == 0
    for command in ("recent", "stats"):
        alone = run_logsvc(command, "--threshold", "1")
        assert alone.returncode == 2, (command, alone.stderr)
        assert alone.stderr.decode().splitlines()[0] == "error: --threshold goes with --fail-on"
        assert alone.stdout == b""  # refused before reading anything
        assert run_logsvc(command, "--fail-on", "error", "--threshold", "1").returncode == 7
        assert run_logsvc(command, "--fail-on", "error").returncode == 7  # the default threshold is 1
        assert run_logsvc(command, "--fail-on", "error", "--threshold", "2").returncode == 0


def _config_file(text: str) -> None:
    from logsvc.config import config_path

    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(text)


def test_a_hand_edited_config_that_is_toml_but_not_a_config_is_a_usage_error():
    # These were "unexpected AttributeError/TypeError" (exit 1, "please report it").
    for text in ("profiles = 3\n", "[profiles]\ndefault = 3\n", "current = 5\n"):
        _config_file(text)
        result = run_logsvc("recent")
        assert result.returncode == 2, (text, result.stderr)
        assert result.stderr.decode().startswith("error: the config file "), result.stderr
        assert b"unexpected" not in result.stderr


def test_a_misspelt_setting_or_current_profile_is_refused_not_replaced_by_the_default():
    # `targte = "url"` used to be ignored: the entry went to the local store, exit 0.
    _config_file('current = "prod"\n[profiles.prod]\ntargte = "url"\n')
    result = run_logsvc("send", "meant for prod")
    assert result.returncode == 2
    assert "unknown setting 'targte'" in result.stderr.decode()
    assert run_logsvc("config", "unset", "targte").returncode == 0  # the hint's way out
    # A `current` naming no profile used to resolve silently to all defaults.
    _config_file('current = "prdo"\n[profiles.prod]\ntarget = "url"\n')
    result = run_logsvc("send", "meant for prod")
    assert result.returncode == 2
    assert "the current profile 'prdo'" in result.stderr.decode()
    assert run_logsvc("config", "use", "prod").returncode == 0  # the hint's way out still works
    assert run_logsvc("recent", "--target", "local", "-o", "json").stdout == b"[]\n"  # nothing stored locally


def test_export_into_a_missing_folder_is_a_usage_error_before_anything_is_written(tmp_path):
    # Both were "unexpected FileNotFoundError" (exit 1); the --cursor case after creating --out.
    assert run_logsvc("send", "one entry").returncode == 0
    missing = tmp_path / "no-such-folder"
    out = tmp_path / "out.jsonl"
    for args, flag in [(["--out", str(missing / "x.jsonl")], "--out"),
                       (["--out", str(out), "--cursor", str(missing / "x.cursor")], "--cursor")]:
        result = run_logsvc("export", "--since", "1h", *args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.decode().startswith(f"error: {flag} {missing}"), result.stderr
        assert not out.exists()
    result = run_logsvc("export", "--since", "1h", "--out", str(out), "--cursor", str(tmp_path / "x.cursor"))
    assert result.returncode == 0 and out.read_text().count("\n") == 1


def test_serve_auth_iam_without_credentials_exits_4_like_every_other_aws_path():
    # It was exit 1, which the README keeps for unexpected errors ("please report it").
    result = run_logsvc("serve", "--port", "0", "--auth", "iam", timeout=30)
    assert result.returncode == 4, result.stderr
    assert result.stderr.decode().startswith("error: no AWS credentials found")
    assert result.stdout == b""  # no export lines for a server that never started


class _FixedJson:
    """A loopback HTTP server answering every GET with one JSON body: a proxy, or another service."""

    def __init__(self, body: str) -> None:
        import http.server
        import threading

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.body = body
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_GOOD = {"id": "6f1c8a52-3b8e-4e0f-9a51-1d2b3c4d5e6f", "dateTime": "2026-11-28T12:00:00.000000+00:00",
         "severity": "info", "message": "fine"}


@pytest.mark.parametrize("scanned", ["lots", -3, True, 1.5, None])
def test_a_read_answer_with_a_nonsense_scanned_count_is_read_without_it(scanned):
    # A truncated page whose "scanned" was not a count crashed the sum behind "stopped early"
    # ("unexpected TypeError", exit 1).
    import json

    before = f"2026-11-28T11:00:00.000000+00:00#{_GOOD['id']}"
    server = _FixedJson(json.dumps({"count": 1, "logs": [_GOOD], "cursor": "s1", "truncated": True,
                                    "scanned": scanned, "before": before}))
    try:
        env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": server.url, "LOGSVC_READ_URL": server.url}
        result = run_logsvc("recent", "-n", "5", "-o", "jsonl", env=env)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["id"] == _GOOD["id"]
    assert b"unexpected" not in result.stderr and b"Traceback" not in result.stderr


def test_the_url_target_refuses_a_read_answer_whose_entries_are_not_entries():
    # Each was "unexpected KeyError/TypeError/ValueError" (exit 1), or with -o jsonl printed as
    # if it were an entry: {"bad": 1}, or a string's letters one a line.
    import json

    bad_logs = [[{"bad": 1}], "nope", [{**_GOOD, "message": 5}], [{**_GOOD, "dateTime": "garbage"}],
                [{**_GOOD, "severity": "fatal"}], [{**_GOOD, "dateTime": "2026-11-28T12:00:00"}], [7]]
    server = _FixedJson("")
    try:
        env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": server.url, "LOGSVC_READ_URL": server.url}
        for logs in bad_logs:
            server.body = json.dumps({"count": 1, "logs": logs, "cursor": "s1", "truncated": False, "next": None})
            for command in (["recent"], ["recent", "-o", "jsonl"], ["tail"], ["export", "--since", "1h"]):
                result = run_logsvc(*command, env=env)
                assert result.returncode == 4, (logs, command, result.stderr)
                assert b"answered with entries that are not logsvc entries" in result.stderr
                assert result.stdout == b""
        server.body = json.dumps({"buckets": 5, "since": "x", "until": "y"})
        result = run_logsvc("stats", env=env)
        assert result.returncode == 4 and b"not counts" in result.stderr, result.stderr
        server.body = json.dumps({"count": 1, "logs": [_GOOD], "cursor": "s1", "truncated": False})
        result = run_logsvc("recent", "-o", "jsonl", env=env)  # a real entry still passes
        assert result.returncode == 0 and json.loads(result.stdout) == _GOOD
    finally:
        server.close()


def test_version_into_a_reader_that_went_away_exits_0_like_the_commands_do():
    # `logsvc --version | head -c 0`: click's EPIPE handling made it exit 1.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run([sys.executable, "-m", "logsvc", "--version"], stdout=writer,
                                stderr=subprocess.PIPE, env=dict(os.environ), timeout=60, cwd=ROOT)
    finally:
        os.close(writer)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""


def _with_closed(stream_redirect: str, *args: str) -> subprocess.CompletedProcess:
    import shlex

    command = " ".join(shlex.quote(part) for part in (sys.executable, "-m", "logsvc", *args))
    return subprocess.run(["sh", "-c", f"exec {command} {stream_redirect}"], capture_output=True,
                          env=dict(os.environ), timeout=60, cwd=ROOT)


def test_a_closed_standard_stream_is_not_an_unexpected_error():
    # Each was "unexpected AttributeError: 'NoneType' object has no attribute ..." and exit 1;
    # `send x >&-` stored the entry and still said it failed.
    sent = _with_closed(">&-", "send", "stdout closed")
    assert sent.returncode == 0, sent.stderr
    assert run_logsvc("recent", "--grep", "stdout closed", "-o", "jsonl").stdout.count(b"\n") == 1
    assert _with_closed("2>&-", "recent", "--store", "/nonexistent/logs.db").returncode == 4
    from_nothing = _with_closed("<&-", "send", "-")
    assert from_nothing.returncode == 0 and b"stored 0" in from_nothing.stderr
    asked = _with_closed("<&-", "destroy")  # no stdin: not a terminal to ask on
    assert asked.returncode == 2 and b"no terminal to ask" in asked.stderr


def test_config_set_store_keeps_a_relative_path_as_the_file_it_named(tmp_path):
    # `config set store rel.db` was saved as "rel.db": later commands in other folders used
    # (or, reading, could not find) a different rel.db in each.
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    env = dict(os.environ)

    def logsvc_in(folder, *args):
        return subprocess.run([sys.executable, "-m", "logsvc", *args], capture_output=True, env=env,
                              cwd=folder, timeout=60)

    assert logsvc_in(here, "config", "set", "store", "rel.db").returncode == 0
    assert logsvc_in(elsewhere, "send", "kept in here/rel.db").returncode == 0
    assert (here / "rel.db").exists() and not (elsewhere / "rel.db").exists()
    assert b"kept in here/rel.db" in logsvc_in(here, "recent", "-o", "jsonl").stdout
    assert logsvc_in(here, "config", "set", "store", "~/home.db").returncode == 0
    assert b'store = "~/home.db"' in (tmp_path / "logsvc" / "config.toml").read_bytes()  # ~ kept as given


def test_config_set_refuses_a_deploy_setting_that_deploy_would_refuse():
    # `config set alarms maybe` was saved, and every later deploy and diff failed on it.
    from logsvc.config import config_path

    for key, bad, good in [("alarms", "maybe", "off"), ("keep_table", "perhaps", "no"),
                           ("log_retention_days", "13", "14"), ("alarm_topic", "my-topic", "arn:aws:sns:eu-west-1:1:t"),
                           ("settle_seconds", "soon", "2.5"), ("reserved_concurrency", "lots", "10")]:
        refused = run_logsvc("config", "set", key, bad)
        assert refused.returncode == 2, (key, refused.stderr)
        assert refused.stderr.decode().startswith(f"error: {key} "), refused.stderr
        assert run_logsvc("config", "set", key, good).returncode == 0, key
    saved = config_path().read_text()
    assert "maybe" not in saved and 'alarms = "off"' in saved and 'log_retention_days = "14"' in saved


def test_the_url_target_reads_more_than_1000_entries_like_the_other_targets(tmp_path):
    # `recent -n 5000` (and tail -n, --regex) on the url target was refused ("at most 1000 entries
    # a request") though --limit goes to 100,000 and the local and dynamodb targets answered.
    import json
    import signal

    store = tmp_path / "served.db"
    lines = "".join(json.dumps({"message": f"entry {i}", "severity": "info"}) + "\n" for i in range(2500))
    assert run_logsvc("send", "-", "--store", str(store), input=lines.encode()).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", "serve", "--port", "0", "--store", str(store)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ), text=True)
    try:
        urls = dict(proc.stdout.readline()[len("export "):].strip().partition("=")[::2] for _ in range(2))
        env = {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": urls["INGEST_URL"], "LOGSVC_READ_URL": urls["READ_URL"]}
        local = run_logsvc("recent", "-n", "3000", "-o", "jsonl", "--store", str(store)).stdout
        assert local.count(b"\n") == 2500
        remote = run_logsvc("recent", "-n", "3000", "-o", "jsonl", env=env)
        assert remote.returncode == 0, remote.stderr
        assert remote.stdout == local  # the same entries, newest first, none twice
        assert run_logsvc("recent", "-n", "1200", "-o", "jsonl", env=env).stdout.count(b"\n") == 1200
        tail = run_logsvc("tail", "-n", "1500", "-o", "jsonl", env=env).stdout.splitlines()
        assert tail == local.splitlines()[:1500][::-1]  # the newest 1500, oldest first
        regex = run_logsvc("recent", "-n", "2000", "--regex", "-g", r"entry \d*7$", "-o", "jsonl", env=env)
        assert regex.returncode == 0 and regex.stdout.count(b"\n") == 250
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_follow_with_a_past_until_and_no_bound_says_why_nothing_will_show():
    # 0.1.0's `tail -f --until 30m` stopped after 30 minutes; now --until bounds the entries' times,
    # and the same command waited silently forever. It still follows (a flushed spool's old
    # entries can arrive), but says so at once.
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "logsvc", "tail", "-f", "--until", "30m"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ))
    try:
        import select

        ready, _, _ = select.select([proc.stderr], [], [], 20)  # the note comes at once, or never
        first = proc.stderr.readline().decode() if ready else ""
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert first.startswith("note: --until 30m is past") and "--for" in first, first
    bounded = run_logsvc("tail", "-f", "--until", "30m", "--for", "1s")
    assert bounded.returncode == 0 and bounded.stderr == b""  # a bound given: the user knows when it ends
    ahead = run_logsvc("tail", "-f", "--until", "2099-01-01T00:00:00Z", "--for", "1s")
    assert ahead.stderr == b""


def test_table_create_allows_the_shard_counts_deploy_and_config_allow(moto_endpoint):
    # `table create --shards` stopped at 64 while deploy, `config set shards` and the store take 100.
    from logsvc.store.dynamodb.schema import MAX_SHARDS

    from tests.conftest import run_logsvc as run

    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    made = run("table", "create", "--table", "wide", "--shards", str(MAX_SHARDS), "--endpoint-url", moto_endpoint,
               env=aws)
    assert made.returncode == 0, made.stderr
    env = {**aws, "LOGSVC_TARGET": "dynamodb", "LOGSVC_TABLE": "wide", "LOGSVC_ENDPOINT_URL": moto_endpoint}
    assert run("send", "on one of 100 shards", env=env).returncode == 0
    assert b"on one of 100 shards" in run("recent", "-o", "jsonl", env=env).stdout
    too_many = run("table", "create", "--table", "t", "--shards", str(MAX_SHARDS + 1))
    assert too_many.returncode == 2 and f"1<=x<={MAX_SHARDS}".encode() in too_many.stderr, too_many.stderr
    help_text = run("table", "create", "--help", env={"COLUMNS": "200"}).stdout
    assert f"[1<=x<={MAX_SHARDS}]".encode() in help_text


def test_the_table_group_says_it_upgrades_too():
    # Its one-line help (in `logsvc --help` and `logsvc table --help`) said "Create or delete",
    # hiding `table upgrade`, which the README sends operators of older tables to.
    for args in (["--help"], ["table", "--help"]):
        shown = run_logsvc(*args, env={"COLUMNS": "200"}).stdout.decode()
        line = next(line for line in shown.splitlines() if "DynamoDB table with the service's schema" in line)
        assert "upgrade" in line, line


@pytest.mark.parametrize("args", [["--help"], ["recent", "--help"]])
def test_help_into_a_reader_that_went_away_exits_0(args):
    """`logsvc --help | head`: Rich turns the broken pipe into exit 1; the CLI makes it 0, as for
    every command. The read end is closed before the child writes, so the pipe is surely broken."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([sys.executable, "-m", "logsvc", *args], stdout=write_end,
                                stderr=subprocess.PIPE, timeout=60, cwd=ROOT)
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
