"""One-shot commands, whole process, next to what an operator would run instead.

Each function measures one group of the headline table and returns its figures as plain data
(seconds, lists of seconds); `_report` turns them into RESULTS.md and the plots.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
import uuid
from pathlib import Path

from benchmarks._run import Workspace, aws_cli, compare, dynamodb_flags, median

NEWEST_100 = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT id, date_time, severity, message, source FROM entries"
                    " ORDER BY date_time DESC, id DESC LIMIT 100").fetchall()
sys.stdout.write("".join(f"{r[1]} {r[2]} {r[3]}\\n" for r in rows))
"""

# What `recent` on the dynamodb target cannot do without, in a bare script: Typer (every command
# loads it), botocore's credentials, SigV4 and HTTP session (the issue keeps them), and the same
# two requests (the settings item for the shard count, then the Query), printed as JSON.
RECENT_FLOOR = """
import json, sys
import typer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import EnvProvider
from botocore.httpsession import URLLib3Session
endpoint, table = sys.argv[1], sys.argv[2]
credentials, http = EnvProvider().load(), URLLib3Session()
def call(operation, body):
    request = AWSRequest(method="POST", url=endpoint + "/", data=json.dumps(body).encode(), headers={
        "X-Amz-Target": "DynamoDB_20120810." + operation, "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(credentials, "dynamodb", "us-east-1").add_auth(request)
    return json.loads(http.send(request.prepare()).content)
call("GetItem", {"TableName": table, "Key": {"LogID": {"S": "__logsvc_settings__"}}, "ConsistentRead": True})
items = call("Query", {"TableName": table, "IndexName": "ByTime", "KeyConditionExpression": "Shard = :s",
                       "ExpressionAttributeValues": {":s": {"S": "LOG#0"}}, "ScanIndexForward": False, "Limit": 100})
sys.stdout.write(json.dumps(items["Items"], indent=2) + "\\n")
"""


# What storing one entry costs below logsvc: open the store in WAL mode, insert, commit, close
# (the close checkpoints the WAL into the file and syncs it, as every `send` does).
STORE_ONE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
conn.execute("CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, date_time TEXT)")
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO entries (id, date_time) VALUES (lower(hex(randomblob(16))), '2026-01-01')")
conn.execute("COMMIT")
conn.close()
"""


def startup(ws: Workspace, rounds: int) -> dict:
    """`logsvc send x` on the local default, beside importing Typer alone and the bare interpreter.

    Context: the same start-up without the write (`recent -o jsonl -n 1`), and the write alone in
    a bare sqlite3 script, so the two parts of what `send` adds to Typer show apart.
    """
    times = compare({
        "logsvc send x (local)": [ws.logsvc, "send", "x"],
        'python -c "import typer"': [ws.python, "-c", "import typer"],
        "logsvc recent -o jsonl -n 1 (no write)": [ws.logsvc, "recent", "-o", "jsonl", "-n", "1"],
        "python: one sqlite3 WAL insert (the write alone)": [ws.python, "-c", STORE_ONE, str(ws.root / "one.db")],
        "python -c pass": [ws.python, "-c", "pass"],
    }, ws.env(), rounds=rounds, per_round=3)
    return {"times": times, "ratio": median(times["logsvc send x (local)"]) / median(times['python -c "import typer"'])}


def recent_by_size(ws: Workspace, stores: dict[int, Path], rounds: int) -> dict:
    """`recent` (table and jsonl) on stores of each size, beside the same query in a bare sqlite3 script."""
    commands = {}
    for size, path in stores.items():
        commands[f"recent {size}"] = [ws.logsvc, "recent", "--store", str(path)]
        commands[f"recent -o jsonl {size}"] = [ws.logsvc, "recent", "-o", "jsonl", "--store", str(path)]
        commands[f"sqlite3 {size}"] = [ws.python, "-c", NEWEST_100, str(path)]
    times = compare(commands, ws.env(), rounds=rounds, per_round=2)
    sizes = sorted(stores)
    return {"sizes": sizes, "times": times,
            "growth": median(times[f"recent {sizes[-1]}"]) / median(times[f"recent {sizes[0]}"])}


def table_vs_jsonl(ws: Workspace, store: Path, rounds: int, big_limit: int, first_runs: int) -> dict:
    """`recent -n 10000` drawn as a table against -o jsonl; then the first row on a terminal."""
    base = [ws.logsvc, "recent", "--store", str(store)]
    times = compare({"table": [*base, "-n", "10000"], "jsonl": [*base, "-n", "10000", "-o", "jsonl"]},
                    ws.env(), rounds=rounds, per_round=2)
    first = {}
    for output in ("table", "jsonl"):
        for limit in (10_000, big_limit):
            runs = [first_row_on_terminal([*base, "-n", str(limit), "-o", output], ws.env()) for _ in range(first_runs)]
            first[f"{output} -n {limit}"] = median(runs)
    return {"times": times, "ratio": median(times["table"]) / median(times["jsonl"]), "first_row": first}


def first_row_on_terminal(cmd: list[str], env: dict, timeout: float = 40.0) -> float:
    """Seconds from start until the first entry's line is on a 120-column terminal (a pty).

    The command is killed as soon as the line is there: at a large -n, waiting for the rest is
    what this measures the absence of. A data row is a line holding a message of the store.
    After `timeout` it gives up and returns the timeout: a lower bound.
    """
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    # The terminal sizes the table, and colours it as an operator's would.
    env = {key: value for key, value in env.items() if key not in ("COLUMNS", "LINES", "NO_COLOR")}
    started = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            seen += chunk
            if b"served in" in seen:
                return time.perf_counter() - started
        if process.poll() is None:
            return timeout
        raise RuntimeError(f"no entry appeared from {' '.join(cmd[1:])}: {seen[-300:]!r}")
    finally:
        process.kill()
        process.wait()
        os.close(master)


def dynamodb_vs_aws(ws: Workspace, endpoint: str, table: str, rounds: int) -> dict:
    """`send` and `recent` on the dynamodb target beside the AWS CLI's put-item and query, same moto server."""
    import json

    flags = dynamodb_flags(endpoint, table)
    entry_id = str(uuid.uuid4())
    item = json.dumps({"LogID": {"S": entry_id}, "DateTime": {"S": "2026-01-01T00:00:00.000000+00:00"},
                       "Severity": {"S": "info"}, "Message": {"S": "x"}, "Shard": {"S": "LOG#0"},
                       "TimeId": {"S": f"2026-01-01T00:00:00.000000+00:00#{entry_id}"}})
    aws = [aws_cli() or "aws", "--endpoint-url", endpoint, "dynamodb"]
    times = compare({
        "logsvc send x": [ws.logsvc, "send", "x", *flags],
        "aws dynamodb put-item": [*aws, "put-item", "--table-name", table, "--item", item],
        "logsvc recent": [ws.logsvc, "recent", *flags],
        # What `aws dynamodb query` prints is JSON: the like-for-like output (the table adds Rich).
        "logsvc recent -o json": [ws.logsvc, "recent", "-o", "json", *flags],
        "aws dynamodb query": [*aws, "query", "--table-name", table, "--index-name", "ByTime",
                               "--key-condition-expression", "Shard = :s",
                               "--expression-attribute-values", '{":s": {"S": "LOG#0"}}',
                               "--no-scan-index-forward", "--limit", "100"],
        "floor of recent: Typer, botocore signing, the same two requests (bare script)":
            [ws.python, "-c", RECENT_FLOOR, endpoint, table],
    }, ws.env(), rounds=rounds, per_round=2)
    return {"times": times,
            "send": median(times["logsvc send x"]) / median(times["aws dynamodb put-item"]),
            "recent": median(times["logsvc recent"]) / median(times["aws dynamodb query"]),
            "recent_json": median(times["logsvc recent -o json"]) / median(times["aws dynamodb query"])}


DISTANCE = 0.05  # seconds a request is held on its way to moto: a round trip to a far region


def shards_at_distance(ws: Workspace, endpoint: str, rounds: int) -> dict:
    """`recent -o json` on a 1-shard and a 4-shard table, each request held `DISTANCE` on its way:
    the 4 shards' first Queries go out together, so the extra shards should cost no round trip."""
    from benchmarks._run import distant, make_table, timed

    tables = {shards: f"bench-shards{shards}-{uuid.uuid4().hex[:6]}" for shards in (1, 4)}
    seed = ws.root / "shards-seed.jsonl"
    seed.write_text("".join(f'{{"severity": "info", "message": "seed {n}"}}\n' for n in range(200)))
    for shards, table in tables.items():
        make_table(endpoint, table, shards)
        timed([ws.logsvc, "send", "--file", str(seed), *dynamodb_flags(endpoint, table)], ws.env())
    with distant(endpoint, DISTANCE) as far:
        times = compare({f"logsvc recent -o json, {shards} shard{'s' * (shards > 1)}, {DISTANCE * 1000:.0f} ms away":
                         [ws.logsvc, "recent", "-o", "json", *dynamodb_flags(far, table)]
                         for shards, table in tables.items()}, ws.env(), rounds=rounds, per_round=2)
    one, four = (median(values) for values in times.values())
    return {"times": times, "distance": DISTANCE, "ratio": four / one}


def url_vs_curl(ws: Workspace, ingest: str, read: str, rounds: int) -> dict:
    """The url target (against `logsvc serve`) beside curl doing the same requests: context, no target."""
    from benchmarks._run import url_flags

    env = ws.env(**url_flags(ingest, read))
    times = compare({
        "logsvc send x (url)": [ws.logsvc, "send", "x"],
        "curl POST": ["curl", "-sf", "-X", "POST", ingest, "-H", "Content-Type: application/json",
                      "-d", '{"severity":"info","message":"x"}'],
        "logsvc recent -o jsonl (url)": [ws.logsvc, "recent", "-o", "jsonl"],
        "curl GET": ["curl", "-sf", read],
    }, env, rounds=rounds, per_round=2)
    return {"times": times}
