"""Exporting a window of entries oldest first, page by page, resumable.

Pages are keyset pages in (dateTime, id) order: each asks for the entries after a position
``dateTime#id`` (the last entry written, or where a read stopped), so memory stays one page
whatever the window holds, and a saved position (`Position`) resumes exactly there. Each target
reads them its own way (`page_after`): the local store walks its time index, DynamoDB merges
its index partitions within a scan budget (a page may stop early, even empty, at the position
its reads got to), the url target asks the read handler's ``export`` mode (whose pages also
stop early to fit a Lambda response).

Exactly once: after each page the output is flushed (and fsynced, for a file) before the
position is saved, and the position records the output's size then. A resumed export into a
file first cuts the file back to that size, so a page written but not recorded (the process
killed in between) is written once, not twice. Entries arriving later with times inside the
window already passed are not in the export: export windows that have ended.

Stdlib only: the read handler uses `page_after`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import IO, Iterator

from logsvc.entry import FIELDS, serialise
from logsvc.store import Query

FORMATS = ("jsonl", "csv")
PAGE_SIZE = 1000


def key(entry: dict) -> str:
    """An entry's position: ``dateTime#id`` (the DynamoDB index's TimeId), in export order."""
    return f"{entry['dateTime']}#{entry['id']}"


def page_after(store, query: Query, after: str | None) -> tuple[list[dict], str | None]:
    """Up to `query.limit` entries matching `query` after position `after`, oldest first, and the
    position to continue from (None: the window is exhausted)."""
    return store.page_after(query, after)


def pages(store, query: Query, after: str | None) -> Iterator[tuple[list[dict], str | None, bool]]:
    """(page, position after it, whether more may follow) until the window is exhausted."""
    while True:
        page, following = page_after(store, query, after)
        position = following or (key(page[-1]) if page else after)
        yield page, position, following is not None
        if following is None:
            return
        after = following


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) that
# leaks data, =cmd|... that runs a program): CSV cells get a leading ' so they open as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def encode(entries: list[dict], fmt: str, *, header: bool = False) -> str:
    """Entries as JSON Lines (exactly as stored) or CSV (for spreadsheets: formula-safe cells)."""
    if fmt == "jsonl":
        return "".join(serialise(entry) + "\n" for entry in entries)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(FIELDS)
    for entry in entries:
        writer.writerow([_csv_cell(entry.get(field) or "") for field in FIELDS])
    return out.getvalue()


class Position:
    """Where an export stands, saved in the --cursor file: the window it exports and what is done."""

    def __init__(self, window: dict, after: str | None = None, written: int = 0, size: int = 0,
                 done: bool = False) -> None:
        self.window = window  # target, since, until, severity, grep, format: a resume must match
        self.after = after
        self.written = written  # entries written so far
        self.size = size  # bytes of the output file after them (0 for stdout)
        self.done = done

    def save(self, path: Path) -> None:
        data = {"v": 2, "window": self.window, "after": self.after,
                "written": self.written, "size": self.size, "done": self.done}
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> "Position | None":
        """The saved position, None when there is no file; ValueError when it is not one of ours."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != 2 or not isinstance(data.get("after"), (str, type(None))):
            raise ValueError("not an export cursor")
        return cls(data["window"], data["after"], int(data["written"]), int(data["size"]),
                   bool(data.get("done")))


def durable_write(stream: IO[str], text: str) -> None:
    """Write and flush; fsync when the stream is a regular file (its size is what a resume trusts)."""
    stream.write(text)
    stream.flush()
    try:
        fileno = stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return
    if _regular(fileno):
        os.fsync(fileno)


def _regular(fileno: int) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.fstat(fileno).st_mode)
    except OSError:
        return False
