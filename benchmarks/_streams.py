"""Throughput and streams: bulk send per target, `serve` under load, `tail -f` latency and idle cost."""

from __future__ import annotations

import os
import pty
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from benchmarks._run import ROOT, Workspace, dynamodb_flags, make_table, percentile, stop, timed, url_flags, write_jsonl


def bulk_send(ws: Workspace, target: str, count: int, runs: int, *, flags: list[str] | None = None,
              env: dict | None = None) -> dict:
    """`send --file` of `count` JSON lines: entries/s (median of `runs`) and peak RSS."""
    path = ws.root / f"bulk-{count}.jsonl"
    if not path.exists():
        write_jsonl(path, count)
    walls, peaks = [], []
    for index in range(runs):
        store = ["--store", str(ws.root / f"bulk-{target}-{count}-{index}.db")] if target == "local" else []
        wall, peak = timed([ws.logsvc, "send", "--file", str(path), *store, *(flags or [])], env or ws.env())
        walls.append(wall)
        peaks.append(peak)
        if store:
            for suffix in ("", "-wal", "-shm"):
                Path(store[1] + suffix).unlink(missing_ok=True)
    walls.sort()
    wall = walls[len(walls) // 2]
    return {"target": target, "count": count, "walls": walls, "rate": count / wall, "peak_mib": max(peaks) / 1024}


def serve_load(duration: float) -> dict:
    """The existing load test (`bench_serve.py`): wrk (else Python clients) against `serve` on SQLite."""
    from benchmarks import bench_serve

    client = "wrk" if shutil.which("wrk") else "python"
    load = bench_serve.run_wrk if client == "wrk" else bench_serve.run_python
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"logsvc-bench-serve-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    process, url = bench_serve.start_server(str(folder / "bench.db"), "auto")
    try:
        single = load(url, bench_serve.SINGLE_BODY, 16, duration)
        batch = load(url, bench_serve.batch_body(500), 16, duration)
    finally:
        stored = bench_serve.stop_server(process)
        shutil.rmtree(folder, ignore_errors=True)
    acknowledged = single["ok"] + batch["ok"] * 500
    return {"client": client, "duration": duration, "single": single, "batch": batch,
            "batch_rate": batch["rate"] * 500, "stored": stored, "acknowledged": acknowledged,
            "consistent": acknowledged <= stored <= acknowledged + 16 * 501}


class _Lines:
    """Reads a process's terminal (or pipe) in a thread: each line with the moment it arrived."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lines: queue.Queue = queue.Queue()
        self.count = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            now = time.perf_counter()
            pending += chunk
            *complete, pending = pending.split(b"\n")
            self.count += len(complete)
            for line in complete:
                if b"bench-" in line:  # only the marked lines are waited for
                    self.lines.put((now, line))

    def wait_for(self, token: bytes, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"{token!r} was not printed within {timeout:.0f} s")
            try:
                arrived, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if token in line:
                return arrived


def tail_latency(ws: Workspace, target: str, flags: list[str], env: dict, samples: int) -> dict:
    """Seconds from `logsvc send` returning to its line printed by `logsvc tail -f` (default interval).

    The tail draws on a terminal (a pty), as an operator watches it; each send waits a random
    part of the poll interval first, so the samples cover every phase of the poll.
    """
    subprocess.run([ws.logsvc, "send", "bench-prime", *flags], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # the store exists before the tail opens it
    master, slave = pty.openpty()
    tail = subprocess.Popen([ws.logsvc, "tail", "-f", "-n", "0", *flags], env=env, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    lines = _Lines(master)
    latencies = []
    try:
        for index in range(samples + 1):  # the first is a warm-up: the tail's start-up is not the latency
            time.sleep(random.uniform(0, 1.0))
            token = f"bench-{uuid.uuid4().hex[:12]}".encode()
            subprocess.run([ws.logsvc, "send", token.decode(), *flags], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            returned = time.perf_counter()
            try:
                printed = lines.wait_for(token, 30 if index else 60)
            except RuntimeError as exc:
                raise RuntimeError(f"tail -f on the {target} target: {exc}") from None
            if index:
                latencies.append(printed - returned)
    finally:
        stop(tail)
        os.close(master)
    return {"target": target, "latencies": latencies, "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99), "max": max(latencies)}


def tail_idle(ws: Workspace, count: int, idle_seconds: float) -> dict:
    """`tail -f -o jsonl` while `send --file` stores `count` entries; then its CPU and RSS at rest."""
    store = ws.root / "tail-idle.db"
    path = ws.root / f"bulk-{count}.jsonl"
    if not path.exists():
        write_jsonl(path, count)
    subprocess.run([ws.logsvc, "send", "bench-start", "--store", str(store)], env=ws.env(), check=True,
                   stdout=subprocess.DEVNULL)
    read, write = os.pipe()
    tail = subprocess.Popen([ws.logsvc, "tail", "-f", "-n", "1", "-o", "jsonl", "--store", str(store)],
                            env=ws.env(), stdin=subprocess.DEVNULL, stdout=write, stderr=subprocess.DEVNULL)
    os.close(write)
    lines = _Lines(read)
    try:
        lines.wait_for(b"bench-start", 60)
        started = time.perf_counter()
        timed([ws.logsvc, "send", "--file", str(path), "--store", str(store)], ws.env())
        deadline = time.perf_counter() + 600
        while lines.count < count + 1 and time.perf_counter() < deadline:
            time.sleep(0.1)
        passed = time.perf_counter() - started
        if lines.count < count + 1:
            raise RuntimeError(f"tail printed {lines.count - 1} of {count} entries")
        time.sleep(1.0)
        before = _cpu_seconds(tail.pid)
        time.sleep(idle_seconds)
        cpu = (_cpu_seconds(tail.pid) - before) / idle_seconds
        rss, peak = _memory_kib(tail.pid)
    finally:
        stop(tail)
        os.close(read)
    return {"count": count, "passed_s": passed, "idle_cpu": cpu, "idle_s": idle_seconds,
            "rss_mib": rss / 1024, "peak_mib": peak / 1024}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return (int(re.search(r"VmRSS:\s+(\d+)", status).group(1)), int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))


def tail_targets(ws: Workspace, samples: int, endpoint: str, table: str, urls: tuple[str, str]) -> list[dict]:
    """Tail latency on each target: the local store, `logsvc serve` (url) and DynamoDB (moto).

    DynamoDB gets a table of its own: moto answers an index Query by walking every item of the
    table (480 ms a poll once the bulk section has put 10,000 entries in the shared one, against
    8 ms at 200), where DynamoDB's cost follows the items returned. On the shared table the
    figure was moto's scan, not the tail's latency.
    """
    tail_table = f"{table}-tail"
    make_table(endpoint, tail_table)
    return [
        tail_latency(ws, "local", ["--store", str(ws.root / "tail-local.db")], ws.env(), samples),
        tail_latency(ws, "url", [], ws.env(**url_flags(*urls)), samples),
        tail_latency(ws, "dynamodb", dynamodb_flags(endpoint, tail_table), ws.env(), samples),
    ]


def stats_local(ws: Workspace, store: Path, rounds: int) -> dict | None:
    """`logsvc stats --since 24h --by 1h` over the big store, beside the bare GROUP BY (bench_stats.py)."""
    from benchmarks import bench_stats
    from benchmarks._run import compare

    base = [ws.logsvc, "stats", "--since", "24h", "--by", "1h", "--store", str(store)]
    try:
        times = compare({"logsvc stats -o json": [*base, "-o", "json"], "logsvc stats (chart)": base,
                         "bare sqlite3 GROUP BY": [ws.python, "-c", bench_stats.BARE, str(store)]},
                        ws.env(), rounds=rounds, per_round=2)
    except RuntimeError as exc:
        return {"error": str(exc)}
    return {"times": times}


def logging_handler(quick: bool) -> str:
    """The logging handler's figures: `bench_logging.py`'s own tables, as it prints them."""
    args = ["--calls", "500", "--records", "20000"] if quick else ["--calls", "2000", "--records", "50000"]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_logging.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    if done.returncode != 0:
        return f"bench_logging.py failed: {done.stderr[-500:]}"
    return f"`python benchmarks/bench_logging.py {' '.join(args)}`\n\n{done.stdout.strip()}"
