"""`logsvc serve` as an operator runs it: a real process, the printed export lines, curl-style checks, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from dynamo_fixtures import moto_endpoint  # noqa: F401  (fixture)
from tests.conftest import ROOT


def start_serve(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ), text=True)
    urls = {}
    for _ in range(2):
        line = proc.stdout.readline()
        assert line.startswith("export "), (line, proc.stderr.read() if proc.poll() is not None else "")
        name, _, value = line[len("export "):].strip().partition("=")
        urls[name] = value
    return proc, urls


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_serve_prints_pasteable_urls_and_answers_the_original_checks():
    proc, urls = start_serve()
    try:
        assert set(urls) == {"INGEST_URL", "READ_URL"}
        assert urls["INGEST_URL"].startswith("http://127.0.0.1:")
        created = httpx.post(urls["INGEST_URL"], headers={"Content-Type": "application/json"},
                             content='{"severity":"info","message":"Hello world"}')
        assert created.status_code == 200
        assert created.json()["message"] == "Log entry created"
        listed = httpx.get(urls["READ_URL"]).json()
        assert listed["count"] == 1 and listed["logs"][0]["message"] == "Hello world"
        empty = httpx.post(urls["INGEST_URL"], headers={"Content-Type": "application/json"}, content="{}")
        assert empty.status_code == 400
        assert any("severity" in error and "message" in error for error in empty.json()["errors"])
    finally:
        code, err = stop(proc)
    assert code == 0
    assert "Traceback" not in err


def test_served_entries_land_in_the_local_store_the_cli_reads():
    proc, urls = start_serve()
    try:
        httpx.post(urls["INGEST_URL"], json={"severity": "error", "message": "via http"}).raise_for_status()
    finally:
        stop(proc)
    shown = subprocess.run([sys.executable, "-m", "logsvc", "recent", "-o", "jsonl"], capture_output=True,
                           text=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    assert '"message": "via http"' in shown.stdout


def test_serving_beyond_loopback_warns():
    proc, urls = start_serve("--host", "0.0.0.0")
    code, err = stop(proc)
    assert code == 0
    assert "warning: serving on 0.0.0.0" in err and "without authentication" in err


@pytest.mark.parametrize("args, fragment", [(["--auth", "magic"], "--auth"), (["--port", "70000"], "port")])
def test_bad_serve_options_exit_2(args, fragment):
    proc = subprocess.run([sys.executable, "-m", "logsvc", "serve", *args], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ), timeout=60)
    assert proc.returncode == 2
    assert fragment in proc.stderr


def test_serve_auth_iam_without_credentials_is_a_clear_error():
    proc = subprocess.run([sys.executable, "-m", "logsvc", "serve", "--auth", "iam"], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    assert proc.returncode == 4  # as every AWS path without credentials (1 is for unexpected errors)
    assert "no AWS credentials" in proc.stderr and "Traceback" not in proc.stderr


def test_a_taken_port_is_a_usage_error_with_a_hint():
    proc, urls = start_serve()
    try:
        port = urls["INGEST_URL"].rsplit(":", 1)[1].split("/")[0]
        second = subprocess.run([sys.executable, "-m", "logsvc", "serve", "--port", port], capture_output=True,
                                text=True, cwd=ROOT, env=dict(os.environ), timeout=60)
    finally:
        stop(proc)
    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr and "--port" in second.stderr


def test_serve_a_dynamodb_table_through_the_same_handlers(moto_endpoint, monkeypatch):
    import uuid

    from logsvc.store.dynamodb import create_table, make_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    table = f"served-{uuid.uuid4().hex[:8]}"
    assert create_table(make_client("us-east-1", moto_endpoint), table, shards=2)
    proc, urls = start_serve("--table", table, "--endpoint-url", moto_endpoint, "--region", "us-east-1")
    try:
        created = httpx.post(urls["INGEST_URL"], json=[{"severity": "warning", "message": f"batch {n}"} for n in range(3)])
        assert created.status_code == 200 and created.json()["count"] == 3
        listed = httpx.get(urls["READ_URL"], params={"severity": "warning"}).json()
        assert sorted(entry["message"] for entry in listed["logs"]) == ["batch 0", "batch 1", "batch 2"]
    finally:
        code, err = stop(proc)
    assert code == 0, err
    direct = subprocess.run([sys.executable, "-m", "logsvc", "recent", "--table", table, "--endpoint-url", moto_endpoint,
                             "--region", "us-east-1", "-o", "jsonl"], capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ), timeout=60)
    assert direct.stdout.count("\n") == 3
