"""Issue 11 figures: `logsvc stats --since 24h --by 1h`, whole process, next to the alternatives.

    python benchmarks/bench_stats.py [--entries 1000000] [--dynamodb-entries 3000] [--runs 5]

- local: a store of --entries entries spread over the last 24 hours; `logsvc stats` (one
  GROUP BY over the time index) beside the same GROUP BY in a bare `python -c` with sqlite3
  (the floor: what the query costs without logsvc), and beside downloading the window to
  count it (`logsvc export --since 24h | wc -l`, what one would do without stats).
- dynamodb (moto on loopback): a table of --dynamodb-entries entries over 24 hours, 1 and 4
  shards; the requests and read units `stats` reports (Select=COUNT queries), beside what
  reading the same window's items costs (Query pages with ReturnConsumedCapacity). moto's
  capacity figures follow DynamoDB's rules (4 KB read units, halved for eventually consistent
  reads) but are not AWS's bill.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import LOGSVC, run_once  # noqa: E402

SEVERITIES = ("info", "info", "info", "info", "info", "info", "warning", "warning", "error", "error")


def stored(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def fill_local(path: Path, count: int) -> None:
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(path)
    store.count()  # creates the schema
    store.close()
    rng = random.Random(1)
    now = datetime.now(timezone.utc)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    chunk = 100_000
    for start in range(0, count, chunk):
        rows = []
        for index in range(start, min(count, start + chunk)):
            instant = now - timedelta(seconds=rng.uniform(0, 86_400))
            rows.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), stored(instant),
                         SEVERITIES[index % 10], f"request {index} served in {rng.randrange(900)} ms", "bench"))
        conn.executemany("INSERT INTO entries (id, date_time, severity, message, source) VALUES (?, ?, ?, ?, ?)", rows)
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


BARE = """
import sqlite3, sys, time
from datetime import datetime, timedelta, timezone
now = datetime.now(timezone.utc)
since = (now - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT (CAST(strftime('%s', substr(date_time, 1, 19)) AS INTEGER) - ?) / 3600, severity, count(*)"
                    " FROM entries WHERE date_time >= ? AND date_time < ? GROUP BY 1, 2",
                    (int(since.timestamp()), since.isoformat(timespec='microseconds'),
                     now.isoformat(timespec='microseconds'))).fetchall()
print(sum(r[2] for r in rows))
"""


def side_by_side(commands: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd, env in commands.values():
        run_once(cmd, env)
    for _ in range(runs):
        for name, (cmd, env) in commands.items():
            times[name].append(run_once(cmd, env)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def local(entries: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        db = Path(home) / "logs.db"
        started = time.perf_counter()
        fill_local(db, entries)
        print(f"filled {entries:,} entries in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        env = {**os.environ, "LOGSVC_HOME": home}
        answer = json.loads(subprocess.run([*LOGSVC, "stats", "--since", "24h", "--by", "1h", "-o", "json"], env=env,
                                           capture_output=True, check=True).stdout)
        export = [*LOGSVC, "export", "--since", "24h"]
        medians = side_by_side({
            "stats": ([*LOGSVC, "stats", "--since", "24h", "--by", "1h", "-o", "json"], env),
            "stats (chart)": ([*LOGSVC, "stats", "--since", "24h", "--by", "1h"], env),
            "bare sqlite3 GROUP BY": ([sys.executable, "-c", BARE, str(db)], env),
        }, runs)
        export_time = statistics.median(run_once(export, env)[0] for _ in range(max(1, runs // 2)))
        print(f"\n### local, {entries:,} entries over 24 h (counted: {answer['total']:,} in "
              f"{len(answer['buckets'])} buckets)\n")
        print("| command | median wall | vs stats |\n|---|---:|---:|")
        base = medians["stats"]
        for name, seconds in medians.items():
            print(f"| {name} | {seconds * 1000:.0f} ms | {seconds / base:.2f}× |")
        print(f"| export the window (download to count) | {export_time * 1000:.0f} ms | {export_time / base:.1f}× |")


def dynamodb(entries: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from logsvc.store.dynamodb import DynamoDBStore, create_table, make_client

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    rng = random.Random(2)
    now = datetime.now(timezone.utc)
    rows = [{"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
             "dateTime": stored(now - timedelta(seconds=rng.uniform(0, 86_400))), "severity": SEVERITIES[i % 10],
             "message": f"request {i} served in {rng.randrange(900)} ms", "source": "bench"} for i in range(entries)]
    print(f"\n### dynamodb (moto), {entries:,} entries over 24 h, `stats --since 24h --by 1h`\n")
    print("| shards | requests | read units (moto) | read units (DynamoDB rules, estimate) | wall |"
          " reading the window's items instead: requests, units (moto), units (estimate) |")
    print("|---:|---:|---:|---:|---:|---|")
    try:
        for shards in (1, 4):
            client = make_client("us-east-1", endpoint, read_timeout=120, **credentials)
            table = f"bench-{uuid.uuid4().hex[:8]}"
            create_table(client, table, shards=shards)
            store = DynamoDBStore(table, client=client)
            for start in range(0, entries, 500):
                store.put(rows[start:start + 500])
            env = {**os.environ, "LOGSVC_TARGET": "dynamodb", "LOGSVC_TABLE": table, "LOGSVC_ENDPOINT_URL": endpoint,
                   "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "LOGSVC_HOME": tempfile.mkdtemp()}
            started = time.perf_counter()
            answer = json.loads(subprocess.run([*LOGSVC, "stats", "--since", "24h", "--by", "1h", "-o", "json"],
                                               env=env, capture_output=True, check=True).stdout)
            wall = time.perf_counter() - started
            assert answer["total"] == entries, answer["total"]
            reads, units = read_items(client, table, shards, stored(now - timedelta(hours=25)))
            count_estimate, read_estimate = estimates(rows, shards, answer["buckets"])
            print(f"| {shards} | {answer['requests']} | {answer['readUnits']:g} | {count_estimate:g} | {wall:.2f} s |"
                  f" {reads}, {units:g}, {read_estimate:g} |")
            store.close()
    finally:
        server.stop()


def item_size(entry: dict) -> int:
    """DynamoDB's item size: attribute names plus values (UTF-8), as stored by logsvc."""
    values = {"LogID": entry["id"], "DateTime": entry["dateTime"], "Severity": entry["severity"],
              "Message": entry["message"], "Source": entry["source"], "Shard": "LOG#0",
              "TimeId": f"{entry['dateTime']}#{entry['id']}"}
    return sum(len(name) + len(value.encode()) for name, value in values.items())


def estimates(rows: list[dict], shards: int, buckets: list[dict]) -> tuple[float, float]:
    """Read units by DynamoDB's rules (eventually consistent: 0.5 per 4 KB read, per 1 MB page):
    the COUNT plan (all entries on ByTime, warning and error again on BySeverity) and one read of the items."""
    import math

    from logsvc.store.dynamodb import shard_of

    def units(size: int) -> float:
        pages = max(1, math.ceil(size / (1 << 20)))
        return sum(math.ceil(min(1 << 20, size - page * (1 << 20)) / 4096) * 0.5 for page in range(pages)) or 0.5

    per_range: dict[tuple[int, int], int] = {}
    per_level: dict[tuple[int, int, str], int] = {}
    per_shard: dict[int, int] = {}
    starts = [bucket["start"] for bucket in buckets] + [buckets[-1]["end"]]
    import bisect

    for entry in rows:
        index = bisect.bisect_right(starts, entry["dateTime"]) - 1
        if not 0 <= index < len(buckets):
            continue
        shard = shard_of(entry["id"], shards)
        per_range[(index, shard)] = per_range.get((index, shard), 0) + item_size(entry)
        if entry["severity"] != "info":  # also in BySeverity, with its SevShard attribute
            key = (index, shard, entry["severity"])
            per_level[key] = per_level.get(key, 0) + item_size(entry) + len("SevShard") + len(entry["severity"]) + 2
        per_shard[shard] = per_shard.get(shard, 0) + item_size(entry)
    # ByTime for all entries, then each of warning and error on its BySeverity partition.
    count_plan = sum(units(per_range.get((index, shard), 0)) + units(per_level.get((index, shard, "warning"), 0))
                     + units(per_level.get((index, shard, "error"), 0))
                     for index in range(len(buckets)) for shard in range(shards))
    read_plan = sum(units(per_shard.get(shard, 0)) for shard in range(shards))
    return count_plan, read_plan


def read_items(client, table: str, shards: int, since: str) -> tuple[int, float]:
    requests, units = 0, 0.0
    for shard in range(shards):
        request = {"TableName": table, "IndexName": "ByTime", "ReturnConsumedCapacity": "TOTAL",
                   "KeyConditionExpression": "Shard = :s AND TimeId > :t",
                   "ExpressionAttributeValues": {":s": {"S": f"LOG#{shard}"}, ":t": {"S": since}}}
        while True:
            page = client.query(**request)
            requests += 1
            units += page["ConsumedCapacity"]["CapacityUnits"]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return requests, units


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--dynamodb-entries", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.entries:
        local(args.entries, args.runs)
    if args.dynamodb_entries:
        dynamodb(args.dynamodb_entries)


if __name__ == "__main__":
    main()
