"""Issue 3 figure: the Lambda handlers' cold import time next to `import boto3` alone.

    python benchmarks/bench_handler.py [--runs 21]

Whole-process wall time (median), run alternately: the interpreter alone, `import boto3`, the two
handler modules, and the handler modules plus building their DynamoDB store (which imports boto3
and makes a client, as the first request of a cold Lambda does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import run_once  # noqa: E402

CASES = {
    "python -c pass": "pass",
    "import boto3": "import boto3",
    "import handlers": "import logsvc.handler.ingest, logsvc.handler.read",
    "import handlers + store (cold first request)": (
        "import logsvc.handler.ingest, logsvc.handler.read\n"
        "from logsvc.handler import common\n"
        "common.env_store()"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = dict(os.environ, TABLE_NAME="bench", INDEX_SHARDS="1", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x",
               AWS_SECRET_ACCESS_KEY="x", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, code in CASES.items():
            times[name].append(run_once([sys.executable, "-c", code], env)[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    print("| import | median wall |\n|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1000:.1f} ms |")
    floor = medians["python -c pass"]
    boto = medians["import boto3"] - floor
    print(f"\nhandlers / import boto3 (wall): {medians['import handlers'] / medians['import boto3']:.2f}x")
    print(f"handlers + store / import boto3 (wall): "
          f"{medians['import handlers + store (cold first request)'] / medians['import boto3']:.2f}x")
    print(f"(import boto3 alone costs {boto * 1000:.0f} ms over the bare interpreter)")


if __name__ == "__main__":
    main()
