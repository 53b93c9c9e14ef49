"""Issue 10 figures: what each operation costs in DynamoDB requests and capacity units, and in dollars.

    python benchmarks/bench_costs.py

Counts requests and items through botocore's event hooks (tests/request_accounting.py) against a
moto server on loopback, for 1 and 4 shards, then prices them (README "Scale and cost"):

- write units: 1 per item written to the table, plus 1 per index the item is in (``ByTime``
  always, ``BySeverity`` for warnings and errors); every entry here is under 1 KB;
- read units: a Query is billed on the total size of the items it examined, rounded up to 4 KB,
  at 0.5 unit per 4 KB (eventually consistent), 0.5 at least; BatchGetItem is strongly consistent,
  1 unit per key looked up, found or not;
- one Lambda invocation per HTTP request (Function URLs add no charge), 256 MB arm64, ~20 ms warm.

moto reports ScannedCount; item sizes are computed as DynamoDB does (attribute names plus values).
"""

from __future__ import annotations

import logging
import math
import sys
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from moto.server import ThreadedMotoServer  # noqa: E402
from request_accounting import Accounting  # noqa: E402

from logsvc.entry import normalise  # noqa: E402
from logsvc.store import Query  # noqa: E402
from logsvc.store.dynamodb import DynamoDBStore, create_table, make_client  # noqa: E402
from logsvc.times import format_utc, now_utc  # noqa: E402

# us-east-1 on-demand (see the README for the source and date).
WRITE_UNIT = 0.625 / 1e6
READ_UNIT = 0.125 / 1e6
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_SECONDS = 0.020
LAMBDA_GB = 0.25
INVOCATION = LAMBDA_REQUEST + LAMBDA_GB_SECOND * LAMBDA_GB * LAMBDA_SECONDS
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def item_bytes(item: dict) -> int:
    size = 0
    for name, value in item.items():
        (kind, data), = value.items()
        size += len(name.encode()) + (len(data.encode()) if kind == "S" else len(str(data)))
    return size


def read_units(counted: Accounting) -> float:
    units = 0.0
    for call in counted.calls:
        if call.operation == "Query":
            units += 0.5 * max(1, math.ceil(call.bytes / 4096))
        elif call.operation in ("GetItem", "BatchGetItem"):
            keys = sum(len(r["Keys"]) for r in call.params.get("RequestItems", {}).values()) or 1
            units += keys * (1 if call.params.get("ConsistentRead") or call.operation == "BatchGetItem" else 0.5)
    return units


def write_units(entries: list[dict]) -> int:
    return sum(2 + (entry["severity"] != "info") for entry in entries)


class Sized(Accounting):
    """Accounting that also keeps the size of the items each Query returned."""

    def _after(self, model, parsed, **kwargs):
        super()._after(model=model, parsed=parsed, **kwargs)
        self.calls[-1].bytes = sum(item_bytes(item) for item in parsed.get("Items", []))


def entries(count: int, start, severity: str = "info") -> list[dict]:
    return [normalise({"severity": severity, "message": f"GET /api/orders/{n} 200 in 35 ms", "source": "web-1",
                       "dateTime": format_utc(start + timedelta(milliseconds=n))}) for n in range(count)]


def measure(endpoint: str, shards: int) -> dict:
    client = make_client("us-east-1", endpoint, **CREDENTIALS)
    table = f"costs-{shards}-{uuid.uuid4().hex[:6]}"
    create_table(client, table, shards=shards)
    store = DynamoDBStore(table, client=client, shards=shards)
    store.check()
    past = now_utc() - timedelta(hours=1)
    rows = {}

    def run(name, action, written=()):
        with Sized(client) as counted:
            result = action()
        rows[name] = (dict(counted.requests), counted.examined("Query"), read_units(counted), write_units(written))
        return result

    one = entries(1, past - timedelta(hours=1))
    run("send 1 entry", lambda: store.put(one), one)
    bulk = entries(1000, past)
    run("send 1,000 entries (batch)", lambda: store.put(bulk), bulk)
    errors = entries(10, past + timedelta(seconds=5), severity="error")
    store.put(errors)
    run("recent (limit 100)", lambda: store.recent(Query(limit=100)))
    run("recent (limit 10)", lambda: store.recent(Query(limit=10)))
    run("recent --severity error (limit 100; 10 exist)", lambda: store.recent(Query(min_severity="error")))
    cursor = store.recent(Query(limit=1)).cursor
    run("tail poll, nothing new", lambda: store.follow(cursor, Query(limit=1000)))
    at = bulk[500]["dateTime"]
    until = format_utc(now_utc().fromisoformat(at) + timedelta(microseconds=1))
    run("doctor canary read (by its microsecond)", lambda: store.recent(Query(limit=10, since=at, until=until)))
    client.close()
    return rows


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    try:
        results = {shards: measure(endpoint, shards) for shards in (1, 4)}
    finally:
        server.stop()
    print("| operation | shards | requests | items examined (Query) | read units | write units |")
    print("|---|---|---|---|---|---|")
    for shards, rows in results.items():
        for name, (requests, examined, rru, wru) in rows.items():
            shown = ", ".join(f"{count} {operation}" for operation, count in sorted(requests.items()))
            print(f"| {name} | {shards} | {shown} | {examined} | {rru:g} | {wru} |")
    print()
    print("Dollars per million, from the 4-shard counts (1 invocation per HTTP request):")
    rows = results[4]
    single = rows["send 1 entry"][3] * WRITE_UNIT + INVOCATION
    batch = (rows["send 1,000 entries (batch)"][3] * WRITE_UNIT + rows["send 1,000 entries (batch)"][2] * READ_UNIT) / 1000
    batch += INVOCATION / 500  # 500 entries per ingest request
    recent = rows["recent (limit 100)"][2] * READ_UNIT + INVOCATION
    poll = rows["tail poll, nothing new"][2] * READ_UNIT + INVOCATION
    for name, dollars in (("entries ingested one per request", single), ("entries ingested in batches of 500", batch),
                          ("`recent` calls (limit 100)", recent), ("tail polls (idle)", poll)):
        print(f"  {name}: ${dollars * 1e6:.2f}")
    print(f"  a tail-hour at the default 1 s interval: ${poll * 3600:.4f}")
    for shards in (1, 4):
        rows = results[shards]
        print(f"  ({shards} shard{'s' if shards > 1 else ''}) recent: ${(rows['recent (limit 100)'][2] * READ_UNIT + INVOCATION) * 1e6:.2f}"
              f" per million; tail-hour ${(rows['tail poll, nothing new'][2] * READ_UNIT + INVOCATION) * 3600:.4f}")


if __name__ == "__main__":
    main()
