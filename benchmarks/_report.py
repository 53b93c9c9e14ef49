"""RESULTS.md and the plots, from the figures `python -m benchmarks` measured.

The generated part of RESULTS.md sits between two markers; whatever else is in the file (figures
other scripts' authors wrote by hand) is kept below it, untouched.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from benchmarks._run import median, percentile

BEGIN = "<!-- python -m benchmarks: generated from here -->"
END = "<!-- python -m benchmarks: generated up to here -->"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:,.1f} ms"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()
    except (OSError, AttributeError):
        pass
    versions = []
    for name in ("typer", "rich", "httpx", "botocore", "moto", "uvicorn"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    tools = []
    for tool, flag in (("hyperfine", "--version"), ("wrk", "-v"), ("aws", "--version")):
        from benchmarks._run import aws_cli

        path = aws_cli() if tool == "aws" else tool
        try:
            done = subprocess.run([path, flag], capture_output=True, text=True, timeout=30)
            first = (done.stdout or done.stderr).strip().splitlines()[0]
            tools.append(first.split(" [")[0].split(" Copyright")[0])
        except (OSError, IndexError, subprocess.TimeoutExpired, TypeError):
            tools.append(f"{tool}: not installed")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    from benchmarks._run import ROOT

    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=30).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "logsvc"], capture_output=True,
                                 text=True, timeout=30).stdout.splitlines()
        tools.append(f"logsvc at {commit}" + (f" with {len(changed)} uncommitted file(s) in logsvc/" if changed else ""))
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {cpu}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}; {', '.join(versions)}; "
            f"{'; '.join(tools)}. Load average at the end: {load}. "
            f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.")


# What issue 13 measured when it was filed (main, regular install, 2 cores), for comparison.
WHEN_FILED = {"`logsvc send x`": "1.50–1.58×", "bulk": "88–95k/s", "`serve`": "~32k/s",
              "`send` dynamodb": "0.65–0.67×", "`recent` dynamodb": "0.64–0.69×",
              "`recent -n 10000`": "2.6 s vs 0.14 s = 18×", "first table row": "-n 100000: 25 s"}


def headline(r: dict) -> list[str]:
    """The issue's table: each measure, what it is now and when the issue was filed, the target, met or not."""
    rows = _headline_rows(r)
    table = ["| measure | now | when filed | target | |", "|---|---|---|---|---|"]
    for row in rows:
        measure, rest = row[2:].split(" | ", 1)
        filed = next((text for start, text in WHEN_FILED.items() if measure.startswith(start)), "")
        table.append(f"| {measure} | {rest.split(' | ', 1)[0]} | {filed} | {rest.split(' | ', 1)[1]}")
    return table


def _headline_rows(r: dict) -> list[str]:
    rows = []
    if "startup" in r:
        t = r["startup"]["times"]
        ratio = r["startup"]["ratio"]
        send, typer = median(t["logsvc send x (local)"]), median(t['python -c "import typer"'])
        rows.append(f"| `logsvc send x` local vs `python -c \"import typer\"` | {ms(send)} vs {ms(typer)} = "
                    f"**{ratio:.2f}×** | ≤ 1.2× | {verdict(ratio <= 1.2)} |")
    local = [b for b in r.get("bulk", []) if b["target"] == "local"]
    if local:
        b = local[0]
        rows.append(f"| bulk `send --file`, {b['count']:,} JSON lines, local | **{b['rate']:,.0f} entries/s** "
                    f"({b['walls'][len(b['walls']) // 2]:.2f} s) | ≥ 150,000/s | {verdict(b['rate'] >= 150_000)} |")
    if "serve" in r:
        s = r["serve"]
        rows.append(f"| `serve`, 500-entry batches, SQLite ({s['client']}, 16 connections, {s['duration']:g} s) | "
                    f"**{s['batch_rate']:,.0f} entries/s** | ≥ 50,000/s | {verdict(s['batch_rate'] >= 50_000)} |")
    if "dynamodb" in r:
        d = r["dynamodb"]
        t = d["times"]
        rows.append(f"| `send` dynamodb target vs `aws dynamodb put-item` (same moto) | {ms(median(t['logsvc send x']))} vs "
                    f"{ms(median(t['aws dynamodb put-item']))} = **{d['send']:.2f}×** | ≤ 0.5× | {verdict(d['send'] <= 0.5)} |")
        rows.append(f"| `recent` dynamodb target vs `aws dynamodb query` (index, newest 100) | {ms(median(t['logsvc recent']))} vs "
                    f"{ms(median(t['aws dynamodb query']))} = **{d['recent']:.2f}×** | ≤ 0.5× | {verdict(d['recent'] <= 0.5)} |")
        if "recent_json" in d:
            rows.append(f"| `recent -o json` (JSON, as `aws` prints) vs `aws dynamodb query` | "
                        f"{ms(median(t['logsvc recent -o json']))} vs {ms(median(t['aws dynamodb query']))} = "
                        f"**{d['recent_json']:.2f}×** | ≤ 0.5× | {verdict(d['recent_json'] <= 0.5)} |")
    if "shards" in r:
        sh = r["shards"]
        one, four = (median(values) for values in sh["times"].values())
        rows.append(f"| `recent` on 4 shards vs 1, each request {sh['distance'] * 1000:.0f} ms away | {ms(four)} vs "
                    f"{ms(one)} = **{sh['ratio']:.2f}×** | (context: 4 sequential Queries would add 150 ms) | |")
    if "table" in r:
        tv = r["table"]
        first = tv["first_row"]
        slowest = max(value for key, value in first.items() if key.startswith("table"))
        rows.append(f"| `recent -n 10000` as a table vs `-o jsonl` | {ms(median(tv['times']['table']))} vs "
                    f"{ms(median(tv['times']['jsonl']))} = **{tv['ratio']:.2f}×** | ≤ 2× | {verdict(tv['ratio'] <= 2)} |")
        shown = ", ".join(f"-n {key.split()[-1]}: {ms(value)}" for key, value in first.items() if key.startswith("table"))
        rows.append(f"| first table row on a terminal | {shown} | < 0.2 s at any -n | {verdict(slowest < 0.2)} |")
    if "recent_size" in r:
        rs = r["recent_size"]
        rows.append(f"| `recent` on {rs['sizes'][-1]:,} vs {rs['sizes'][0]:,} entries (issue 2) | **{rs['growth']:.2f}×** "
                    f"| ≤ 1.2× | {verdict(rs['growth'] <= 1.2)} |")
    for t in r.get("tail", []):
        rows.append(f"| `tail -f` latency, {t['target']} target, send returned → line printed | p50 {ms(t['p50'])}, "
                    f"p99 {ms(t['p99'])} ({len(t['latencies'])} samples) | (context: polls every 1 s) | |")
    if "idle" in r:
        i = r["idle"]
        rows.append(f"| `tail -f` idle after {i['count']:,} entries passed | {i['idle_cpu'] * 100:.2f} % of a core, "
                    f"RSS {i['rss_mib']:.0f} MiB | (context) | |")
    if r.get("stats") and "times" in r["stats"]:
        t = r["stats"]["times"]
        rows.append(f"| `stats --since 24h --by 1h` over {r['stats_count']:,} entries vs a bare sqlite3 GROUP BY | "
                    f"{ms(median(t['logsvc stats -o json']))} vs {ms(median(t['bare sqlite3 GROUP BY']))} | (context) | |")
    return rows


def details(r: dict) -> list[str]:
    out: list[str] = []

    def table(title: str, times: dict[str, list[float]], note: str = "") -> None:
        out.extend([f"### {title}", "", "| command | median | p10 – p90 | runs |", "|---|---:|---:|---:|"])
        for name, values in times.items():
            out.append(f"| `{name}` | {ms(median(values))} | {ms(percentile(values, 0.1))} – "
                       f"{ms(percentile(values, 0.9))} | {len(values)} |")
        if note:
            out.extend(["", note])
        out.append("")

    if "startup" in r:
        table("Start-up (local default)", r["startup"]["times"])
    if "recent_size" in r:
        table("`recent` by store size", r["recent_size"]["times"],
              "`sqlite3 N`: the same newest-100 query in a bare Python script (the floor). See `recent_vs_size.png`.")
    if "table" in r:
        tv = r["table"]
        table("`recent -n 10000`: table against JSON Lines", tv["times"])
        out.extend(["First entry on a 120-column terminal (a pty; the command is killed once it is there; "
                    "40 s means it never came within 40 s):", ""])
        out.extend(f"- `recent -o {key}`: {ms(value)}" for key, value in tv["first_row"].items())
        out.append("")
    if "dynamodb" in r:
        table("DynamoDB target (moto on loopback) against the AWS CLI", r["dynamodb"]["times"])
    if "shards" in r:
        table("Shards at a distance: each request held 50 ms on its way to moto (a far region)", r["shards"]["times"])
    if "url" in r:
        table("url target (`logsvc serve`) against curl (context)", r["url"]["times"])
    if r.get("bulk"):
        out.extend(["### Bulk `send --file` per target", "", "| target | entries | median wall | entries/s | peak RSS |",
                    "|---|---:|---:|---:|---:|"])
        for b in r["bulk"]:
            out.append(f"| {b['target']} | {b['count']:,} | {b['walls'][len(b['walls']) // 2]:.2f} s "
                       f"({len(b['walls'])} runs) | {b['rate']:,.0f} | {b['peak_mib']:.0f} MiB |")
        out.extend(["", "See `bulk_throughput.png`.", ""])
    if "serve" in r:
        s = r["serve"]
        out.extend(["### `serve` under load (`bench_serve.py`, SQLite store)", "",
                    "| phase | requests | errors | req/s | entries/s | p50 | p99 |", "|---|---:|---:|---:|---:|---:|---:|"])
        for name, phase, size in (("single POST", s["single"], 1), ("500-entry batch", s["batch"], 500)):
            out.append(f"| {name} | {phase['requests']:,} | {phase['errors']} | {phase['rate']:,.0f} | "
                       f"{phase['rate'] * size:,.0f} | {phase['p50']:.1f} ms | {phase['p99']:.1f} ms |")
        out.extend(["", f"Stored {s['stored']:,} for {s['acknowledged']:,} acknowledged: "
                    f"{'consistent' if s['consistent'] else 'MISMATCH'}.", ""])
    if r.get("tail"):
        out.extend(["### `tail -f` latency: `send` returning → line on the terminal (default interval 1 s)", "",
                    "| target | samples | p50 | p99 | max |", "|---|---:|---:|---:|---:|"])
        for t in r["tail"]:
            out.append(f"| {t['target']} | {len(t['latencies'])} | {ms(t['p50'])} | {ms(t['p99'])} | {ms(t['max'])} |")
        out.extend(["", "See `tail_latency.png`. A poll every second puts the mean near half the interval. The "
                    "dynamodb tail reads a table of its own: moto answers an index Query by walking the whole "
                    "table (480 ms a poll at 10,000 items), which DynamoDB does not.", ""])
    if "idle" in r:
        i = r["idle"]
        out.extend(["### `tail -f` after a large input", "",
                    f"`tail -f -o jsonl` printed {i['count']:,} entries sent by one `send --file` in {i['passed_s']:.1f} s "
                    f"({i['count'] / i['passed_s']:,.0f}/s); then, idle for {i['idle_s']:g} s: "
                    f"**{i['idle_cpu'] * 100:.2f} % of a core**, RSS **{i['rss_mib']:.0f} MiB** "
                    f"(peak {i['peak_mib']:.0f} MiB).", ""])
    if r.get("stats"):
        if "error" in r["stats"]:
            out.extend(["### `stats`", "", f"not measured: {r['stats']['error']}", ""])
        else:
            table(f"`stats --since 24h --by 1h` over {r['stats_count']:,} entries", r["stats"]["times"])
    if r.get("logging"):
        out.extend(["### Logging handler (`bench_logging.py`)", "", r["logging"], ""])
    return out


def write_results(path: Path, r: dict, command: str) -> None:
    generated = ["# Measured figures", "", BEGIN, "", f"`{command}` — {machine()}", "",
                 "Whole-process wall times (hyperfine, no shell, commands interleaved round by round), "
                 "medians; ratios are the headline.", "", "## Headline (issue 13)", "", *headline(r), "",
                 "![recent by store size](recent_vs_size.png) ![bulk throughput](bulk_throughput.png) "
                 "![tail latency](tail_latency.png)", "", "## Details", "", *details(r), END, ""]
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        rest = old.split(END, 1)[1].lstrip("\n")
    else:
        body = old.split("\n", 1)[1] if old.startswith("# ") else old
        rest = "## Earlier figures, run by hand per script\n" + body if body.strip() else ""
    path.write_text("\n".join(generated) + ("\n" + rest if rest else ""))


def plots(folder: Path, r: dict) -> list[str]:
    """PNG plots next to RESULTS.md; none (and a note) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["matplotlib is not installed (pip install -e '.[bench]'): no plots drawn"]
    made = []
    if "recent_size" in r:
        rs = r["recent_size"]
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, key in (("recent (table)", "recent {}"), ("recent -o jsonl", "recent -o jsonl {}"),
                           ("bare sqlite3 query", "sqlite3 {}")):
            ax.plot(rs["sizes"], [median(rs["times"][key.format(size)]) * 1000 for size in rs["sizes"]], marker="o", label=label)
        ax.set(xscale="log", xlabel="entries in the store", ylabel="median wall time (ms)", ylim=(0, None),
               title="newest 100 entries, whole process")
        ax.legend()
        made.append(_save(fig, folder / "recent_vs_size.png"))
    if r.get("bulk"):
        fig, ax = plt.subplots(figsize=(6, 4))
        names = [f"{b['target']}\n({b['count']:,})" for b in r["bulk"]]
        bars = ax.bar(names, [b["rate"] for b in r["bulk"]], color=["tab:blue", "tab:orange", "tab:green"][:len(names)])
        ax.bar_label(bars, labels=[f"{b['rate']:,.0f}/s" for b in r["bulk"]])
        ax.axhline(150_000, color="grey", linestyle="--", label="local target 150,000/s")
        ax.set(ylabel="entries/s (whole process)", title="bulk send --file per target")
        ax.legend()
        made.append(_save(fig, folder / "bulk_throughput.png"))
    if r.get("tail"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for t in r["tail"]:
            values = sorted(value * 1000 for value in t["latencies"])
            ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post",
                    label=f"{t['target']} (p50 {t['p50'] * 1000:.0f} ms, p99 {t['p99'] * 1000:.0f} ms)")
        ax.set(xlabel="send returned → line printed (ms)", ylabel="fraction of samples",
               title="tail -f latency, default 1 s interval")
        ax.legend()
        made.append(_save(fig, folder / "tail_latency.png"))
    return made


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name
