"""Shared fixtures for the target contract suite (test_targets.py) and the fault tests (test_faults.py).

Every target is a real component on loopback, never real AWS:

- ``local``    the embedded SQLite store in the test's LOGSVC_HOME (nothing configured);
- ``url``      a `LocalServer` (the real Lambda handlers over HTTP) over a SQLite file of its own;
- ``url-iam``  the same server requiring SigV4 signatures by AKIDTEST/secret;
- ``dynamodb`` a fresh table on a moto server, reached through a TCP proxy that the tests can
               stop and start, so "the target is down" keeps the same endpoint (and spool).

A `Target` carries the client environment (for CliRunner and subprocesses), `stored()` to read
back directly what the backend holds (bypassing the CLI), and `down()`/`up()` for outages.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.serve import LocalServer
from logsvc.sigv4 import Credentials, SigV4Verifier
from logsvc.store.sqlite import SQLiteStore
from tests.conftest import ROOT
from tests.dynamo_fixtures import (  # noqa: F401 - moto_endpoint is a fixture, re-exported for the test modules
    FAKE_CREDENTIALS,
    REGION,
    all_items,
    moto_endpoint,
    new_client,
)

IAM_CREDENTIALS = Credentials("AKIDTEST", "secret")
TARGETS = ("local", "url", "url-iam", "dynamodb")
REMOTE_TARGETS = ("url", "url-iam", "dynamodb")

runner = CliRunner()


# -- running the CLI ------------------------------------------------------------------------------


def cli(env: dict, *args: str, input: str | bytes | None = None):
    """Run the CLI in-process (CliRunner) with `env` added to the environment (None unsets)."""
    return runner.invoke(app, list(args), env=env, input=input)


def full_env(env: dict | None) -> dict:
    full = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            full.pop(name, None)
        else:
            full[name] = value
    return full


def run(env: dict, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `python -m logsvc` as a real subprocess (like conftest.run_logsvc; None in `env` unsets)."""
    return subprocess.run([sys.executable, "-m", "logsvc", *args], input=input, capture_output=True,
                          env=full_env(env), timeout=timeout, cwd=ROOT)


class Proc:
    """A running `python -m logsvc` whose stdout and stderr lines are collected by reader threads."""

    def __init__(self, env: dict, *args: str) -> None:
        self.args = args
        self.popen = subprocess.Popen([sys.executable, "-m", "logsvc", *args], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=full_env(env), cwd=ROOT)
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.popen.stdout, self.out), (self.popen.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        for raw in stream:
            with self._changed:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until `predicate()` holds (checked whenever a line arrives); fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"stdout={self.out[-5:]!r} stderr={self.err[-5:]!r} rc={self.popen.poll()}")
                if self.popen.poll() is not None and all(not r.is_alive() for r in self._readers):
                    if predicate():
                        break
                    raise AssertionError(f"process exited ({self.popen.returncode}) before {what}; "
                                         f"stdout={self.out[-5:]!r} stderr={self.err[-5:]!r}")
                self._changed.wait(min(left, 0.2))

    def entries(self) -> list[dict]:
        with self._changed:
            return [json.loads(line) for line in self.out if line.strip()]

    def wait(self, timeout: float) -> int:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.args} did not end within {timeout}s; stderr={self.err[-5:]!r}") from None
        for reader in self._readers:
            reader.join(5)
        return code

    def interrupt(self) -> None:
        self.popen.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@pytest.fixture
def procs():
    """Start followers with `procs(env, *args)`; whatever is still running at the end is killed."""
    started: list[Proc] = []

    def start(env: dict, *args: str) -> Proc:
        proc = Proc(env, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        for reader in proc._readers:  # they end at EOF once the process is gone
            reader.join(5)
        for stream in (proc.popen.stdout, proc.popen.stderr):
            stream.close()


# -- entries ----------------------------------------------------------------------------------------


def stored_form(instant: datetime) -> str:
    """The stored dateTime, written independently of logsvc: UTC, microseconds, +00:00."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def now() -> datetime:
    return datetime.now(timezone.utc)


def jsonl(entries: list[dict]) -> bytes:
    return "".join(json.dumps(entry) + "\n" for entry in entries).encode("utf-8")


def make_entries(count: int, *, prefix: str = "entry", start: datetime | None = None,
                 step: timedelta = timedelta(milliseconds=1)) -> tuple[list[dict], list[dict]]:
    """(input lines as dicts, the entries they must be stored as), with ids, times and varied forms.

    Times alternate between Z and +02:00 offsets, severities between exact and lenient spellings,
    and every fifth entry names its source (the others get the sender's host name).
    """
    start = start or now() - timedelta(minutes=10)
    spellings = [("info", "info"), ("WARN", "warning"), ("error", "error"), ("Err", "error"), ("warning", "warning")]
    raw, expected = [], []
    plus2 = timezone(timedelta(hours=2))
    for index in range(count):
        entry_id = str(uuid.uuid4())
        instant = start + step * index
        written = (instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if index % 2 == 0
                   else instant.astimezone(plus2).isoformat(timespec="microseconds"))
        given, severity = spellings[index % len(spellings)]
        line = {"id": entry_id.upper() if index % 7 == 0 else entry_id, "dateTime": written,
                "severity": given, "message": f"{prefix} {index}"}
        stored = {"id": entry_id, "dateTime": stored_form(instant), "severity": severity, "message": f"{prefix} {index}"}
        if index % 5 == 0:
            line["source"] = stored["source"] = f"src-{index % 3}"
        raw.append(line)
        expected.append(stored)
    return raw, expected


def host_name() -> str:
    return os.uname().nodename


def with_host(expected: list[dict]) -> list[dict]:
    """Expected entries with the CLI's default source (this host) filled in where none was given."""
    return [entry if "source" in entry else {**entry, "source": host_name()} for entry in expected]


def by_id(entries: list[dict]) -> dict[str, dict]:
    return {entry["id"]: entry for entry in entries}


def duplicates(entries: list[dict]) -> dict[str, int]:
    return {entry_id: n for entry_id, n in Counter(entry["id"] for entry in entries).items() if n > 1}


def assert_exactly_once(stored: list[dict], expected: list[dict]) -> None:
    """`stored` holds every expected entry once, with exactly the expected content, and nothing else."""
    assert not duplicates(stored), f"stored more than once: {list(duplicates(stored).items())[:5]}"
    stored_by_id, expected_by_id = by_id(stored), by_id(expected)
    missing = expected_by_id.keys() - stored_by_id.keys()
    extra = stored_by_id.keys() - expected_by_id.keys()
    assert not missing and not extra, f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected"
    wrong = [entry_id for entry_id in expected_by_id if stored_by_id[entry_id] != expected_by_id[entry_id]]
    assert not wrong, f"content differs, e.g. {stored_by_id[wrong[0]]} != {expected_by_id[wrong[0]]}"


# -- backends ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_entries(path: Path) -> list[dict]:
    """Every entry in a SQLite store file, in arrival order, read with plain SQL (not through logsvc)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(path, timeout=30)
    try:
        rows = conn.execute("SELECT id, date_time, severity, message, source FROM entries ORDER BY seq").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()
    out = []
    for entry_id, date_time, severity, message, source in rows:
        entry = {"id": entry_id, "dateTime": date_time, "severity": severity, "message": message}
        if source is not None:
            entry["source"] = source
        out.append(entry)
    return out


def dynamodb_entries(client, table: str) -> list[dict]:
    """Every entry of a table, from a consistent scan of the items (not through logsvc)."""
    out = []
    for item in all_items(client, table):
        entry = {"id": item["LogID"]["S"], "dateTime": item["DateTime"]["S"], "severity": item["Severity"]["S"],
                 "message": item["Message"]["S"]}
        if "Source" in item:
            entry["source"] = item["Source"]["S"]
        out.append(entry)
    return out


class UrlBackend:
    """A LocalServer over its own SQLite file that can be stopped and started again on the same port.

    `ingest_handle`/`read_handle` wrap or replace the real handlers (fault injection); a
    restart builds a new LocalServer (a stopped one cannot be restarted) over the same store.
    """

    def __init__(self, db_path: Path, *, auth: SigV4Verifier | None = None, port: int = 0, **options) -> None:
        self.db_path = db_path
        self.store = SQLiteStore(db_path)
        self.auth = auth
        self.port = port
        self.options = options
        self.server: LocalServer | None = None

    def start(self) -> "UrlBackend":
        self.server = LocalServer(self.store, port=self.port, auth=self.auth, **self.options).start()
        self.port = self.server.port
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def close(self) -> None:
        self.stop()
        self.store.close()

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    @property
    def read_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/read"

    def env(self) -> dict:
        return {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": self.ingest_url, "LOGSVC_READ_URL": self.read_url}

    def stored(self) -> list[dict]:
        return sqlite_entries(self.db_path)


class TcpProxy:
    """A loopback TCP forwarder to `upstream`; `stop()` refuses connections and cuts open ones."""

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> "TcpProxy":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class Target:
    """One target under test: client env, direct read-back, and outage control for remote targets."""

    def __init__(self, name: str, env: dict, stored: Callable[[], list[dict]],
                 down: Callable[[], None] | None = None, up: Callable[[], None] | None = None, **extra) -> None:
        self.name = name
        self.env = env
        self._stored = stored
        self._down = down
        self._up = up
        self.extra = extra

    @property
    def remote(self) -> bool:
        return self._down is not None

    def stored(self) -> list[dict]:
        return self._stored()

    def down(self) -> None:
        self._down()

    def up(self) -> None:
        self._up()

    def __repr__(self) -> str:
        return f"Target({self.name})"


def iam_env(*, secret: str = IAM_CREDENTIALS.secret_key) -> dict:
    """The client side of the url-iam target: static keys, a region, auth = iam."""
    return {"AWS_ACCESS_KEY_ID": IAM_CREDENTIALS.access_key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": REGION, "LOGSVC_AUTH": "iam"}


def dynamodb_env(table: str, endpoint: str) -> dict:
    return {"LOGSVC_TARGET": "dynamodb", "LOGSVC_TABLE": table, "LOGSVC_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"]}


def make_target(name: str, request, tmp_path: Path, **server_options) -> Target:
    """Build (and register the tear-down of) one target for the current test."""
    if name == "local":
        home = Path(os.environ["LOGSVC_HOME"])
        return Target("local", {}, lambda: sqlite_entries(home / "logs.db"))
    if name in ("url", "url-iam"):
        auth = SigV4Verifier(IAM_CREDENTIALS) if name == "url-iam" else None
        backend = UrlBackend(tmp_path / f"server-{uuid.uuid4().hex[:6]}.db", auth=auth, **server_options).start()
        request.addfinalizer(backend.close)
        env = backend.env()
        if auth is not None:
            env.update(iam_env())
        return Target(name, env, backend.stored, down=backend.stop, up=backend.start, backend=backend)
    if name == "dynamodb":
        endpoint = request.getfixturevalue("moto_endpoint")
        client = new_client(endpoint)
        from logsvc.store.dynamodb import create_table, delete_table

        table = f"logs-{uuid.uuid4().hex[:12]}"
        assert create_table(client, table)
        proxy = TcpProxy(int(endpoint.rsplit(":", 1)[1])).start()

        def finish() -> None:
            proxy.stop()
            delete_table(client, table)
            client.close()

        request.addfinalizer(finish)
        return Target(name, dynamodb_env(table, f"http://127.0.0.1:{proxy.port}"),
                      lambda: dynamodb_entries(client, table), down=proxy.stop, up=proxy.start,
                      table=table, client=client, proxy=proxy)
    raise ValueError(name)


@pytest.fixture(params=TARGETS)
def target(request, tmp_path) -> Target:
    return make_target(request.param, request, tmp_path)


@pytest.fixture(params=REMOTE_TARGETS)
def remote_target(request, tmp_path) -> Target:
    return make_target(request.param, request, tmp_path)


# -- small helpers ----------------------------------------------------------------------------------


def recent_json(target: Target, *args: str) -> list[dict]:
    result = cli(target.env, "recent", "-o", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def spooled_count(target: Target) -> int:
    """The count `logsvc status` reports for the target's own spool."""
    result = cli(target.env, "status")
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        if line.startswith("spooled:"):
            return int(line.split()[1])
    raise AssertionError(f"no 'spooled:' line in {result.stdout!r}")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)
