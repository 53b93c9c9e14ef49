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
from collections.abc import Callable

from logsvc.store import Query

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
    max_examined = MAX_EXAMINED if max_examined is None else max_examined
    max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
    started = clock()
    page = backend.recent(query)
    cursor, entries, scanned, requests = page.cursor, list(page.entries), page.scanned, 1
    while page.truncated and page.resume and len(entries) < query.limit:
        if (scanned is not None and scanned >= max_examined) or clock() - started >= max_seconds:
            return Outcome(entries, cursor, page.resume, scanned, requests)
        if progress is not None and clock() - started >= PROGRESS_AFTER_SECONDS:
            progress(len(entries), scanned)
        more = Query(limit=query.limit - len(entries), min_severity=query.min_severity, since=query.since,
                     until=query.until, grep=query.grep, regex=query.regex, before=page.resume)
        page = backend.recent(more)
        requests += 1
        entries.extend(page.entries)
        if page.scanned is not None:
            scanned = (scanned or 0) + page.scanned
    return Outcome(entries, cursor, None, scanned, requests)
