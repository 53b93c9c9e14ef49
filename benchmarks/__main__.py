"""python -m benchmarks [--quick] [--only SECTION ...] [--out DIR]

Measures logsvc's headline figures on this machine and writes DIR/RESULTS.md (default: this
folder) and the plots. About 2 minutes with --quick, under 10 without, on 2 cores. Needs, for
all rows: hyperfine (else a Python timer), wrk (else Python load clients), the AWS CLI and curl
on PATH, and matplotlib for the plots (`pip install -e '.[bench]'`). Run it from the checkout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import traceback
import uuid
from contextlib import ExitStack
from pathlib import Path

from benchmarks import _commands, _report, _streams
from benchmarks._run import Workspace, aws_cli, dynamodb_flags, fill_store, logsvc_serve, make_table, moto_server, url_flags

SECTIONS = ("startup", "recent", "table", "dynamodb", "shards", "url", "bulk", "serve", "tail", "idle", "stats",
            "logging")
QUICK = {"sizes": (1_000, 100_000), "startup": 4, "recent": 3, "table": 2, "first_rows": 1, "bulk_local": (100_000, 1),
         "bulk_url": 20_000, "bulk_dynamodb": 2_000, "serve": 4.0, "dynamodb": 3, "shards": 3, "url": 2, "tail": 6,
         "idle": (100_000, 5.0), "stats": 2}
FULL = {"sizes": (1_000, 100_000, 1_000_000), "startup": 10, "recent": 5, "table": 4, "first_rows": 3,
        "bulk_local": (1_000_000, 3), "bulk_url": 100_000, "bulk_dynamodb": 10_000, "serve": 10.0, "dynamodb": 8, "shards": 6,
        "url": 4, "tail": 15, "idle": (1_000_000, 10.0), "stats": 4}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[2].strip())
    parser.add_argument("--quick", action="store_true", help="smaller stores and fewer runs: about 2 minutes")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                        help=f"measure only these: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="where RESULTS.md and the plots go (default: benchmarks/)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    wanted = set(args.only or SECTIONS)
    results: dict = {}
    failed: list[str] = []
    started = time.perf_counter()

    def section(name: str, work, key: str | None = None) -> None:
        if name not in wanted:
            return
        print(f"[{time.perf_counter() - started:5.0f} s] {name}", file=sys.stderr, flush=True)
        try:
            results[key or name] = work()
        except Exception:  # one broken measurement must not lose the others' figures
            traceback.print_exc()
            failed.append(name)

    ws = Workspace()
    try:
        with ExitStack() as running:
            stores = {}
            if wanted & {"recent", "table", "stats"}:
                for size in plan["sizes"]:
                    stores[size] = ws.root / f"store-{size}.db"
                    fill_store(stores[size], size)
            big = stores.get(max(plan["sizes"]))
            endpoint = table = urls = None
            if wanted & {"dynamodb", "shards", "bulk", "tail"}:
                endpoint = running.enter_context(moto_server())
                table = f"bench-{uuid.uuid4().hex[:8]}"
                make_table(endpoint, table)
                seed = ws.root / "seed.jsonl"
                seed.write_text("".join(f'{{"severity": "info", "message": "seed {n} served in 1 ms"}}\n' for n in range(200)))
                _streams.timed([ws.logsvc, "send", "--file", str(seed), *dynamodb_flags(endpoint, table)], ws.env())
            if wanted & {"url", "bulk", "tail"}:
                urls = running.enter_context(logsvc_serve(ws, ws.root / "served.db"))

            section("startup", lambda: _commands.startup(ws, plan["startup"]))
            section("recent", lambda: _commands.recent_by_size(ws, stores, plan["recent"]), "recent_size")
            # 100,000: the most `recent -n` takes.
            section("table", lambda: _commands.table_vs_jsonl(ws, big, plan["table"], min(max(plan["sizes"]), 100_000),
                                                              plan["first_rows"]))
            for name, tool, work in (
                ("dynamodb", aws_cli(), lambda: _commands.dynamodb_vs_aws(ws, endpoint, table, plan["dynamodb"])),
                ("url", shutil.which("curl"), lambda: _commands.url_vs_curl(ws, *urls, plan["url"])),
            ):
                if tool:
                    section(name, work)
                elif name in wanted:
                    print(f"{name}: skipped, {'the AWS CLI' if name == 'dynamodb' else 'curl'} is not on PATH",
                          file=sys.stderr)
            section("shards", lambda: _commands.shards_at_distance(ws, endpoint, plan["shards"]))
            section("bulk", lambda: [
                _streams.bulk_send(ws, "local", plan["bulk_local"][0], plan["bulk_local"][1]),
                _streams.bulk_send(ws, "url", plan["bulk_url"], 1, env=ws.env(**url_flags(*urls))),
                _streams.bulk_send(ws, "dynamodb", plan["bulk_dynamodb"], 1, flags=dynamodb_flags(endpoint, table)),
            ])
            section("serve", lambda: _streams.serve_load(plan["serve"]))
            section("tail", lambda: _streams.tail_targets(ws, plan["tail"], endpoint, table, urls))
            section("idle", lambda: _streams.tail_idle(ws, *plan["idle"]))
            if "stats" in wanted:
                results["stats_count"] = max(plan["sizes"])
            section("stats", lambda: _streams.stats_local(ws, big, plan["stats"]))
            section("logging", lambda: _streams.logging_handler(args.quick))
    finally:
        ws.close()
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + (
        f" --only {' '.join(args.only)}" if args.only else "")
    args.out.mkdir(parents=True, exist_ok=True)
    notes = _report.plots(args.out, results)
    _report.write_results(args.out / "RESULTS.md", results, command)
    print("\n".join(_report.headline(results)))
    print(f"wrote {args.out / 'RESULTS.md'} and {', '.join(notes) or 'no plots'} in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    if failed:
        sys.exit(f"failed: {', '.join(failed)} (tracebacks above)")


if __name__ == "__main__":
    main()
