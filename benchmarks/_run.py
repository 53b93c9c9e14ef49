"""What every measurement of `python -m benchmarks` stands on: a scratch install, stores, servers, timers.

Everything runs on loopback and in one temporary folder; every process started here is ended by
the context manager that started it, also when a measurement fails.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEVERITIES = ("info", "info", "info", "info", "info", "info", "warning", "warning", "error", "error")
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1"}


class Workspace:
    """A temporary folder holding a plain (non-editable) install of this checkout and the data.

    An editable install puts an import hook in every interpreter's start-up (17 ms here), which
    a user's `pip install .` does not have: timing through it would flatter neither side. So the
    scratch venv sees the package directory itself, as a regular install lays it out, and the
    dependencies of the current environment through a path entry (whose .pth hooks do not run).
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="logsvc-bench-"))
        self.home = self.root / "home"
        self.home.mkdir()
        venv = self.root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
        (site / "logsvc").symlink_to(ROOT / "logsvc", target_is_directory=True)
        (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
        self.bin = venv / "bin"
        self.python = str(self.bin / "python")
        script = self.bin / "logsvc"
        script.write_text(f"#!{self.python}\nimport sys\nfrom logsvc.__main__ import main\n"
                          "if __name__ == '__main__':\n    sys.exit(main())\n")
        script.chmod(0o755)
        self.logsvc = str(script)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every command: our home folder, fake AWS keys, no colour."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("LOGSVC_", "AWS_"))
               # An installed package has its bytecode cached; compiling it on every run is no user's case.
               and key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        env.update(FAKE_AWS, LOGSVC_HOME=str(self.home), PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
                   NO_COLOR="1", COLUMNS="120", LINES="40")
        env.update(extra)
        return env

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# -- data ------------------------------------------------------------------------------------------


def entries(count: int, *, seed: int = 1, span_hours: float = 24.0, prefix: str = "request") -> list[dict]:
    """`count` normalised entries spread over the last `span_hours`, oldest first."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    step = span_hours * 3600 / max(count, 1)
    start = now - timedelta(hours=span_hours)
    made = []
    for index in range(count):
        instant = start + timedelta(seconds=index * step)
        made.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                     "dateTime": instant.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
                     "severity": SEVERITIES[index % 10],
                     "message": f"{prefix} {index} served in {rng.randrange(900)} ms", "source": "bench"})
    return made


def fill_store(path: Path, count: int, **options) -> None:
    """A local store of `count` entries, written through the store's own bulk path in chunks."""
    sys.path.insert(0, str(ROOT))
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    try:
        with store.bulk() as writer:
            for start in range(0, count, 100_000):
                writer.write(entries(min(100_000, count - start), seed=start + 1, **options))
    finally:
        store.close()


def write_jsonl(path: Path, count: int) -> None:
    """JSON Lines as an application would log them: severity, message, an ISO time with Z."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with open(path, "w") as out:
        for index in range(count):
            instant = base + timedelta(milliseconds=37 * index)
            out.write(json.dumps({"severity": SEVERITIES[index % 10],
                                  "message": f"request {index} handled in {index % 997} ms",
                                  "dateTime": instant.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}) + "\n")


# -- timing ----------------------------------------------------------------------------------------


def compare(commands: dict[str, list[str]], env: dict, *, rounds: int, per_round: int = 2) -> dict[str, list[float]]:
    """Wall seconds of every run of each command, the commands interleaved.

    With hyperfine: one hyperfine call per round running each command `per_round` times (no
    shell, so nothing is added to either side), the order rotated every round, so a load that
    comes and goes lands on all of them alike. Without it: `_timing.run_once`, one run each in turn.
    """
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    hyperfine = shutil.which("hyperfine")
    for index in range(rounds):
        order = names[index % len(names):] + names[:index % len(names)]
        if hyperfine:
            with tempfile.NamedTemporaryFile(suffix=".json") as export:
                argv = [hyperfine, "-N", "--style", "none", "--runs", str(per_round), "--export-json", export.name]
                if index == 0:
                    argv += ["--warmup", "1"]
                argv += [shlex.join(commands[name]) for name in order]
                done = subprocess.run(argv, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"hyperfine failed: {done.stderr[-800:]}")
                for name, result in zip(order, json.load(open(export.name))["results"]):
                    times[name].extend(result["times"])
        else:
            from benchmarks._timing import run_once

            for name in order:
                if index == 0:
                    run_once(commands[name], env)
                for _ in range(per_round):
                    times[name].append(run_once(commands[name], env)[0])
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(cmd: list[str], env: dict, *, stdin=None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run, its output discarded; raises if it fails.

    The peak comes from GNU time where installed: a child's own ru_maxrss starts at the size of
    the process that started it (Linux counts the pre-exec memory), which here holds a moto server.
    """
    from benchmarks._timing import run_once

    gnu_time = Path("/usr/bin/time")
    if not gnu_time.exists():
        return run_once(cmd, env, stdin)
    with tempfile.NamedTemporaryFile(suffix=".txt") as report:
        wall, _ = run_once([str(gnu_time), "-f", "%M", "-o", report.name, *cmd], env, stdin)
        return wall, int(Path(report.name).read_text().split()[-1])


# -- servers ---------------------------------------------------------------------------------------


@contextmanager
def moto_server():
    """A moto server on 127.0.0.1 (port chosen by the OS); yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"
    finally:
        server.stop()


@contextmanager
def distant(endpoint: str, delay: float):
    """A proxy on 127.0.0.1 in front of `endpoint` that holds every request `delay` seconds before
    passing it on, as a round trip to a distant region would; yields its URL. On loopback a
    request costs what the server spends on it, which hides how many round trips a command waits."""
    import asyncio
    import threading
    from urllib.parse import urlsplit

    target = urlsplit(endpoint)
    loop = asyncio.new_event_loop()
    ready: list = []  # the port, then the event that ends the proxy

    async def pipe(reader, writer, hold: float) -> None:
        try:
            while data := await reader.read(65536):
                if hold:
                    await asyncio.sleep(hold)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def connection(client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection(target.hostname, target.port)
        await asyncio.gather(pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, 0.0))

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        done = asyncio.Event()
        ready.extend([server.sockets[0].getsockname()[1], done])
        async with server:
            await done.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{ready[0]}"
    finally:
        loop.call_soon_threadsafe(ready[1].set)
        thread.join(5)


def make_table(endpoint: str, name: str, shards: int = 1) -> None:
    sys.path.insert(0, str(ROOT))
    from logsvc.store.dynamodb import create_table, make_client

    client = make_client("us-east-1", endpoint, aws_access_key_id="bench", aws_secret_access_key="bench")
    create_table(client, name, shards)
    client.close()


def aws_cli() -> str | None:
    """The AWS CLI's own script: a pyenv shim would add a shell and pyenv to every run of it."""
    found = shutil.which("aws")
    if found and "/shims/" in found and shutil.which("pyenv"):
        real = subprocess.run(["pyenv", "which", "aws"], capture_output=True, text=True)
        if real.returncode == 0 and real.stdout.strip():
            return real.stdout.strip()
    return found


def dynamodb_flags(endpoint: str, table: str) -> list[str]:
    return ["--target", "dynamodb", "--table", table, "--endpoint-url", endpoint, "--region", "us-east-1"]


@contextmanager
def logsvc_serve(ws: Workspace, store: Path):
    """`logsvc serve --port 0` on a local store; yields (ingest URL, read URL)."""
    process = subprocess.Popen([ws.logsvc, "serve", "--port", "0", "--store", str(store)], env=ws.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        urls = {}
        while len(urls) < 2:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("logsvc serve did not start")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            if name in ("LOGSVC_INGEST_URL", "LOGSVC_READ_URL"):
                urls[name] = value
        yield urls["LOGSVC_INGEST_URL"], urls["LOGSVC_READ_URL"]
    finally:
        stop(process)


def url_flags(ingest: str, read: str) -> dict[str, str]:
    return {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": ingest, "LOGSVC_READ_URL": read}


def stop(process: subprocess.Popen) -> None:
    """SIGINT (a clean stop), then SIGKILL if it is still there after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr, process.stdin):
        if stream:
            stream.close()


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
