"""`logsvc export`: the loop that writes pages, saves positions and draws the progress bar."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

from logsvc.cli.options import check_writable_path
from logsvc.errors import UsageError


def run_export(filters, targets, fmt: str, out: Path | None, cursor_file: Path | None, page_size: int,
               max_pages: int | None) -> None:
    from logsvc import export
    from logsvc.output import notice
    from logsvc.targets import open_store
    from logsvc.times import format_utc, now_utc

    for path, flag in ((out, "--out"), (cursor_file, "--cursor")):
        if path is not None:
            check_writable_path(path, flag)
    query = filters.query(page_size)
    settings = targets.settings()
    args = {"target": settings["target"], "since": filters.since, "until": filters.until,
            "severity": query.min_severity, "grep": filters.grep, "regex": filters.regex, "format": fmt,
            "out": str(out.resolve()) if out else None}
    position = None
    if cursor_file is not None:
        try:
            position = export.Position.load(cursor_file)
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{cursor_file} is not an export cursor", hint="remove it to start the export again") from None
        except OSError as exc:
            raise UsageError(f"cannot read the cursor file {cursor_file}: {exc.strerror}") from None
    if position is not None:
        if position.window["args"] != args:
            raise UsageError(f"{cursor_file} belongs to another export (other options or target)",
                             hint="resume with the same options, or remove the cursor file to start again")
        if position.done:
            notice(f"the export in {cursor_file} is already complete ({position.written} entries)")
            return
        query.since, query.until = position.window["since"], position.window["until"]
    else:
        query.until = query.until or format_utc(now_utc())  # fixed now, so a resume exports the same window
        position = export.Position({"args": args, "since": query.since, "until": query.until})
    resuming = position.window.get("started", False)
    position.window["started"] = True
    stream = _open_output(out, position, resuming=resuming)
    backend = open_store(settings, reading=True)
    try:
        with _progress(query.since, query.until, position.written) as advance:
            if not resuming:
                if fmt == "csv":
                    export.durable_write(stream, export.encode([], fmt, header=True))
                position.size = _size(stream, out)
                if cursor_file is not None:
                    position.save(cursor_file)  # from here on the output file is the export's
            pages_done = 0
            for page, after, _ in export.pages(backend, query, position.after):
                if page:
                    export.durable_write(stream, export.encode(page, fmt))
                position.after, position.written = after, position.written + len(page)
                position.size = _size(stream, out)
                if cursor_file is not None:
                    position.save(cursor_file)
                if after:
                    advance(after.split("#", 1)[0], position.written)
                pages_done += 1
                if max_pages is not None and pages_done >= max_pages:
                    return  # (hidden option) stop as an interruption would, for tests
            position.done = True
            if cursor_file is not None:
                position.save(cursor_file)
    finally:
        backend.close()
        if out is not None:
            stream.close()


def _open_output(out: Path | None, position, *, resuming: bool):
    if out is None:
        return sys.stdout
    if not resuming:
        if out.exists() and out.stat().st_size > 0:
            raise UsageError(f"{out} exists", hint="remove it, choose another --out, or resume with the --cursor of its export")
        return open(out, "w", encoding="utf-8", newline="")
    try:
        size = out.stat().st_size
    except FileNotFoundError:
        raise UsageError(f"{out} is gone: the export cannot resume into it",
                         hint="remove the cursor file to start again") from None
    if size < position.size:
        raise UsageError(f"{out} is shorter than when its export stopped ({size} < {position.size} bytes)",
                         hint="remove it and the cursor file to start again")
    stream = open(out, "r+", encoding="utf-8", newline="")
    stream.truncate(position.size)  # a page written but not recorded is written again, once
    stream.seek(position.size)
    return stream


def _size(stream, out: Path | None) -> int:
    return stream.tell() if out is not None else 0


def _progress(since: str | None, until: str, written: int):
    """A bar on stderr (a terminal only) over the window's time; `advance(time, written)` moves it."""
    if not sys.stderr.isatty():
        return nullcontext(lambda *_: None)
    return _RichProgress(since, until, written)


class _RichProgress:
    def __init__(self, since: str | None, until: str, written: int) -> None:
        self.start = datetime.fromisoformat(since).timestamp() if since else None
        self.end = datetime.fromisoformat(until).timestamp()
        self.written = written

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("exporting"), BarColumn(), TextColumn("{task.fields[written]} entries"),
                                 TimeElapsedColumn(), console=Console(file=sys.stderr), transient=False)
        self.progress.__enter__()
        span = (self.end - self.start) if self.start is not None else 1.0
        self.task = self.progress.add_task("export", total=max(span, 1e-6), written=self.written)
        return self.advance

    def advance(self, at: str, written: int) -> None:
        done = datetime.fromisoformat(at).timestamp() - self.start if self.start is not None else 0.0
        self.progress.update(self.task, completed=max(0.0, done), written=written)

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)
