"""The insight commands: counts over time (`stats`), a live view (`top`) and `export`.

`--fail-on LEVEL [--threshold N]` (here and on `recent`, from `_alert`) turns a count into an
exit code (`ExitCode.ALERT`) so cron and CI can alert.
"""

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from logsvc.cli import app
from logsvc.cli._alert import FailOnOpt, ThresholdOpt, check_fail_on, fail_if
from logsvc.cli.options import Color, Filters, TargetOptions, shared_options
from logsvc.errors import UsageError

INSIGHT = "Insight"


class StatsOutput(str, Enum):
    chart = "chart"
    json = "json"
    csv = "csv"


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"


@app.command(rich_help_panel=INSIGHT)
@shared_options()
def stats(
    by: Annotated[str, typer.Option("--by", help="Bucket width: 5m, 1h, 1d (whole seconds).")] = "1h",
    output: Annotated[StatsOutput, typer.Option("--output", "-o", help="chart, json or csv.")] = StatsOutput.chart,
    utc: Annotated[bool, typer.Option("--utc/--local", help="Label buckets in UTC or in local time.")] = False,
    color: Annotated[Color, typer.Option("--color", help="Colour: auto (terminal, honours NO_COLOR), always, never.")] = Color.auto,
    fail_on: FailOnOpt = None,
    threshold: ThresholdOpt = None,
    *,
    filters: Filters,
    targets: TargetOptions,
) -> None:
    """Count entries per severity per time bucket (default: the last 24h by hour): chart, totals, error rate.

    Buckets are aligned to the epoch (1h buckets start on the hour); --since is rounded down to a
    bucket edge, and the last bucket ends at --until (default now). Empty buckets are shown.
    """
    from datetime import datetime, timedelta

    from logsvc import stats as counting
    from logsvc.targets import open_store
    from logsvc.times import TimeFormatError, now_utc, parse_duration

    check_fail_on(fail_on, threshold)
    query = filters.query(1)
    try:
        width = parse_duration(by)
    except TimeFormatError as exc:
        raise UsageError(f"--by: {exc}") from None
    now = now_utc()
    since = datetime.fromisoformat(query.since) if query.since else now - timedelta(hours=24)
    until = datetime.fromisoformat(query.until) if query.until else now
    settings = targets.settings()
    budget_hint = "use a wider --by or a shorter window (--since/--until)"
    try:
        edges = counting.bucket_edges(since, until, width)
    except counting.ReadBudgetExceeded as exc:
        raise UsageError(f"window too large for the target's read budget: {exc}", hint=budget_hint) from None
    except ValueError as exc:
        raise UsageError(f"--by/--since/--until: {exc}") from None
    backend = open_store(settings, reading=True)
    try:
        counts = counting.count(backend, query, edges)
    except counting.ReadBudgetExceeded as exc:
        raise UsageError(f"window too large for the target's read budget: {exc}", hint=budget_hint) from None
    finally:
        backend.close()
    if output is StatsOutput.json:
        from logsvc.output import to_json

        sys.stdout.write(to_json(counts.as_dict(), indent=2) + "\n")
    elif output is StatsOutput.csv:
        from logsvc.render_stats import to_csv

        sys.stdout.write(to_csv(counts))
    else:
        from logsvc.render_stats import chart

        chart(counts, utc=utc, color=color.value)
    if fail_on is not None:
        from logsvc.entry import parse_severity

        fail_if(fail_on, threshold, counts.at_least(parse_severity(fail_on, lenient=True)),
                window=f" from {edges[0]} to {edges[-1]}")


@app.command(rich_help_panel=INSIGHT)
@shared_options()
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl (one JSON entry a line) or csv.")] = ExportFormat.jsonl,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write to this file (default: stdout).", show_default=False, dir_okay=False)] = None,
    cursor_file: Annotated[Optional[Path], typer.Option(
        "--cursor", help="Save the position here after every page; run again with it to resume.", show_default=False,
        dir_okay=False)] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=1000, hidden=True)] = 1000,
    max_pages: Annotated[Optional[int], typer.Option("--max-pages", min=1, hidden=True)] = None,
    *,
    filters: Filters,
    targets: TargetOptions,
) -> None:
    """Export every entry of a window, oldest first, page by page; resumable with --cursor.

    --until defaults to now. A resumed export (same --cursor, same options) continues after the
    last page saved; into a file, nothing is written twice even after a kill.
    """
    from logsvc.cli._export import run_export

    if not filters.since:
        raise UsageError("export needs --since (and --until, default now)",
                         hint="e.g. --since 2026-11-01T00:00:00Z --until 2026-11-02T00:00:00Z")
    run_export(filters, targets, fmt.value, out, cursor_file, page_size, max_pages)


@app.command(rich_help_panel=INSIGHT)
@shared_options()
def top(
    interval: Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between refreshes.")] = 2.0,
    utc: Annotated[bool, typer.Option("--utc/--local", help="Show times in UTC or in local time.")] = False,
    *,
    targets: TargetOptions,
) -> None:
    """A live full-screen view: the newest entries, a sparkline per severity over the last hour, the rate.

    q or Ctrl-C leaves it. Needs a terminal: for a stream of entries use `logsvc tail -f`.
    """
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UsageError("top needs a terminal (stdout and stdin are not both one)",
                         hint="to stream entries into a pipe or file, use `logsvc tail -f`")
    from logsvc.targets import open_store
    from logsvc.top import run_top

    settings = targets.settings()
    backend = open_store(settings, reading=True)
    try:
        run_top(backend, interval=interval, utc=utc, title=settings["target"])
    finally:
        backend.close()
