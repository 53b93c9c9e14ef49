"""`recent` and `tail` over a store's continuations: progress past a second, and where to go on.

The reading itself is `logsvc.reading.read_recent`; this module adds the command line's part:
``--before`` checked, a progress line on stderr while a long search runs, and after a search
stopped by its bound, one line saying how many entries it examined and the command that
continues it.
"""

from __future__ import annotations

import shlex
import sys

from logsvc.errors import UsageError
from logsvc.reading import Outcome, RecentPages, read_recent
from logsvc.store import Query


def check_before(before: str | None) -> str | None:
    """A --before value as issued (``dateTime#id``), else a usage error."""
    if before is None:
        return None
    from logsvc.handler.paging import parse_position

    if parse_position(before) is None:
        raise UsageError("--before takes a position from a 'stopped early' note (a time, '#', an id)")
    return before


def read(backend, query: Query) -> Outcome:
    """`read_recent`, with a progress line on stderr once a read takes more than a second."""
    return read_recent(backend, query, progress=_progress(query))


def pages(backend, query: Query, *, first_page: int | None) -> RecentPages:
    """`read` a page at a time (`RecentPages`), the first of `first_page` entries (None: all)."""
    return RecentPages(backend, query, first_page=first_page, progress=_progress(query))


def _progress(query: Query):
    def progress(found: int, scanned: int | None) -> None:
        examined = f", {scanned:,} entries examined" if scanned is not None else ""
        sys.stderr.write(f"searching: {found} of {query.limit} found{examined}...\n")
        sys.stderr.flush()

    return progress


def stopped_early(outcome: Outcome | RecentPages, query: Query, *, command: str = "recent") -> None:
    """If the read stopped at its bound: one line on stderr with what it did and how to go on."""
    if outcome.resume is None:
        return
    examined = f"examined {outcome.scanned:,} entries and " if outcome.scanned is not None else ""
    line = f"stopped early: {examined}found {len(outcome.entries)} of {query.limit}"
    if command == "recent":
        line += f"; continue with: {continue_command(outcome.resume)}"
    else:
        line += "; older matches may exist (`logsvc recent` with the same filters goes further)"
    sys.stderr.write(line + "\n")


def continue_command(resume: str) -> str:
    """This command line again, with ``--before RESUME`` in place of any earlier one."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
        elif arg == "--before":
            skip = True
        elif not arg.startswith("--before="):
            args.append(arg)
    return shlex.join(["logsvc", *args, "--before", resume])
