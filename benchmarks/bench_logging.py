"""What `logger.info` costs the application with `LogsvcHandler`, beside the stdlib's HTTPHandler.

Runs `logsvc serve` (SQLite store) in a separate process and logs from this one, in three
conditions of the service:

- up:   the real ingest handler;
- slow: every ingest request held `--slow-delay` seconds (0.1 by default) before it is handled;
- down: nothing listens on the port.

For each handler and condition, records are logged at a steady pace (`--pace`) and every
`logger.info` call is timed in the application: p50, p99, max. `HTTPHandler` is the stdlib's
blocking handler (a connection and a POST a record); its `mapLogRecord` is given the entry, and
it posts JSON, so the service stores what it sends. Then the handler's sustained rate into the
service: `--records` logged as fast as the loop goes (queue sized to hold them all, so none are
dropped) until `close()` returns, and what the server stored, counted exactly.

    python benchmarks/bench_logging.py                    # the figures in benchmarks/RESULTS.md
    python benchmarks/bench_logging.py --records 20000    # quicker
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# -- the server process ------------------------------------------------------------------------------


def serve_main(store_path: str, delay: float) -> None:
    """Run `logsvc serve`'s server until SIGINT, then print how many entries the store holds."""
    from logsvc.handler import ingest
    from logsvc.serve import run
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(store_path)

    def held(event, store):
        time.sleep(delay)
        return ingest.handle(event, store)

    options = {"ingest_handle": held} if delay else {}
    run(store, on_ready=lambda ingest_url, read_url: print(ingest_url, flush=True), **options)
    count = store._connect().execute("SELECT count(*) FROM entries").fetchone()[0]
    print(f"stored {count}", flush=True)
    store.close()


class Server:
    def __init__(self, folder: str, name: str, delay: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(Path(folder, f"{name}.db")), "--delay", str(delay)],
            stdout=subprocess.PIPE, text=True)
        self.ingest_url = self.process.stdout.readline().strip()
        if not self.ingest_url.startswith("http://"):
            self.process.kill()
            raise SystemExit(f"the server did not start (said {self.ingest_url!r})")

    def stop(self) -> int:
        """Stop the server; the number of entries it stored."""
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=60)
        return int(re.search(r"stored (\d+)", out).group(1))


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ingest"  # closed again: connections are refused


# -- the handlers ------------------------------------------------------------------------------------


class JsonHTTPHandler(logging.handlers.HTTPHandler):
    """The stdlib HTTPHandler, posting each record's entry as JSON (it sends a form otherwise)."""

    def __init__(self, url: str) -> None:
        host = url.split("/")[2]
        super().__init__(host, "/ingest", method="POST")

    def mapLogRecord(self, record):
        return {"severity": "info", "message": self.format(record), "source": "bench"}

    def emit(self, record):
        # logging.handlers.HTTPHandler.emit, with a JSON body instead of a form.
        try:
            connection = self.getConnection(self.host, self.secure)
            body = json.dumps(self.mapLogRecord(record)).encode()
            connection.putrequest(self.method, self.url)
            connection.putheader("Host", self.host)
            connection.putheader("Content-type", "application/json")
            connection.putheader("Content-length", str(len(body)))
            connection.endheaders()
            connection.send(body)
            connection.getresponse().read()
            connection.close()
        except Exception:
            self.handleError(record)


class NullHandler(logging.Handler):
    """The floor: `logger.info` making a record that a handler then ignores."""

    def emit(self, record):
        pass


def logger_with(handler: logging.Handler, label: str) -> logging.Logger:
    logger = logging.getLogger(f"bench.{label}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def timed_calls(handler: logging.Handler, count: int, pace: float, label: str) -> tuple[list[float], list[float]]:
    """Microseconds each `logger.info` took, logging `count` records `pace` seconds apart.

    Each call is paired with one to a logger whose handler does nothing, in the same moment:
    the floor (making the record) under the same load, on a machine that others share.
    """
    logger = logger_with(handler, label)
    floor_logger = logger_with(NullHandler(), f"{label}.floor")
    times, floor = [], []
    clock = time.perf_counter_ns
    for index in range(count):
        started = clock()
        floor_logger.info("benchmark record %d with a little text to carry", index)
        middle = clock()
        logger.info("benchmark record %d with a little text to carry", index)
        times.append((clock() - middle) / 1000)
        floor.append((middle - started) / 1000)
        if pace:
            time.sleep(pace)
    return times, floor


def percentiles(times: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[98], max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, default=100_000, help="records for the sustained-rate run")
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per handler and condition")
    parser.add_argument("--pace", type=float, default=0.0005, help="seconds between timed calls")
    parser.add_argument("--slow-delay", type=float, default=0.1, help="seconds each ingest request is held when slow")
    args = parser.parse_args()
    if args.serve:
        serve_main(args.serve, args.delay)
        return

    logging.raiseExceptions = False  # HTTPHandler against a closed port: no traceback a record
    folder = tempfile.mkdtemp(prefix="bench-logging-")
    os.environ["LOGSVC_HOME"] = folder  # the spool lives here
    from logsvc.logging import LogsvcHandler

    rows = []
    for condition in ("up", "slow", "down"):
        delay = args.slow_delay if condition == "slow" else 0.0
        # The stdlib handler waits on every record: fewer calls when each waits the slow delay.
        stdlib_calls = args.calls if condition != "slow" else max(20, int(10 / args.slow_delay))
        for name, calls in (("LogsvcHandler", args.calls), ("stdlib HTTPHandler", stdlib_calls)):
            server = Server(folder, f"{condition}-{len(rows)}", delay) if condition != "down" else None
            url = server.ingest_url if server else closed_port_url()
            handler = LogsvcHandler(ingest_url=url, timeout=30) if name == "LogsvcHandler" else JsonHTTPHandler(url)
            times, floor = timed_calls(handler, calls, args.pace, f"{condition}-{len(rows)}")
            started = time.perf_counter()
            handler.close()
            closing = time.perf_counter() - started
            stored = server.stop() if server else 0
            note = f"stored {stored}"
            if name == "LogsvcHandler":
                spooled = handler.spool.count()
                note += f", spooled {spooled}, dropped {handler.dropped}; close() took {closing:.2f} s"
                handler.spool.path.unlink(missing_ok=True)
            rows.append((condition, name, calls, percentiles(times), percentiles(floor), note))

    print(f"`logger.info` in the application, {args.calls} calls {args.pace * 1000:.1f} ms apart "
          f"(slow = {args.slow_delay:.2f} s per ingest request):\n")
    print("| service | handler | calls | p50 | p99 | max | floor p50 / p99 | notes |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for condition, name, calls, (p50, p99, top), (floor50, floor99, _), note in rows:
        print(f"| {condition} | {name} | {calls} | {p50:,.1f} µs | {p99:,.1f} µs | {top:,.0f} µs "
              f"| {floor50:,.1f} / {floor99:,.1f} µs | {note} |")
    print("\nfloor: the same call to a logger whose handler does nothing, made just before each timed one")

    server = Server(folder, "rate", 0.0)
    handler = LogsvcHandler(ingest_url=server.ingest_url, queue_size=args.records, timeout=300)
    logger = logging.getLogger("bench.rate")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    started = time.perf_counter()
    for index in range(args.records):
        logger.info("benchmark record %d with a little text to carry", index)
    logged = time.perf_counter() - started
    handler.close()
    elapsed = time.perf_counter() - started
    stored = server.stop()
    print(f"\nsustained: {args.records:,} records logged in {logged:.2f} s ({args.records / logged:,.0f}/s in the "
          f"application), all delivered in {elapsed:.2f} s: {args.records / elapsed:,.0f} records/s into serve; "
          f"server stored {stored:,}, dropped {handler.dropped}")


if __name__ == "__main__":
    main()
