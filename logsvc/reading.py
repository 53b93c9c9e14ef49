"""`recent` over continuations: only as far as the limit needs, within a bound, with progress.

A store's read may stop before `limit` entries: the DynamoDB store examines a bounded number of
items per read, and the read URL keeps each response under Lambda's 6 MB. Such a page is
`truncated` and says where to go on (`resume`, passed back as `Query.before`). `read_recent` asks
again below it until `limit` entries are found or the entries run out, but stops once it has
examined `MAX_EXAMINED` items or spent `MAX_SECONDS`: a search for something rare in a huge table
then answers with what it found and where to continue, instead of reading the whole table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from logsvc.store import Query, position

MAX_EXAMINED = 100_000  # items one command examines at most: 10 reads at the store's largest budget
MAX_SECONDS = 10.0
PROGRESS_AFTER_SECONDS = 1.0


class Outcome:
    """Entries found (newest first), the first page's cursor (for a tail), and `resume` (None when
    the read is complete, else the position to continue from), with the items `scanned` (None if
    the store does not count) and the `requests` made."""

    __slots__ = ("entries", "cursor", "resume", "scanned", "requests")

    def __init__(self, entries: list[dict], cursor: str, resume: str | None, scanned: int | None, requests: int) -> None:
        self.entries = entries
        self.cursor = cursor
        self.resume = resume
        self.scanned = scanned
        self.requests = requests


def read_recent(backend, query: Query, *, progress: Callable[[int, int | None], None] | None = None,
                max_examined: int | None = None, max_seconds: float | None = None,
                clock: Callable[[], float] = time.monotonic) -> Outcome:
    """The newest `query.limit` matches over as many reads as needed, within the bounds above.

    `progress(found, scanned)` is called before each further read once a second has passed.
    """
    pages = RecentPages(backend, query, progress=progress, max_examined=max_examined, max_seconds=max_seconds,
                        clock=clock)
    for _ in pages:
        pass
    return Outcome(pages.entries, pages.cursor, pages.resume, pages.scanned, pages.requests)


class RecentPages:
    """`read_recent` a page at a time, for output that shows the first rows before the last is read.

    Iterating yields ``(entries, last)``: each page's entries, newest first, and whether it is the
    last page. With `first_page`, the first read asks for that many entries and each further one
    for `GROWTH` times more (fewer reads than fixed small pages), continuing below the last entry
    shown (`position`, strictly before it: every entry once, in order); without, one read asks for
    the whole limit, as `read_recent` does. Reads the store bounds (`truncated`) continue from
    their `resume` within `MAX_EXAMINED` and `MAX_SECONDS`, as in `read_recent`; the seconds count
    time spent reading, not time the caller spends showing a page (a slow pipe is no search).
    Afterwards `entries`, `cursor`, `resume`, `scanned` and `requests` are those of an `Outcome`.
    """

    GROWTH = 4

    def __init__(self, backend, query: Query, *, first_page: int | None = None,
                 progress: Callable[[int, int | None], None] | None = None, max_examined: int | None = None,
                 max_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.query = query
        self.first_page = first_page
        self.progress = progress
        self.max_examined = MAX_EXAMINED if max_examined is None else max_examined
        self.max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
        self.clock = clock
        self.entries: list[dict] = []
        self.cursor: str | None = None
        self.resume: str | None = None
        self.scanned: int | None = None
        self.requests = 0

    def __iter__(self) -> Iterator[tuple[list[dict], bool]]:
        query, size, before, spent = self.query, self.first_page, self.query.before, 0.0
        while True:
            remaining = query.limit - len(self.entries)
            ask = min(size, remaining) if size else remaining
            started = self.clock()
            page = self.backend.recent(Query(limit=ask, min_severity=query.min_severity, since=query.since,
                                             until=query.until, grep=query.grep, regex=query.regex, before=before))
            spent += self.clock() - started
            self.requests += 1
            if self.cursor is None:
                self.cursor = page.cursor
            if page.scanned is not None:
                self.scanned = (self.scanned or 0) + page.scanned
            self.entries.extend(page.entries)
            remaining -= len(page.entries)
            if remaining <= 0:
                before = None
            elif page.truncated and page.resume:  # the store's bound stopped this read: go on below it
                before = page.resume
                if (self.scanned is not None and self.scanned >= self.max_examined) or spent >= self.max_seconds:
                    self.resume, before = page.resume, None
            elif len(page.entries) == ask and page.entries:  # a full page of ours: more may follow
                before = position(page.entries[-1])
                size = size * self.GROWTH if size else None
            else:
                before = None  # fewer than asked, and not cut short: none are left
            if page.entries or before is None:
                yield page.entries, before is None
            if before is None:
                return
            if self.progress is not None and page.truncated and spent >= PROGRESS_AFTER_SECONDS:
                self.progress(len(self.entries), self.scanned)
