"""`send --file` / `send -`: many entries in one go, all or nothing unless --skip-invalid."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from logsvc.errors import InvalidInputError, UsageError


def send_bulk(path: Path, plain: bool, severity: str, source: str, skip_invalid: bool, targets) -> None:
    """Read entries from PATH ('-' for stdin), store them and say on stderr what became of them."""
    from logsvc.bulk import read_entries
    from logsvc.delivery import spool_for
    from logsvc.entry import EntryError, parse_severity
    from logsvc.output import error, notice
    from logsvc.targets import open_store

    try:
        level = parse_severity(severity, lenient=True)
    except EntryError as exc:
        raise UsageError(f"--severity: {exc.problems[0]}") from None
    if str(path) == "-":
        stream, total = sys.stdin.buffer, None
    else:
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        total = os.fstat(stream.fileno()).st_size
    settings = targets.settings()
    backend = open_store(settings)
    items = read_entries(stream, plain=plain, severity=level, source=source)
    try:
        with _progress(total) as progress:
            report = _write_bulk(backend, spool_for(settings), items, skip_invalid, progress)
    finally:
        backend.close()
        stream.close()
    if report.invalid and not skip_invalid:
        for line in report.describe_invalid():
            error(line)
        raise InvalidInputError(f"{report.invalid} invalid line{'s' if report.invalid != 1 else ''}; nothing was stored",
                                hint="fix them, or pass --skip-invalid to store the valid lines")
    for line in report.describe_invalid():
        notice(f"skipped {line}")
    summary = f"stored {report.stored}"
    if report.replayed:
        summary += f", already stored {report.replayed}"
    if report.invalid:
        summary += f", skipped {report.invalid} invalid"
    sys.stderr.write(summary + "\n")


class _Discard(Exception):
    """Raised inside a bulk block to leave it without storing anything."""


def _write_bulk(backend, spool, items, skip_invalid, progress):
    from logsvc.bulk import send_stream
    from logsvc.delivery import bulk

    try:
        with bulk(backend, spool) as writer:
            report = send_stream(items, writer.write, skip_invalid=skip_invalid, progress=progress)
            if report.invalid and not skip_invalid:
                raise _Discard
    except _Discard:
        return report
    report.stored, report.replayed = writer.stored, writer.replayed
    return report


class _progress:
    """A Rich progress bar on stderr for long inputs, only when stderr is a terminal."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self._bar = None

    def __enter__(self):
        if not sys.stderr.isatty() or (self.total is not None and self.total < 1_000_000):
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("sending"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                             transient=True, console=None)
        self._bar.start()
        self._task = self._bar.add_task("send", total=self.total)
        return lambda consumed: self._bar.update(self._task, completed=consumed)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
