"""The entries table, written a row at a time, exactly as Rich draws it whole.

Rich lays a table out once it holds every row and spends about 0.25 ms a row on it: `recent -n
10000` took 18 times its JSON Lines and showed nothing until the end. Here the column widths are
worked out first, the way Rich sizes this table (no box, columns as wide as their widest cell,
the message column narrowed to fit the terminal), and then each row is written at once: a plain
row by string formatting, any other (a message to fold, a character wider or narrower than one
cell) by Rich itself, as a table of the same widths. What `draw` writes is checked against
`Renderer._table`, Rich's whole table, byte for byte (tests/test_table_rows.py).
"""

from __future__ import annotations

from logsvc.output import SEVERITY_STYLES, printable

# Column padding with box=None and pad_edge=False: one space between cells on each side, none outside.
_FIRST, _MIDDLE, _LAST = (0, 1), (1, 1), (1, 0)
_SOURCE_WIDTH = 20
_FLUSH_ROWS = 256  # rows written at a time; the first batch is flushed at once


def _plain(text: str) -> bool:
    """One character a cell, nothing to expand: Rich's width is len()."""
    return text.isascii() and text.isprintable()


def draw(renderer, entries: list[dict]) -> bool:
    """Write the table of `entries` row by row; False (nothing written) where Rich must lay it out whole."""
    console = renderer._rich()
    width = console.width
    show_source = width >= 100 and any("source" in entry for entry in entries)
    header, times = renderer.times.column([entry["dateTime"] for entry in entries])
    rows = []
    for entry, shown in zip(entries, times):
        cells = [shown, entry["severity"].upper()]
        if show_source:
            cells.append(printable(entry.get("source", ""), keep_newlines=False))
        cells.append(printable(entry["message"], keep_newlines=False))
        rows.append((entry["severity"], cells))
    headers = [header, "Severity", *(["Source"] if show_source else []), "Message"]
    widths = _widths(console, headers, rows, width)
    if widths is None:
        return False
    _write(renderer, console, headers, rows, widths)
    return True


def _measure(console, text: str) -> int:
    if _plain(text):
        return len(text)
    from rich.measure import Measurement
    from rich.text import Text

    return Measurement.get(console, console.options, Text(text)).maximum


def _widths(console, headers: list[str], rows: list, limit: int) -> list[int] | None:
    """Content widths of the columns as Rich's table would make them; None when it would squeeze
    more than the message column (a terminal too narrow for the rest)."""
    count = len(headers)
    pads = [_FIRST, *([_MIDDLE] * (count - 2)), _LAST]
    widths = []
    for index, title in enumerate(headers):
        widest = max([_measure(console, title), *(_measure(console, cells[index]) for _, cells in rows)])
        if index == 2 and count == 4:
            widest = min(widest, _SOURCE_WIDTH)
        widths.append(min(widest + sum(pads[index]), limit) or 1)
    if sum(widths) > limit:
        room = limit - sum(widths[:-1])
        if room < sum(_LAST) + 1:
            return None
        widths[-1] = room
    return [total - sum(pad) for total, pad in zip(widths, pads)]


def _write(renderer, console, headers: list[str], rows: list, widths: list[int]) -> None:
    from rich.cells import cell_len
    from rich.text import Text

    stream = renderer.stream
    colours = {}  # style -> (start, end) escape codes on this console, learnt from Rich itself

    def styled(text: str, style: str) -> str:
        if not style:
            return text
        if style not in colours:
            with console.capture() as captured:
                console.print(Text("Z", style=style), end="")
            colours[style] = tuple(captured.get().split("Z", 1))
        start, end = colours[style]
        return f"{start}{text}{end}" if start else text

    def fits(text: str, width: int) -> int | None:
        """The cells `text` takes when Rich would draw it as it is on one line of `width`, else None."""
        if _plain(text):
            return len(text) if len(text) <= width else None
        if "\t" in text:
            return None
        cells = cell_len(text)
        return cells if cells <= width else None

    console.print(_table(widths, headers, show_header=True))
    source = len(headers) == 4
    lines: list[str] = []  # rows drawn here, not yet written
    folded = None  # rows Rich lays out (as one table of these widths), not yet written
    done = 0

    def emit() -> None:
        nonlocal lines, folded
        if lines:
            stream.write("".join(lines))
            lines = []
        if folded is not None:
            console.print(folded)
            folded = None

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
            if lines:
                emit()
            if folded is None:
                folded = _table(widths, headers, show_header=False)
            folded.add_row(*_cells(cells, severity, source, Text))
        else:
            if folded is not None:
                emit()
            parts = [styled(cells[0].ljust(widths[0]), "dim"), "  ", styled(cells[1].ljust(widths[1]), style), "  "]
            if source:
                shown = cells[2]
                if origin > widths[2]:
                    shown, origin = shown[:widths[2] - 1] + "…", widths[2]
                parts += [styled(shown + " " * (widths[2] - origin), "dim"), "  "]
            padded = cells[-1] + " " * (widths[-1] - message)
            parts += [styled(padded, style if severity == "error" else ""), "\n"]
            lines.append("".join(parts))
        done += 1
        if done % _FLUSH_ROWS == 0:
            emit()
            if done == _FLUSH_ROWS:
                stream.flush()  # the first rows show now, not when the last one is ready
    emit()


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
