"""Exporting a window of entries oldest first, page by page, resumable.

Pages are keyset pages in (dateTime, id) order: each asks for the entries after the last one
written, so memory stays one page whatever the window holds, and a saved position (`Position`)
resumes exactly there. Each target reads them its own way (`page_after`): the local store walks
its time index, DynamoDB merges its shards' index partitions, the url target asks the read
handler's ``export`` mode.

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


def page_after(store, query: Query, after: tuple[str, str] | None) -> list[dict]:
    """Up to `query.limit` entries matching `query` after (dateTime, id) `after`, oldest first."""
    kind = type(store).__name__
    if kind == "TranslatedStore":
        from logsvc.aws import translate

        with translate(store._store.table_name):
            return page_after(store._store, query, after)
    if kind == "SQLiteStore":
        from logsvc.store.sqlite_stats import page_after as pages
    elif kind == "DynamoDBStore":
        from logsvc.store.dynamodb.insight import page_after as pages
    elif kind == "FunctionUrlStore":
        from logsvc.client_insight import page_after as pages
    else:
        raise TypeError(f"no export for {kind}")
    return pages(store, query, after)


def pages(store, query: Query, after: tuple[str, str] | None) -> Iterator[tuple[list[dict], tuple[str, str]]]:
    """(page, position after it) until the window is exhausted."""
    while True:
        page = page_after(store, query, after)
        if not page:
            return
        after = (page[-1]["dateTime"], page[-1]["id"])
        yield page, after
        if len(page) < query.limit:
            return


def encode(entries: list[dict], fmt: str, *, header: bool = False) -> str:
    if fmt == "jsonl":
        return "".join(serialise(entry) + "\n" for entry in entries)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(FIELDS)
    for entry in entries:
        writer.writerow([entry.get(field, "") for field in FIELDS])
    return out.getvalue()


class Position:
    """Where an export stands, saved in the --cursor file: the window it exports and what is done."""

    def __init__(self, window: dict, after: tuple[str, str] | None = None, written: int = 0, size: int = 0,
                 done: bool = False) -> None:
        self.window = window  # target, since, until, severity, grep, format: a resume must match
        self.after = after
        self.written = written  # entries written so far
        self.size = size  # bytes of the output file after them (0 for stdout)
        self.done = done

    def save(self, path: Path) -> None:
        data = {"v": 1, "window": self.window, "after": list(self.after) if self.after else None,
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
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("not an export cursor")
        after = data.get("after")
        return cls(data["window"], tuple(after) if after else None, int(data["written"]), int(data["size"]),
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
