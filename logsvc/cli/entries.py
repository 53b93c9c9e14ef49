"""The entry commands: send one or many, show the recent ones, tail and follow."""

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer

from logsvc.cli import ENTRIES, app
from logsvc.cli.options import Display, Filters, SendOutput, TargetOptions, check_writable_path, shared_options
from logsvc.cli._alert import FailOnOpt, ThresholdOpt, check_fail_on, fail_if
from logsvc.errors import InvalidInputError, UsageError


@app.command(rich_help_panel=ENTRIES)
@shared_options()
def send(
    message: Annotated[Optional[str], typer.Argument(help="The message; '-' reads entries from stdin.", show_default=False)] = None,
    severity: Annotated[Optional[str], typer.Option("--severity", "-s", help="info, warning or error (any case; warn, err); for bulk input, the level of lines without one. [default: info]", show_default=False)] = None,
    entry_id: Annotated[Optional[str], typer.Option("--id", help="The entry's UUID (default: a new one).", show_default=False)] = None,
    time: Annotated[Optional[str], typer.Option("--time", help="When it happened, ISO 8601 with Z or an offset (default: now).", show_default=False)] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Who sends it (default: this host's name).", show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Send every line of this file ('-' for stdin).", show_default=False, dir_okay=False)] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Input lines are plain messages, not JSON objects.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Store the valid lines of a bulk input and report the rest.")] = False,
    output: Annotated[Optional[SendOutput], typer.Option("--output", "-o", help="id (the stored id) or json (the stored entry); for bulk input, one line per entry. [default: id; bulk: none]", show_default=False)] = None,
    *,
    targets: TargetOptions,
) -> None:
    """Send one log entry, or many from a file or stdin (JSON Lines, or plain lines with --lines)."""
    from logsvc.entry import EntryError, normalise, parse_severity

    if source is not None and not source.strip():
        raise UsageError("--source must not be blank", hint="leave it out to use this host's name")
    host = source or _hostname()
    if severity is not None:
        try:
            parse_severity(severity, lenient=True)  # a bad option value is a usage error (exit 2)
        except EntryError as exc:
            raise UsageError(f"--severity: {exc.problems[0]}", hint="info, warning or error (any case; warn, err)") from None
    bulk_path = file if file is not None else (Path("-") if message == "-" else None)
    if bulk_path is not None:
        if message not in (None, "-"):
            raise UsageError("give either a MESSAGE or --file, not both")
        if entry_id is not None or time is not None:
            raise UsageError("--id and --time go with a single MESSAGE", hint="bulk input carries them in each line")
        from logsvc.cli._bulk import send_bulk

        send_bulk(bulk_path, lines, severity, host, skip_invalid, targets, output.value if output else None)
        return
    if lines or skip_invalid:
        raise UsageError("--lines and --skip-invalid go with bulk input", hint="send --file PATH --lines, or pipe into send - --lines")
    if message is None:
        raise UsageError("missing MESSAGE", hint="logsvc send --severity error \"disk full\", or --file PATH")
    raw: dict = {"severity": severity or "info", "message": message, "source": host}
    if entry_id is not None:
        raw["id"] = entry_id
    if time is not None:
        raw["dateTime"] = time
    try:
        entry = normalise(raw, lenient_severity=True)
    except EntryError as exc:
        raise InvalidInputError("; ".join(exc.problems)) from None
    from logsvc.targets import open_store

    settings = targets.settings()
    backend = open_store(settings)
    try:
        if settings["target"] == "local":
            backend.put([entry])  # the local store has no spool (`delivery.spool_for`): no import of it
        else:
            from logsvc import delivery

            delivery.put(backend, [entry], delivery.spool_for(settings))
    finally:
        backend.close()
    if output is SendOutput.json:
        from logsvc.output import to_json

        sys.stdout.write(to_json(entry) + "\n")
    else:
        sys.stdout.write(entry["id"] + "\n")


def _hostname() -> str:
    try:
        return os.uname().nodename or "unknown"
    except AttributeError:  # not POSIX
        import socket

        return socket.gethostname()


FIRST_PAGE = 200  # entries `recent` reads before showing any: a few milliseconds from a local store


@app.command(rich_help_panel=ENTRIES)
@shared_options()
def recent(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100000, help="How many entries at most.")] = 100,
    fail_on: FailOnOpt = None,
    threshold: ThresholdOpt = None,
    before: Annotated[Optional[str], typer.Option("--before", help="Continue a search below this position (from a 'stopped early' note).", show_default=False)] = None,
    *,
    filters: Filters,
    display: Display,
    targets: TargetOptions,
) -> None:
    """Show the most recent entries, newest first; --fail-on exits 7 when enough of them are that bad.

    A search examines at most 100,000 entries (or 10 s); if that stops it, a note on stderr says
    how to continue.
    """
    from logsvc.cli import _continue
    from logsvc.targets import open_store

    check_fail_on(fail_on, threshold)
    query = filters.query(limit)
    query.before = _continue.check_before(before)
    backend = open_store(targets.settings(), reading=True)
    try:
        # Page by page, each shown as it comes (as far as --limit needs); one JSON array is one read.
        read = _continue.pages(backend, query, first_page=None if display.output.value == "json" else FIRST_PAGE)
        display.renderer().pages(read)
    finally:
        backend.close()
    _continue.stopped_early(read, query)
    fail_if(fail_on, threshold, entries=read.entries, window=f" in the {len(read.entries)} shown")


@app.command(rich_help_panel=ENTRIES)
@shared_options()
def tail(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new entries until Ctrl-C or a bound.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, max=100000, help="How many past entries to show first.")] = 20,
    *,
    filters: Filters,
    max_entries: Annotated[Optional[int], typer.Option("--max-entries", min=1, help="Stop after this many new entries.", show_default=False)] = None,
    idle_timeout: Annotated[Optional[str], typer.Option("--idle-timeout", help="Stop after this long without a new entry (e.g. 30s).", show_default=False)] = None,
    run_for: Annotated[Optional[str], typer.Option("--for", help="Stop following after this long (e.g. 30m).", show_default=False)] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between polls.")] = 1.0,
    cursor_file: Annotated[Optional[Path], typer.Option("--cursor", help="Resume from and save the position in this file.", show_default=False, dir_okay=False)] = None,
    display: Display,
    targets: TargetOptions,
) -> None:
    """Show the last entries oldest first; with --follow, keep printing new ones as they arrive."""
    from logsvc.cli._follow import interrupts_wait, read_cursor, write_cursor
    from logsvc.output import notice
    from logsvc.tail import Follower, Notice
    from logsvc.targets import open_store
    from logsvc.times import now_utc

    # --since/--until bound the entries' times, as in `recent`; --for bounds how long to follow.
    query = filters.query(max(limit, 1))
    idle = _duration(idle_timeout, "--idle-timeout").total_seconds() if idle_timeout else None
    stop_at = now_utc() + _duration(run_for, "--for") if run_for else None
    if not follow and (max_entries or idle_timeout or run_for or cursor_file):
        raise UsageError("--max-entries, --idle-timeout, --for and --cursor go with --follow")
    if cursor_file is not None:
        check_writable_path(cursor_file, "--cursor")
    if follow and query.until is not None and not (run_for or idle_timeout or max_entries):
        from logsvc.times import format_utc

        if query.until <= format_utc(now_utc()):
            # In 0.1.0 `tail -f --until 30m` stopped after 30 minutes; now it would wait, silent, forever.
            notice(f"note: --until {filters.until} is past, so new entries will not show (only ones dated "
                   "before it); to stop following after a while, use --for (e.g. --for 30m)")
    renderer = display.renderer()
    settings = targets.settings()
    backend = open_store(settings, reading=True)
    try:
        saved = read_cursor(cursor_file, settings["target"]) if cursor_file else None
        cursor, owed = saved if saved is not None else (None, [])
        if cursor is None:
            from logsvc.cli import _continue

            page = _continue.read(backend, query)  # over the store's continuations, as far as -n needs
            _continue.stopped_early(page, query, command="tail")
            past = list(reversed(page.entries)) if limit else []
            if not follow:
                renderer.entries(past)
                return
            for entry in past:
                renderer.entry(entry)
            cursor = page.cursor
        query.limit = 1000
        follower = Follower(backend, query, cursor, pending=owed, interval=interval, until=stop_at,
                            max_entries=max_entries, idle_timeout=idle)
        printed = None
        whole_line = interrupts_wait if cursor_file else nullcontext
        try:
            for item in follower:
                if isinstance(item, Notice):
                    notice(item.message, color=display.color.value)
                    continue
                with whole_line():
                    printed = item
                    renderer.entry(item)
        finally:
            if cursor_file:
                write_cursor(cursor_file, settings["target"], *follower.position_after(printed))
    finally:
        backend.close()


def _duration(text: str, flag: str):
    from logsvc.times import TimeFormatError, parse_duration

    try:
        return parse_duration(text)
    except TimeFormatError as exc:
        raise UsageError(f"{flag}: {exc}") from None


