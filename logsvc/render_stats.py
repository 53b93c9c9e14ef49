"""Drawing bucket counts: a stacked bar chart with Rich, and CSV; also `logsvc top`'s screen parts.

Each bucket is one line: its start (local time unless --utc), a bar whose segments are the
severities (error, then warning, then info; each also drawn with its own character, so the
chart reads without colour), and the counts. Empty buckets are drawn too: a gap in the chart
is information. Rich is imported only here and in `logsvc.output`.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from logsvc.output import SEVERITY_STYLES, resolve_color

BAR_CHARS = {"error": "█", "warning": "▓", "info": "░"}
STACK_ORDER = ("error", "warning", "info")


def label_format(edges: list[str], width_seconds: int, utc: bool) -> str:
    """The shortest strftime form that tells the buckets apart."""
    first, last = (_at(edges[0], utc), _at(edges[-1], utc))
    clock = "%H:%M:%S" if width_seconds % 60 else "%H:%M"
    if width_seconds % 86400 == 0 and (utc or first.hour == 0):
        return "%Y-%m-%d"
    return clock if first.date() == last.date() else f"%m-%d {clock}"


def _at(stored: str, utc: bool) -> datetime:
    instant = datetime.fromisoformat(stored)
    return instant if utc else instant.astimezone()


def segments(bucket: dict[str, int], cells: int) -> list[tuple[str, int]]:
    """How many cells each severity gets of a bar `cells` long; every non-zero count gets one at least."""
    total = sum(bucket.values())
    if not total or not cells:
        return []
    out, used, running = [], 0, 0
    for level in STACK_ORDER:
        if level not in bucket or not bucket[level]:
            continue
        running += bucket[level]
        end = max(used + 1, round(running * cells / total))
        out.append((level, end - used))
        used = end
    return out


def chart(counts, *, utc: bool, color: str, stream=None, target_note: str | None = None) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, emoji=False, markup=False, **resolve_color(color))
    edges = counts.edges
    fmt = label_format(edges, getattr(edges, "width", 0) or _width(edges), utc)
    labels = [_at(edge, utc).strftime(fmt) for edge in edges[:-1]]
    figures = [" ".join(f"{bucket[level]:>{_digits(counts, level)}}" for level in counts.levels)
               for bucket in counts.buckets]
    label_width = max(len(label) for label in labels) if labels else 0
    figure_width = max(len(text) for text in figures) if figures else 0
    bar_width = max(10, console.width - label_width - figure_width - 4)
    peak = max((sum(bucket.values()) for bucket in counts.buckets), default=0)
    zone = "UTC" if utc else (datetime.fromisoformat(edges[0]).astimezone().tzname() or "local")
    title = f"entries per {_duration(getattr(edges, 'width', 0) or _width(edges))}, {zone}"
    names = " ".join(f"{level:>{_digits(counts, level)}}" for level in counts.levels)
    heading = Text(f"{'':<{label_width}}  {title:<{bar_width}}  {names:>{figure_width}}")
    legend = Text(f"{'':<{label_width}}  ")
    for level in STACK_ORDER:
        if level in counts.levels:
            legend.append(f"{BAR_CHARS[level]} {level}  ", style=SEVERITY_STYLES[level])
    console.print(heading)
    console.print(legend)
    for label, bucket, figure in zip(labels, counts.buckets, figures):
        line = Text(f"{label:>{label_width}}  ")
        cells = round(sum(bucket.values()) * bar_width / peak) if peak else 0
        drawn = 0
        for level, size in segments(bucket, max(cells, 1 if sum(bucket.values()) else 0)):
            line.append(BAR_CHARS[level] * size, style=SEVERITY_STYLES[level])
            drawn += size
        line.append(" " * (bar_width - drawn) + "  " + f"{figure:>{figure_width}}")
        console.print(line, no_wrap=True, overflow="crop")
    console.print(Text(summary(counts, target_note)))


def summary(counts, target_note: str | None = None) -> str:
    totals = counts.totals()
    parts = [f"total {counts.total()}"] + [f"{level} {totals[level]}" for level in counts.levels]
    rate = counts.error_rate()
    if rate is not None:
        parts.append(f"error rate {rate:.1%}")
    if counts.read_units is not None:
        parts.append(f"read {counts.read_units:g} units in {counts.requests} requests")
    if target_note:
        parts.append(target_note)
    return "  ".join(parts)


def to_csv(counts) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "end", *counts.levels, "total"])
    for start, end, bucket in zip(counts.edges, counts.edges[1:], counts.buckets):
        writer.writerow([start, end, *(bucket[level] for level in counts.levels), sum(bucket.values())])
    return out.getvalue()


def _digits(counts, level: str) -> int:
    return max(len(level), *(len(str(bucket[level])) for bucket in counts.buckets)) if counts.buckets else len(level)


def _width(edges: list[str]) -> int:
    if len(edges) < 3:
        return int((datetime.fromisoformat(edges[-1]) - datetime.fromisoformat(edges[0])).total_seconds()) or 1
    return int((datetime.fromisoformat(edges[1]) - datetime.fromisoformat(edges[0])).total_seconds())


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
