"""Whole-process timing helpers shared by the benchmarks: median wall time and peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

LOGSVC = [sys.executable, "-m", "logsvc"]


def run_once(cmd: list[str], env: dict | None = None, stdin: bytes | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run; raises if the command fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.read().decode()[-500:]}")
    proc.stderr.close()
    return elapsed, usage.ru_maxrss


def median_wall(cmd: list[str], runs: int = 11, env: dict | None = None, warmup: int = 1) -> float:
    for _ in range(warmup):
        run_once(cmd, env)
    return statistics.median(run_once(cmd, env)[0] for _ in range(runs))


def row(name: str, seconds: float, note: str = "") -> str:
    return f"| {name} | {seconds * 1000:.1f} ms | {note} |"
