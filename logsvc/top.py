"""`logsvc top`: a live full-screen view of a store, drawn with Rich `Live` on the alternate screen.

One count of the last hour per minute and severity at start (`logsvc.stats`: on DynamoDB a few
hundred COUNT queries, once), then a follow of new entries from `recent`'s cursor keeps both the
sparklines and the list of newest entries current without re-reading anything. The terminal is
put in cbreak mode (no echo, keys one at a time) so `q` leaves at once; the previous mode and
the normal screen are restored however the view ends (q, Ctrl-C, an error).
"""

from __future__ import annotations

import os
import select
import sys
from collections import deque
from contextlib import contextmanager
from datetime import datetime, timedelta

from logsvc.entry import SEVERITIES
from logsvc.errors import StoreError
from logsvc.output import SEVERITY_STYLES, printable
from logsvc.store import Query, StoreUnavailable
from logsvc.times import now_utc

MINUTES = 60
SPARKS = "▁▂▃▄▅▆▇█"
KEEP = 500  # newest entries kept for the list


class View:
    """What the screen shows: per-minute counts of the last hour and the newest entries."""

    def __init__(self, now: datetime) -> None:
        self.minutes: dict[int, dict[str, int]] = {}
        self.newest: deque[dict] = deque(maxlen=KEEP)
        self.status = ""
        self.now = now

    @staticmethod
    def minute(stored: str) -> int:
        return int(datetime.fromisoformat(stored).timestamp() // 60)

    def add(self, entry: dict) -> None:
        counts = self.minutes.setdefault(self.minute(entry["dateTime"]), dict.fromkeys(SEVERITIES, 0))
        counts[entry["severity"]] = counts.get(entry["severity"], 0) + 1
        self.newest.appendleft(entry)

    def series(self, level: str) -> list[int]:
        current = int(self.now.timestamp() // 60)
        return [self.minutes.get(minute, {}).get(level, 0) for minute in range(current - MINUTES + 1, current + 1)]

    def rate(self) -> float:
        """Entries a minute over the last five whole minutes."""
        current = int(self.now.timestamp() // 60)
        return sum(sum(self.minutes.get(m, {}).values()) for m in range(current - 5, current)) / 5


def sparkline(values: list[int]) -> str:
    peak = max(values, default=0)
    return "".join(" " if not value else SPARKS[min(len(SPARKS) - 1, (value * len(SPARKS) - 1) // peak)]
                   for value in values)


def render(view: View, *, width: int, height: int, utc: bool, title: str):
    from rich.console import Group
    from rich.text import Text

    lines = []
    stamp = view.now if utc else view.now.astimezone()
    header = Text(f"logsvc top  {title}  ", style="bold")
    header.append(f"{view.rate():.1f} entries/min  ", style="bold")
    header.append(stamp.strftime("%H:%M:%S") + ("Z" if utc else ""))
    header.append("   q: quit", style="dim")
    lines.append(header)
    if view.status:
        lines.append(Text(view.status, style="yellow"))
    lines.append(Text(f"last {MINUTES} min, per minute", style="dim"))
    for level in reversed(SEVERITIES):
        series = view.series(level)
        spark = sparkline(series[-max(10, width - 18):])
        line = Text(f"{level:<8} ", style=SEVERITY_STYLES[level])
        line.append(spark, style=SEVERITY_STYLES[level])
        line.append(f" {sum(series):>6}")
        lines.append(line)
    lines.append(Text(""))
    room = max(0, height - len(lines) - 1)
    for entry in list(view.newest)[:room]:
        instant = datetime.fromisoformat(entry["dateTime"])
        shown = instant if utc else instant.astimezone()
        line = Text(shown.strftime("%H:%M:%S") + "  ")
        line.append(f"{entry['severity']:<7}", style=SEVERITY_STYLES.get(entry["severity"], ""))
        line.append("  " + printable(entry["message"], keep_newlines=False))
        line.truncate(width - 1, overflow="ellipsis")  # the last column: some terminals wrap there
        lines.append(line)
    return Group(*lines)


@contextmanager
def _keys():
    """stdin in cbreak mode (no echo, no line buffering); the old mode restored on the way out."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_top(store, *, interval: float = 2.0, utc: bool = False, title: str = "") -> None:
    from rich.console import Console
    from rich.live import Live

    from logsvc import stats

    now = now_utc()
    view = View(now)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=MINUTES - 1)
    try:
        counts = stats.count(store, Query(), stats.bucket_edges(start, now, timedelta(minutes=1)))
    except stats.ReadBudgetExceeded:  # a table of very many shards: count what arrives from now on
        view.status = "the last hour is too costly to count on this table: counting from now"
    else:
        for edge, bucket in zip(counts.edges, counts.buckets):
            view.minutes[View.minute(edge)] = dict(bucket)
    page = store.recent(Query(limit=200))
    view.newest.extend(page.entries)
    cursor = page.cursor
    console = Console(highlight=False, emoji=False, markup=False)
    try:
        with _keys() as fd, Live(console=console, screen=True, auto_refresh=False, redirect_stdout=False) as live:
            while True:
                view.now = now_utc()
                # The terminal's own size, re-read each time: a full screen must match the window
                # even when COLUMNS/LINES were exported at some other size (Rich prefers them).
                size = os.get_terminal_size(sys.stdout.fileno())
                console.size = (size.columns, size.lines)
                live.update(render(view, width=console.width, height=console.height, utc=utc, title=title),
                            refresh=True)
                ready, _, _ = select.select([fd], [], [], interval)
                if ready and os.read(fd, 32).lower().startswith(b"q"):
                    return
                try:
                    while True:
                        page = store.follow(cursor, Query(limit=1000))
                        cursor = page.cursor
                        for entry in page.entries:
                            view.add(entry)
                        if len(page.entries) < 1000:
                            break
                    view.status = "" if not view.status.startswith("the last hour") else view.status
                except (StoreUnavailable, StoreError) as exc:
                    view.status = f"{exc}; retrying"
    except KeyboardInterrupt:
        return  # Ctrl-C is the other way out: the screen and the terminal mode are already restored


__all__ = ["run_top", "render", "sparkline", "View"]
