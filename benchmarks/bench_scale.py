"""Issue 10 figures: reads on a big table (moto), and the request counts the README's cost table uses.

    python benchmarks/bench_scale.py [--entries 200000] [--shards 4] [--skip-unbounded] [--cli-only]

1. Loads `--entries` info entries (plus 10 errors) into a moto server on loopback through the
   store's batch path, counting requests (BatchWriteItem per 25, BatchGetItem per 100).
2. Runs `logsvc recent --grep zzz` (no entry matches) as a whole process on that table and
   reports its wall time, exit code and the note it ends with ("stopped early ... continue with"),
   with the CLI's read timeout lifted: moto walks the whole table for every GSI Query.
3. Side by side, in-process: one budgeted read (the store's default budget), and the same read
   with the budget lifted (what every grep read did before: all the table), unless skipped.
4. `recent --severity error` with and without the BySeverity index (items examined).

Everything is counted through botocore's event hooks (tests/request_accounting.py). moto is far
slower than DynamoDB per item, so the times are for comparison only; the counts are the point.

Measured 2026-11-28 (2 shared cores, 200,010 entries, 4 shards): loading took 68-80 s (8,001
BatchWriteItem, 2,001 BatchGetItem); `recent --grep zzz` exited 0 after 83 s with "stopped early:
examined 1,000 entries and found 0 of 100; continue with: logsvc recent ... --before '...'" (one
read of 13 Queries; moto walks all 200,000 items for each, ~6-9 s, where DynamoDB takes
milliseconds). One read each: limit 10, 4 Queries of 40 items; --grep zzz, 13 Queries of 1,000
items (the budget); --severity error, 4 Queries of 10 items (BySeverity), 1,000 items (the budget)
without it. At 5,010 entries the grep read without a budget examined all 5,010 items (24 Queries).
With the CLI's own 10 s read timeout (--shipped-timeouts) the command failed after 108 s (exit 4,
"does not answer"): some of moto's whole-table Queries take longer than 10 s on 200,000 items.

Again at 15:52-15:55 UTC, on a quiet machine, at 1c10790 (4 shards, 200,010 entries, loaded in
57-58 s): `--cli-only` exited 0 after 74.4 s, and `--cli-only --shipped-timeouts` (the command as
shipped, 10 s read timeout) exited 0 after 75.9 s, each ending "stopped early: examined 1,000
entries and found 0 of 100; continue with: logsvc recent ... --before '...'" (~5.8 s a Query).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from moto.server import ThreadedMotoServer  # noqa: E402
from request_accounting import Accounting  # noqa: E402

from logsvc.entry import normalise  # noqa: E402
from logsvc.store import Query  # noqa: E402
from logsvc.store.dynamodb import DynamoDBStore, create_table, make_client, scan  # noqa: E402
from logsvc.times import format_utc, now_utc  # noqa: E402

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--skip-unbounded", action="store_true")
    parser.add_argument("--cli-only", action="store_true", help="load, run the command, stop")
    parser.add_argument("--shipped-timeouts", action="store_true", help="run the command with its own 10 s read timeout")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    try:
        run(endpoint, args)
    finally:
        server.stop()


def client(endpoint: str):
    return make_client("us-east-1", endpoint, read_timeout=600, **CREDENTIALS)


def run(endpoint: str, args) -> None:
    table = f"scale-{uuid.uuid4().hex[:8]}"
    loader_client = client(endpoint)
    create_table(loader_client, table, shards=args.shards)
    loader = DynamoDBStore(table, client=loader_client, shards=args.shards, retry_seconds=30)
    start = now_utc() - timedelta(days=1)
    started = time.perf_counter()
    with Accounting(loader_client) as counted:
        for chunk in range(0, args.entries, 5000):
            batch = [normalise({"severity": "info", "message": f"request {n} ok",
                                "dateTime": format_utc(start + timedelta(milliseconds=n))})
                     for n in range(chunk, min(chunk + 5000, args.entries))]
            if chunk == 0:
                batch += [normalise({"severity": "error", "message": f"failure {n}",
                                     "dateTime": format_utc(start + timedelta(milliseconds=n * 997 + 1))})
                          for n in range(10)]
            loader.put(batch)
    print(f"loaded {args.entries + 10:,} entries into {args.shards} shards in {time.perf_counter() - started:.0f} s: "
          f"{dict(counted.requests)}")

    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "LOGSVC_ENDPOINT_URL": endpoint}
    # moto answers a GSI Query by walking every item of the table (about 14 s per Query at 200,000
    # items), past the CLI's 10 s read timeout: lift it, to see the command stop at its own bound.
    lifted = ("import sys, logsvc.retry as r; r.REMOTE = r.RetryPolicy(read_timeout=600, seconds=1200); "
              "sys.argv[0] = 'logsvc'; from logsvc.__main__ import main; main()")
    command = [sys.executable, "-c", lifted, "recent", "--target", "dynamodb", "--table", table, "--grep", "zzz"]
    if args.shipped_timeouts:
        command[1:3] = ["-m", "logsvc"]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    print(f"`logsvc recent --grep zzz` (whole process): {elapsed:.1f} s, exit {proc.returncode}, "
          f"{len(proc.stdout.splitlines())} entries shown; last stderr line:\n    {proc.stderr.strip().splitlines()[-1]}")

    if args.cli_only:
        return
    reader = DynamoDBStore(table, client=client(endpoint), shards=args.shards)
    reader.check()
    for name, query in (("recent (limit 10)", Query(limit=10)), ("recent --grep zzz (limit 100)", Query(grep="zzz")),
                        ("recent --severity error (limit 100)", Query(min_severity="error"))):
        with Accounting(reader._client) as counted:
            started = time.perf_counter()
            page = reader.recent(query)
            elapsed = time.perf_counter() - started
        print(f"one read, {name}: {elapsed * 1000:.0f} ms, {dict(counted.requests)}, "
              f"{counted.examined('Query'):,} items examined, {len(page.entries)} found, truncated={page.truncated}")

    reader._index_missing_until = time.monotonic() + 3600  # as on a table without BySeverity
    with Accounting(reader._client) as counted:
        started = time.perf_counter()
        page = reader.recent(Query(min_severity="error"))
        elapsed = time.perf_counter() - started
    print(f"one read, --severity error without BySeverity: {elapsed * 1000:.0f} ms, "
          f"{counted.examined('Query'):,} items examined, {len(page.entries)} found, truncated={page.truncated}")
    reader._index_missing_until = 0.0

    if args.skip_unbounded:
        return
    scan.MIN_SCAN = 10**9  # the budget lifted: what a grep read cost before it had one
    unbounded = DynamoDBStore(table, client=client(endpoint), shards=args.shards, max_scan=10**9)
    unbounded.check()
    with Accounting(unbounded._client) as counted:
        started = time.perf_counter()
        page = unbounded.recent(Query(grep="zzz"))
        elapsed = time.perf_counter() - started
    print(f"one read, --grep zzz without a budget: {elapsed:.1f} s, {dict(counted.requests)}, "
          f"{counted.examined('Query'):,} items examined")


if __name__ == "__main__":
    main()
