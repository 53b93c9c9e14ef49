"""Rendering entries: table, json, jsonl and raw, on stdout; messages and errors on stderr.

Rich is imported only by the functions that draw with it. Every message is shown literally:
Rich markup is never parsed, and control characters (ANSI escapes, carriage returns, bidi
overrides) are shown escaped, so a log line can neither style nor move the terminal.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from datetime import datetime
from typing import IO, Iterable

OUTPUTS = ("table", "json", "jsonl", "raw")
SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}

# Invisible characters that can hide or fake text: format characters (Unicode category Cf:
# zero-width spaces and joiners, bidi overrides, the BOM, tag characters...), the line and
# paragraph separators (which some terminals and viewers break lines at), and lone surrogates
# (which JSON can carry but no terminal can show). Listed, not computed: no work at import time.
_INVISIBLE = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
              "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd"
              "\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
              "\U000e0020-\U000e007f")


@functools.cache
def _unsafe(in_json: bool) -> re.Pattern:
    """C0 controls except tab and newline, DEL, C1 controls, and the invisible characters; in JSON,
    the same minus what json.dumps escapes itself (it leaves C1 and the invisible ones raw).
    Compiled on first use, not at import: nearly a millisecond, which ASCII output never needs."""
    if in_json:
        return re.compile(f"[\x7f-\x9f{_INVISIBLE}]")
    return re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")


def _escape(match: re.Match) -> str:
    if match.group() == "\r":
        return "\\r"
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json_escape(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells a character beyond the BMP as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with every control character shown as an escape such as \\x1b."""
    if text.isascii() and text.isprintable():
        return text  # no control character, no newline: nothing to escape
    text = _unsafe(False).sub(_escape, text)
    return text if keep_newlines else text.replace("\n", "\\n")


def to_json(value: object, *, indent: int | None = None) -> str:
    """JSON that round-trips, with non-ASCII kept readable and terminal controls escaped."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if text.isascii() and "\x7f" not in text:
        return text  # json.dumps escaped every C0 control; DEL is the one ASCII character left
    return _unsafe(True).sub(_json_escape, text)


class TimeFormat:
    """Shown times: UTC, or the machine's local zone (the default)."""

    def __init__(self, utc: bool = False) -> None:
        self.utc = utc

    def column(self, stored: list[str]) -> tuple[str, list[str]]:
        """A table's time header and cells. The header states the offset when every row shares
        one; rows either side of a daylight-saving change each show their own instead."""
        if self.utc:
            return "Time (UTC)", [self.show(text) for text in stored]
        instants, shown = self.local(stored)
        offsets = set(shown) or {_offset(datetime.now().astimezone())}
        if len(offsets) == 1:
            return f"Time ({offsets.pop()})", [_clock(instant) for instant in instants]
        return "Time (local)", [f"{_clock(instant)} {offset}" for instant, offset in zip(instants, shown)]

    @staticmethod
    def local(stored: list[str]) -> tuple[list[datetime], list[str]]:
        """Stored times in the local zone, and each one's offset as text (+01:00)."""
        instants = [datetime.fromisoformat(text).astimezone() for text in stored]
        named: dict = {}  # utcoffset -> its text: strftime once per offset, not once per row
        return instants, [named.get(instant.utcoffset()) or named.setdefault(instant.utcoffset(), _offset(instant))
                          for instant in instants]

    def show(self, stored: str) -> str:
        instant = datetime.fromisoformat(stored)
        if not self.utc:
            instant = instant.astimezone()
        return _clock(instant)

    def iso(self, stored: str) -> str:
        instant = datetime.fromisoformat(stored)
        if self.utc:
            return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return instant.astimezone().isoformat(timespec="microseconds")


def _clock(instant: datetime) -> str:
    if instant.year >= 1000:  # isoformat: the same text from year 1000 on, a third of strftime's time
        return instant.isoformat(sep=" ", timespec="milliseconds")[:23]
    return instant.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _offset(instant: datetime) -> str:
    offset = instant.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def resolve_color(color: str) -> dict:
    """Console options for --color auto|always|never; auto honours the terminal and NO_COLOR."""
    import os

    # NO_COLOR (no-color.org) means plain text: no colour and no bold or dim either.
    if color == "never" or (color == "auto" and os.environ.get("NO_COLOR")):
        return {"no_color": True, "color_system": None}
    if color == "always":
        return {"force_terminal": True, "no_color": False}
    return {}


class Renderer:
    """Writes entries in one output format; table output is drawn with Rich."""

    def __init__(self, output: str = "table", *, color: str = "auto", utc: bool = False,
                 stream: IO[str] | None = None) -> None:
        self.output = output
        self.color = color
        self.times = TimeFormat(utc)
        self.stream = stream or sys.stdout
        self._console = None

    def _rich(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, emoji=False, markup=False,
                                    **resolve_color(self.color))
        return self._console

    def entries(self, entries: list[dict]) -> None:
        """A finished list: a table, one JSON array, JSON lines or raw lines."""
        if self.output == "table":
            from logsvc.tabular import draw

            if not draw(self, entries):  # row by row; Rich lays out only what it must
                self._table(entries)
        elif self.output == "json":
            self.stream.write(to_json(entries, indent=2) + "\n")
        else:
            for entry in entries:
                self.entry(entry)
        self.stream.flush()

    def pages(self, pages: Iterable[tuple[list[dict], bool]]) -> None:
        """A listing read a page at a time, as ``(entries, last)`` pairs: each page written as it
        comes (a table's first rows show before the last page is read; see `tabular.draw_pages`),
        except as one JSON array, or as a whole table when the first page is the only one."""
        pages = iter(pages)
        if self.output == "json":
            self.entries([entry for page, _ in pages for entry in page])
        elif self.output != "table":
            for page, _ in pages:
                self.stream.write("".join(self._line(entry) for entry in page))
                self.stream.flush()
        else:
            first, last = next(pages, ([], True))
            if last:
                self.entries(first)
                return
            from logsvc.tabular import draw_pages

            if not draw_pages(self, first, pages):  # a terminal too narrow: Rich lays out the whole table
                self.entries(first + [entry for page, _ in pages for entry in page])

    def _line(self, entry: dict) -> str:
        return (to_json(entry) if self.output == "jsonl" else self._raw_line(entry)) + "\n"

    def entry(self, entry: dict) -> None:
        """One entry of a stream (tail): a line, flushed at once so pipes see it."""
        if self.output in ("json", "jsonl"):
            self.stream.write(to_json(entry) + "\n")
        elif self.output == "raw":
            self.stream.write(self._raw_line(entry) + "\n")
        else:
            self._rich().print(self._styled_line(entry), soft_wrap=True)
        self.stream.flush()

    def _raw_line(self, entry: dict) -> str:
        return f"{self.times.iso(entry['dateTime'])} {entry['severity'].upper():<7} " + printable(
            entry["message"], keep_newlines=False
        )

    def _styled_line(self, entry: dict):
        from rich.text import Text

        severity = entry["severity"]
        line = Text()
        line.append(self.times.show(entry["dateTime"]), style="dim")
        line.append(" ")
        line.append(f"{severity.upper():<7}", style=SEVERITY_STYLES.get(severity, ""))
        line.append(" ")
        line.append(printable(entry["message"], keep_newlines=False))
        return line

    def _table(self, entries: list[dict]) -> None:
        from rich.table import Table
        from rich.text import Text

        rich_console = self._rich()
        show_source = rich_console.width >= 100 and any("source" in entry for entry in entries)
        table = Table(box=None, header_style="bold", pad_edge=False, expand=False)
        time_header, times = self.times.column([entry["dateTime"] for entry in entries])
        table.add_column(time_header, no_wrap=True)
        table.add_column("Severity", no_wrap=True)
        if show_source:
            table.add_column("Source", no_wrap=True, max_width=20, overflow="ellipsis")
        table.add_column("Message", overflow="fold", ratio=1)
        for entry, shown_time in zip(entries, times):
            severity = entry["severity"]
            style = SEVERITY_STYLES.get(severity, "")
            cells = [Text(shown_time, style="dim"), Text(severity.upper(), style=style)]
            if show_source:
                cells.append(Text(printable(entry.get("source", ""), keep_newlines=False), style="dim"))
            # A newline is shown as \n: a real one would start what looks like another row.
            cells.append(Text(printable(entry["message"], keep_newlines=False), style=style if severity == "error" else ""))
            table.add_row(*cells)
        if entries:
            rich_console.print(table)
        else:
            rich_console.print(Text("No entries.", style="dim"))


def stderr_colour(color: str = "auto") -> bool:
    """Whether stderr gets colour: --color wins, then NO_COLOR, then whether it is a terminal."""
    import os

    if color != "auto":
        return color == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stderr.isatty()


def _to_stderr(prefix: str, message: str, code: str, color: str) -> None:
    # Plain ANSI rather than Rich: an error must not pay Rich's import on the fast paths.
    text = prefix + printable(message, keep_newlines=False)
    if stderr_colour(color):
        text = f"\x1b[{code}m{text}\x1b[0m"
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def error(message: str, hint: str | None = None, *, color: str = "auto") -> None:
    """One line on stderr, plus a one-line hint when there is one."""
    _to_stderr("error: ", message, "1;31", color)
    if hint:
        _to_stderr("hint: ", hint, "2", color)


def notice(message: str, *, color: str = "auto") -> None:
    """A one-line note on stderr: a skipped line, a retry, a reconnect."""
    _to_stderr("", message, "33", color)
