"""Load test for the local Function URL server (`logsvc serve`) on loopback.

Starts the server in a separate process on a fresh SQLite store (or targets ``--url``), then
drives it from this process with N keep-alive connections, in two timed phases:

1. single-entry POSTs to /ingest: requests/s, p50/p99 latency, errors;
2. 500-entry batch POSTs: entries/s, p50/p99 latency, errors.

The load comes from `wrk` when it is installed (C, so the 2-core machine's CPU goes to the
server, not the client), else from Python worker processes with one `http.client` connection
per thread. At the end the server's store is counted: every entry acknowledged with a 200 must
be stored exactly once (entries still in flight when a phase ends may add a few).

    python benchmarks/bench_serve.py                      # 10 s per phase
    python benchmarks/bench_serve.py --duration 30        # the figures in benchmarks/SERVE.md
    python benchmarks/bench_serve.py --handler-threads 0  # handlers in the event loop
    python benchmarks/bench_serve.py --store null         # the server and handlers without SQLite

Loopback only: ``--url`` must point at 127.0.0.1, ::1 or localhost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SINGLE_BODY = b'{"severity":"info","message":"benchmark entry","source":"bench"}'


def batch_body(size: int) -> bytes:
    entry = {"severity": "info", "message": "benchmark batch entry", "source": "bench"}
    return json.dumps([entry] * size, separators=(",", ":")).encode()


# -- the server process --------------------------------------------------------------------------


class NullStore:
    """Keeps nothing but a count: measures the server and the handlers without the database."""

    def __init__(self) -> None:
        self.stored = 0
        self._lock = threading.Lock()

    def put(self, entries: list[dict]):
        from logsvc.store import PutResult

        with self._lock:
            self.stored += len(entries)
        return PutResult([entry["id"] for entry in entries], [])

    def count(self) -> int:
        return self.stored

    def close(self) -> None:
        pass


def serve_main(store_path: str, handler_threads: str) -> None:
    """Run the server until SIGINT, then print how many entries the store holds."""
    sys.path.insert(0, str(ROOT))
    from logsvc.serve import run
    from logsvc.store.sqlite import SQLiteStore

    store = NullStore() if store_path == "null" else SQLiteStore(store_path)
    options = {} if handler_threads == "auto" else {"handler_threads": int(handler_threads)}
    run(store, on_ready=lambda ingest, read: print(ingest, flush=True), **options)
    print(f"stored {store.count()}", flush=True)
    store.close()


def start_server(store_path: str, handler_threads: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", store_path, "--handler-threads", handler_threads],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith("http://"):
        process.kill()
        raise SystemExit(f"the server did not start (said {line!r})")
    return process, line


def stop_server(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    match = re.search(r"stored (\d+)", out)
    if not match:
        raise SystemExit(f"the server did not report its count (said {out!r})")
    return int(match.group(1))


# -- load from wrk -------------------------------------------------------------------------------


def run_wrk(url: str, body: bytes, connections: int, duration: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        body_file = Path(folder, "body.json")
        body_file.write_bytes(body)
        script = Path(folder, "post.lua")
        script.write_text(
            f'local f = io.open("{body_file}", "rb")\n'
            "wrk.body = f:read('*all')\nf:close()\n"
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        )
        threads = min(2, connections)
        result = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "5s", "--latency",
             "-s", str(script), url],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        )
    out = result.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    return {
        "requests": requests,
        "ok": requests - (int(non_2xx.group(1)) if non_2xx else 0),
        "errors": errors,
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _wrk_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
    }


def _wrk_ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# -- load from Python ----------------------------------------------------------------------------


def _python_worker(url: str, body: bytes, threads: int, deadline: float, queue: multiprocessing.Queue) -> None:
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def loop() -> None:
        mine: list[float] = []
        failed = 0
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        headers = {"Content-Type": "application/json"}
        while time.time() < deadline:
            started = time.perf_counter()
            try:
                connection.request("POST", parts.path, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
                continue
            if response.status == 200:
                mine.append(time.perf_counter() - started)
            else:
                failed += 1
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((latencies, errors[0]))


def run_python(url: str, body: bytes, connections: int, duration: float) -> dict:
    processes = min(2, connections)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    started = time.time()
    deadline = started + duration
    workers = [
        multiprocessing.Process(
            target=_python_worker,
            args=(url, body, connections // processes + (index < connections % processes), deadline, queue),
        )
        for index in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    errors = 0
    for _ in workers:
        mine, failed = queue.get(timeout=duration + 60)
        latencies.extend(mine)
        errors += failed
    for worker in workers:
        worker.join()
    elapsed = time.time() - started
    latencies.sort()
    return {
        "requests": len(latencies) + errors,
        "ok": len(latencies),
        "errors": errors,
        "rate": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
    }


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--batch-size", type=int, default=500, help="entries per batch POST (default 500)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--handler-threads", default="auto", help="server handler threads: auto, 0 (event loop), N")
    parser.add_argument("--store", choices=("sqlite", "null"), default="sqlite",
                        help="null: a store that only counts, to measure the server and handlers alone")
    parser.add_argument("--url", help="an already running server's ingest URL (loopback only)")
    parser.add_argument("--serve", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve_main(args.serve, args.handler_threads)
        return

    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    load = run_wrk if client == "wrk" else run_python

    folder = tempfile.mkdtemp(prefix="logsvc-bench-")
    process = None
    if args.url:
        if urlsplit(args.url).hostname not in ("127.0.0.1", "::1", "localhost"):
            raise SystemExit("--url must be on loopback")
        url = args.url
    else:
        store = "null" if args.store == "null" else os.path.join(folder, "bench.db")
        process, url = start_server(store, args.handler_threads)
    try:
        single = load(url, SINGLE_BODY, args.connections, args.duration)
        batch = load(url, batch_body(args.batch_size), args.connections, args.duration)
    finally:
        stored = stop_server(process) if process else None
        shutil.rmtree(folder, ignore_errors=True)

    print(f"client: {client}, {args.connections} connections, {args.duration:g} s per phase, "
          f"handler threads: {args.handler_threads}, store: {args.store}")
    print(f"{'phase':<22}{'requests':>10}{'errors':>8}{'req/s':>10}{'entries/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, result, size in (("single POST", single, 1), (f"{args.batch_size}-entry batch", batch, args.batch_size)):
        print(f"{name:<22}{result['requests']:>10}{result['errors']:>8}{result['rate']:>10.0f}"
              f"{result['rate'] * size:>11.0f}{result['p50']:>9.2f}{result['p99']:>9.2f}")
    if stored is not None:
        acknowledged = single["ok"] + batch["ok"] * args.batch_size
        # wrk counts only requests answered inside the window; a few more may land just after.
        slack = args.connections * (1 + args.batch_size)
        verdict = "ok" if acknowledged <= stored <= acknowledged + slack else "MISMATCH"
        print(f"stored entries: {stored} (acknowledged {acknowledged}): {verdict}")


if __name__ == "__main__":
    main()
