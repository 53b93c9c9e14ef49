"""The entries table, written a row at a time, exactly as Rich draws it whole.

Rich lays a table out once it holds every row and spends about 0.25 ms a row on it: `recent -n
10000` took 18 times its JSON Lines and showed nothing until the end. Here the column widths are
worked out first, the way Rich sizes this table (no box, columns as wide as their widest cell,
the message column narrowed to fit the terminal), and then each row is written at once: a plain
row by string formatting, any other (a message to fold, a character wider or narrower than one
cell) by Rich itself, as a table of the same widths. What `draw` writes is checked against
`Renderer._table`, Rich's whole table, byte for byte (tests/test_table_rows.py).

A listing read page by page (`recent -n 100000`) is drawn by `draw_pages` as the pages come, its
widths fixed from the first page and the terminal, so that its first rows show before the store
has been read to the end (tests/test_table_stream.py).

A table bound for a pipe or a file (`recent | grep`, cron, the benchmarks) gets no escape codes
from Rich, by Rich's own rules; `plain_width` applies those rules without importing Rich (about
20 ms of every such command), and Rich is imported only for a row it must lay out itself.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Iterator

from logsvc.output import SEVERITY_STYLES, printable

# Column padding with box=None and pad_edge=False: one space between cells on each side, none outside.
_FIRST, _MIDDLE, _LAST = (0, 1), (1, 1), (1, 0)
_SOURCE_WIDTH = 20
_TIME_WIDTH = len("2026-11-28 12:00:00.000")  # and " +01:00" more where each row states its offset
_FLUSH_ROWS = 256  # rows written at a time; the first batch is flushed at once


def _plain(text: str) -> bool:
    """One character a cell, nothing to expand: Rich's width is len()."""
    return text.isascii() and text.isprintable()


def plain_width(renderer) -> int | None:
    """The width Rich lays a table out in on the renderer's stream when Rich certainly writes no
    escape codes there (it is not a terminal, by `rich.Console.is_terminal`'s rules); None when
    Rich must decide (a terminal, --color always, FORCE_COLOR or TTY_COMPATIBLE set, Windows,
    IPython). The width follows `rich.Console.size`: COLUMNS, else the first of stdin, stdout and
    stderr that is a terminal, else 80. tests/test_table_rows.py holds both to Rich's output.
    """
    environ = os.environ
    if (renderer.color == "always" or os.name == "nt" or "FORCE_COLOR" in environ
            or "TTY_COMPATIBLE" in environ or hasattr(builtins, "get_ipython")):
        return None
    isatty = getattr(renderer.stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return None
    except ValueError:  # a closed stream: Rich counts it as no terminal too
        pass
    columns = environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        return int(columns)
    width = None
    for stream, default in ((sys.__stdin__, 0), (sys.__stdout__, 1), (sys.__stderr__, 2)):
        try:
            descriptor = stream.fileno()
        except (AttributeError, ValueError, OSError):  # none, closed or not a file: the standard number
            descriptor = default
        try:
            width = os.get_terminal_size(descriptor).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    return width or 80


def _width(renderer) -> tuple[int, bool]:
    """The table's width, and whether it is plain (`plain_width`); else Rich's console says."""
    width = plain_width(renderer)
    return (width, True) if width is not None else (renderer._rich().width, False)


def draw(renderer, entries: list[dict]) -> bool:
    """Write the table of `entries` row by row; False (nothing written) where Rich must lay it out whole."""
    width, plain = _width(renderer)
    if not entries:
        if plain:
            renderer.stream.write("No entries.\n")  # as Rich writes it, unstyled
        return plain
    show_source = width >= 100 and any("source" in entry for entry in entries)
    header, times = renderer.times.column([entry["dateTime"] for entry in entries])
    rows = [_row(entry, shown, show_source) for entry, shown in zip(entries, times)]
    headers = [header, "Severity", *(["Source"] if show_source else []), "Message"]
    widths = _widths(renderer, headers, rows, width)
    if widths is None:
        return False
    writer = _Rows(renderer, widths, show_source, plain)
    writer.header(headers)
    writer.write(rows)
    return True


def draw_pages(renderer, first: list[dict], rest: Iterator[tuple[list[dict], bool]]) -> bool:
    """Write the table of a listing read page by page, each page as it comes; False (nothing
    written) on a terminal too narrow for it.

    The widths are fixed before the second page is read, from the first page and the terminal:
    times and severities have one width, the source column (shown when the first page has
    sources, on 100 columns or more) is as wide as it may be, and the message column takes the
    rest, a longer message folding in it. The time header states the first page's offset, as the
    whole table does; should a later row have another (a daylight-saving change), the header is
    stated again, with that offset, above it: every time shown stays true. A first page already
    spanning two offsets shows each row's own, as the whole table does.
    """
    from logsvc.output import _clock

    width, plain = _width(renderer)
    times = renderer.times
    source = width >= 100 and any("source" in entry for entry in first)
    offset = None
    if not times.utc:
        offsets = set(times.local([entry["dateTime"] for entry in first])[1])
        offset = offsets.pop() if len(offsets) == 1 else None
    fixed = [_TIME_WIDTH if times.utc or offset else _TIME_WIDTH + 7, len("Severity"), *([_SOURCE_WIDTH] * source)]
    message = width - sum(fixed) - 2 * len(fixed)  # two spaces between columns
    if message < 1:
        return False
    writer = _Rows(renderer, [*fixed, message], source, plain)

    def headers(label: str) -> list[str]:
        return [f"Time ({label})", "Severity", *(["Source"] * source), "Message"]

    writer.header(headers("UTC" if times.utc else offset or "local"))
    page = first
    while True:
        stored = [entry["dateTime"] for entry in page]
        if times.utc:
            writer.write([_row(entry, times.show(text), source) for entry, text in zip(page, stored)])
        else:
            instants, shown = times.local(stored)
            rows = []
            for entry, instant, own in zip(page, instants, shown):
                if offset is None:
                    rows.append(_row(entry, f"{_clock(instant)} {own}", source))
                    continue
                if own != offset:
                    writer.write(rows)
                    rows, offset = [], own
                    writer.header(headers(own))
                rows.append(_row(entry, _clock(instant), source))
            writer.write(rows)
        renderer.stream.flush()
        page = next(rest, (None, True))[0]
        if page is None:
            return True


def _row(entry: dict, shown_time: str, source: bool) -> tuple[str, list[str]]:
    """A row's severity and its cells as shown: every character of the message literal."""
    cells = [shown_time, entry["severity"].upper()]
    if source:
        cells.append(printable(entry.get("source", ""), keep_newlines=False))
    cells.append(printable(entry["message"], keep_newlines=False))
    return entry["severity"], cells


def _measure(renderer, text: str) -> int:
    if _plain(text):
        return len(text)
    from rich.measure import Measurement
    from rich.text import Text

    console = renderer._rich()
    return Measurement.get(console, console.options, Text(text)).maximum


def _widths(renderer, headers: list[str], rows: list, limit: int) -> list[int] | None:
    """Content widths of the columns as Rich's table would make them; None when it would squeeze
    more than the message column (a terminal too narrow for the rest)."""
    count = len(headers)
    pads = [_FIRST, *([_MIDDLE] * (count - 2)), _LAST]
    widths = []
    for index, title in enumerate(headers):
        widest = max([_measure(renderer, title), *(_measure(renderer, cells[index]) for _, cells in rows)])
        if index == 2 and count == 4:
            widest = min(widest, _SOURCE_WIDTH)
        widths.append(min(widest + sum(pads[index]), limit) or 1)
    if sum(widths) > limit:
        room = limit - sum(widths[:-1])
        if room < sum(_LAST) + 1:
            return None
        widths[-1] = room
    return [total - sum(pad) for total, pad in zip(widths, pads)]


class _Rows:
    """Writes rows of fixed column widths: plain ones by string formatting, the rest through Rich.

    `plain`: Rich would write no escape codes here (`plain_width`), so neither does this, and the
    header is formatted here too; Rich is then imported only for a row it must fold.
    """

    def __init__(self, renderer, widths: list[int], source: bool, plain: bool) -> None:
        self.renderer = renderer
        self.stream = renderer.stream
        self.widths = widths
        self.source = source
        self.plain = plain
        self.colours: dict = {}  # style -> (start, end) escape codes on this console, learnt from Rich itself
        self.lines: list[str] = []  # rows drawn here, not yet written
        self.folded = None  # rows Rich lays out (as one table of these widths), not yet written
        self.headers: list[str] = []
        self.done = 0

    def header(self, headers: list[str]) -> None:
        self.emit()
        self.headers = headers
        if self.plain and all(len(title) <= width for title, width in zip(headers, self.widths)):
            self.stream.write("  ".join(title.ljust(width) for title, width in zip(headers, self.widths)) + "\n")
        else:
            self.renderer._rich().print(_table(self.widths, headers, show_header=True))

    def emit(self) -> None:
        if self.lines:
            self.stream.write("".join(self.lines))
            self.lines = []
        if self.folded is not None:
            self.renderer._rich().print(self.folded)
            self.folded = None

    def _styled(self, text: str, style: str) -> str:
        if not style or self.plain:
            return text
        if style not in self.colours:
            from rich.text import Text

            console = self.renderer._rich()
            with console.capture() as captured:
                console.print(Text("Z", style=style), end="")
            self.colours[style] = tuple(captured.get().split("Z", 1))
        start, end = self.colours[style]
        return f"{start}{text}{end}" if start else text

    def write(self, rows: list) -> None:
        def fits(text: str, width: int) -> int | None:
            """The cells `text` takes when Rich would draw it as it is on one line of `width`, else None."""
            if _plain(text):
                return len(text) if len(text) <= width else None
            if "\t" in text:
                return None
            from rich.cells import cell_len

            cells = cell_len(text)
            return cells if cells <= width else None

        widths, source, styled = self.widths, self.source, self._styled
        for severity, cells in rows:
            style = SEVERITY_STYLES.get(severity, "")
            message = fits(cells[-1], widths[-1])
            if not source:
                origin = 0
            elif _plain(cells[2]):
                origin = len(cells[2])  # a longer one is cut below, with an ellipsis
            else:
                origin = fits(cells[2], widths[2])
            if message is None or origin is None:
                if self.lines:
                    self.emit()
                if self.folded is None:
                    self.folded = _table(widths, self.headers, show_header=False)
                from rich.text import Text

                self.folded.add_row(*_cells(cells, severity, source, Text))
            else:
                if self.folded is not None:
                    self.emit()
                parts = [styled(cells[0].ljust(widths[0]), "dim"), "  ", styled(cells[1].ljust(widths[1]), style), "  "]
                if source:
                    shown = cells[2]
                    if origin > widths[2]:
                        shown, origin = shown[:widths[2] - 1] + "…", widths[2]
                    parts += [styled(shown + " " * (widths[2] - origin), "dim"), "  "]
                padded = cells[-1] + " " * (widths[-1] - message)
                parts += [styled(padded, style if severity == "error" else ""), "\n"]
                self.lines.append("".join(parts))
            self.done += 1
            if self.done % _FLUSH_ROWS == 0:
                self.emit()
                if self.done == _FLUSH_ROWS:
                    self.stream.flush()  # the first rows show now, not when the last one is ready
        self.emit()


def _cells(cells: list[str], severity: str, source: bool, Text) -> list:
    style = SEVERITY_STYLES.get(severity, "")
    made = [Text(cells[0], style="dim"), Text(cells[1], style=style)]
    if source:
        made.append(Text(cells[2], style="dim"))
    made.append(Text(cells[-1], style=style if severity == "error" else ""))
    return made


def _table(widths: list[int], headers: list[str], *, show_header: bool):
    """The table `Renderer._table` draws, its column widths fixed."""
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, expand=False, show_header=show_header)
    table.add_column(headers[0], no_wrap=True, width=widths[0])
    table.add_column("Severity", no_wrap=True, width=widths[1])
    if len(headers) == 4:
        table.add_column("Source", no_wrap=True, max_width=_SOURCE_WIDTH, overflow="ellipsis", width=widths[2])
    table.add_column("Message", overflow="fold", ratio=1, width=widths[-1])
    return table
