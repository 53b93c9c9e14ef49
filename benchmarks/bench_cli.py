"""Issue 2 figures: `send` start-up, `recent` on 1,000 vs 1,000,000 entries, bulk send throughput.

    python benchmarks/bench_cli.py [--runs 11] [--big 1000000]

Whole-process wall times (median of --runs), each against a fresh LOGSVC_HOME in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import LOGSVC, median_wall, run_once  # noqa: E402


def write_jsonl(path: Path, count: int) -> None:
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    severities = ("info", "info", "info", "warning", "error")
    with open(path, "w") as out:
        for i in range(count):
            out.write(json.dumps({"severity": severities[i % 5], "message": f"request {i} handled in {i % 997} ms",
                                  "dateTime": (base + timedelta(milliseconds=37 * i)).isoformat()}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="logsvc-bench-"))
    env = dict(os.environ, LOGSVC_HOME=str(work / "home"))
    rows = []

    rows.append(("send 'x' (local default)", median_wall([*LOGSVC, "send", "x"], args.runs, env), ""))
    rows.append(("python -c pass (interpreter floor)", median_wall([sys.executable, "-c", "pass"], args.runs, env), ""))

    small, big = work / "small.jsonl", work / "big.jsonl"
    write_jsonl(small, 1000)
    write_jsonl(big, args.big)
    for count, path in ((1000, small), (args.big, big)):
        store = work / f"{count}.db"
        run_once([*LOGSVC, "send", "--file", str(path), "--store", str(store)], env)
        rows.append((f"recent on {count:,} entries",
                     median_wall([*LOGSVC, "recent", "--store", str(store)], args.runs, env), ""))
    ratio = rows[-1][1] / rows[-2][1]

    hundred_k = work / "100k.jsonl"
    write_jsonl(hundred_k, 100_000)
    times = []
    for i in range(3):
        elapsed, _ = run_once([*LOGSVC, "send", "--file", str(hundred_k), "--store", str(work / f"bulk{i}.db")], env)
        times.append(elapsed)
    best = sorted(times)[1]
    rows.append(("send --file 100,000 lines (median of 3)", best, f"{100_000 / best:,.0f} entries/s"))

    _, peak = run_once([*LOGSVC, "send", "--file", str(big), "--store", str(work / "mem.db")], env)
    print("| measurement | median wall | note |\n|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds * 1000:.1f} ms | {note} |")
    print(f"\nrecent on {args.big:,} / recent on 1,000: {ratio:.2f}x")
    print(f"peak RSS of send --file with {args.big:,} lines: {peak / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
