"""`send --file` / `send -`: many entries in one go, all or nothing unless --skip-invalid."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from logsvc.errors import InvalidInputError, UsageError


def send_bulk(path: Path, plain: bool, severity: str | None, source: str, skip_invalid: bool, targets,
              output: str | None = None) -> None:
    """Read entries from PATH ('-' for stdin), store them and say on stderr what became of them.

    `severity` is the level of plain lines and of JSON lines without one; `output` ("id" or
    "json") also prints each entry sent, once all of them are stored.
    """
    from logsvc.bulk import read_entries, read_entries_aside, read_entries_usable_aside
    from logsvc.delivery import spool_for
    from logsvc.entry import EntryError, parse_severity
    from logsvc.output import error, notice
    from logsvc.targets import open_store

    try:
        level = parse_severity(severity, lenient=True) if severity else None
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
    # A regular file (also as stdin, `< file`) is all there: the local store may take it as it is
    # read, rather than staged and merged after (a pipe's pace is unknown, so it keeps the store free).
    complete = _regular_file(stream)
    settings = targets.settings()
    backend = open_store(settings)
    reader = read_entries
    # The local store (the one with a bulk of its own) writes as fast as a line is validated, so
    # validating on the other core halves the time; a remote target waits on the network instead.
    local = getattr(backend, "bulk", None) is not None
    if complete and local and read_entries_usable_aside(os.fstat(stream.fileno()).st_size):
        reader = read_entries_aside
    items = reader(stream, plain=plain, severity=level, source=source)
    try:
        with _progress(total) as progress:
            report, sent = _write_bulk(backend, spool_for(settings), items, skip_invalid, progress,
                                       keep=output is not None, complete=complete)
    finally:
        backend.close()
        stream.close()
        if isinstance(items, read_entries_aside):
            items.close()
    if report.invalid and not skip_invalid:
        for line in report.describe_invalid():
            error(line)
        raise InvalidInputError(f"{report.invalid} invalid line{'s' if report.invalid != 1 else ''}; nothing was stored",
                                hint=_invalid_hint(report, plain))
    for line in report.describe_invalid():
        notice(f"skipped {line}")
    summary = f"stored {report.stored}"
    if report.replayed:
        summary += f", already stored {report.replayed}"
    if report.invalid:
        summary += f", skipped {report.invalid} invalid"
    sys.stderr.write(summary + "\n")
    if output is not None:
        from logsvc.output import to_json

        sys.stdout.writelines((entry["id"] if output == "id" else to_json(entry)) + "\n" for entry in sent)


class _Discard(Exception):
    """Raised inside a bulk block to leave it without storing anything."""


def _regular_file(stream) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):  # no file descriptor (a test's stdin)
        return False


def _write_bulk(backend, spool, items, skip_invalid, progress, *, keep: bool = False, complete: bool = False):
    """Store the items; with `keep`, also return the entries sent (for -o: printed after the commit).

    `complete`: the input is all there (a regular file), so the local store writes it directly."""
    from logsvc.bulk import send_stream
    from logsvc.delivery import bulk

    sent: list[dict] = []
    own = getattr(backend, "bulk", None)
    try:
        with (own(direct=True) if complete and own is not None else bulk(backend, spool)) as writer:
            def write(chunk: list[dict]) -> None:
                writer.write(chunk)
                if keep:
                    sent.extend(chunk)

            report = send_stream(items, write, skip_invalid=skip_invalid, progress=progress)
            if report.invalid and not skip_invalid:
                raise _Discard
    except _Discard:
        return report, []
    report.stored, report.replayed = writer.stored, writer.replayed
    return report, sent


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


def _invalid_hint(report, plain: bool) -> str:
    """The likeliest fix for the invalid lines reported: plain text, or lines without a severity."""
    problems = {problem for _, listed in report.problems for problem in listed}
    if not plain and any(problem.startswith("not a JSON object") for problem in problems):
        return "for plain text, one message a line, add --lines; or fix the lines, or pass --skip-invalid"
    if "missing required field: severity" in problems:
        return "--severity LEVEL (e.g. -s info) gives lines without a severity that level; or fix them, or pass --skip-invalid"
    return "fix them, or pass --skip-invalid to store the valid lines"
