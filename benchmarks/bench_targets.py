"""Issue 4 figures: remote targets next to the tools operators would otherwise use, in one run.

    python benchmarks/bench_targets.py [--runs 11]

- `logsvc send` (target dynamodb) vs `aws dynamodb put-item`, on one moto server and table;
- `logsvc recent` (target dynamodb) vs the equivalent `aws dynamodb query` on the time index;
- `logsvc send` (target url) vs `curl` doing the same POST, against `logsvc serve`.
Whole-process wall time, median of --runs, every command run alternately in the same loop.
Needs the AWS CLI (`pip install awscli`) and curl.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import LOGSVC, run_once  # noqa: E402


def side_by_side(commands: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, float]:
    """Median wall time of each command, run alternately so load affects all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for cmd, env in commands.values():  # warm-up: caches, pyc files
        run_once(cmd, env)
    for _ in range(runs):
        for name, (cmd, env) in commands.items():
            times[name].append(run_once(cmd, env)[0])
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    if not shutil.which("aws") or not shutil.which("curl"):
        sys.exit("needs the AWS CLI (pip install awscli) and curl")

    import logging

    from moto.server import ThreadedMotoServer

    from logsvc.serve import LocalServer
    from logsvc.store.dynamodb import create_table, make_client
    from logsvc.store.sqlite import SQLiteStore

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto._server.server_port}"
    work = Path(tempfile.mkdtemp(prefix="logsvc-bench-"))
    aws_env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1", LOGSVC_HOME=str(work / "home"))
    table = "bench-logs"
    create_table(make_client("us-east-1", endpoint, aws_access_key_id="bench", aws_secret_access_key="bench"), table)
    dynamo_env = dict(aws_env, LOGSVC_TARGET="dynamodb", LOGSVC_TABLE=table, LOGSVC_ENDPOINT_URL=endpoint)
    seed = work / "seed.jsonl"
    seed.write_text("".join(json.dumps({"severity": "info", "message": f"seed {n}"}) + "\n" for n in range(200)))
    run_once([*LOGSVC, "send", "--file", str(seed)], dynamo_env)
    item = json.dumps({"LogID": {"S": str(uuid.uuid4())}, "DateTime": {"S": "2026-01-01T00:00:00.000000+00:00"},
                       "Severity": {"S": "info"}, "Message": {"S": "x"}, "Shard": {"S": "LOG#0"},
                       "TimeId": {"S": f"2026-01-01T00:00:00.000000+00:00#{uuid.uuid4()}"}})
    dynamo = side_by_side({
        "logsvc send (dynamodb)": ([*LOGSVC, "send", "x"], dynamo_env),
        "aws dynamodb put-item": (["aws", "dynamodb", "put-item", "--table-name", table, "--item", item,
                                   "--endpoint-url", endpoint], aws_env),
        "logsvc recent (dynamodb)": ([*LOGSVC, "recent"], dynamo_env),
        "aws dynamodb query": (["aws", "dynamodb", "query", "--table-name", table, "--index-name", "ByTime",
                                "--key-condition-expression", "Shard = :s",
                                "--expression-attribute-values", '{":s": {"S": "LOG#0"}}',
                                "--no-scan-index-forward", "--limit", "100", "--endpoint-url", endpoint], aws_env),
    }, args.runs)

    server = LocalServer(SQLiteStore(work / "served.db")).start()
    url_env = dict(aws_env, LOGSVC_TARGET="url", LOGSVC_INGEST_URL=server.ingest_url, LOGSVC_READ_URL=server.read_url)
    body = json.dumps({"severity": "info", "message": "x"})
    url = side_by_side({
        "logsvc send (url)": ([*LOGSVC, "send", "x"], url_env),
        "curl POST": (["curl", "-sf", "-X", "POST", server.ingest_url, "-H", "Content-Type: application/json",
                       "-d", body], url_env),
        "logsvc recent (url)": ([*LOGSVC, "recent"], url_env),
        "curl GET": (["curl", "-sf", server.read_url], url_env),
    }, args.runs)
    server.stop()
    moto.stop()

    print("| command | median wall |\n|---|---|")
    for name, seconds in {**dynamo, **url}.items():
        print(f"| {name} | {seconds * 1000:.1f} ms |")
    print()
    print(f"send:   logsvc / aws put-item = {dynamo['logsvc send (dynamodb)'] / dynamo['aws dynamodb put-item']:.2f}x")
    print(f"recent: logsvc / aws query    = {dynamo['logsvc recent (dynamodb)'] / dynamo['aws dynamodb query']:.2f}x")
    print(f"send:   logsvc url / curl     = {url['logsvc send (url)'] / url['curl POST']:.2f}x")


if __name__ == "__main__":
    main()
