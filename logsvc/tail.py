"""Following a store: a polling generator that yields entries, each exactly once, in order.

It prints nothing: it yields entries, and `Notice` objects when it backs off after a failure.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable, Iterator

from logsvc.store import Query, StoreUnavailable
from logsvc.times import now_utc

MAX_BACKOFF = 30.0


class Notice:
    """Something the user should hear about while a tail keeps going."""

    def __init__(self, message: str) -> None:
        self.message = message


class Follower:
    """Polls `store.follow` from `cursor`; `cursor` always holds the position after what was yielded.

    Stops by itself at `until` (wall clock), after `max_entries`, or after `idle_timeout` seconds
    without a new entry; otherwise runs until the caller stops iterating.
    """

    def __init__(self, store, query: Query, cursor: str, *, interval: float = 1.0,
                 until: datetime | None = None, max_entries: int | None = None,
                 idle_timeout: float | None = None, transient: tuple[type[BaseException], ...] = (),
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], datetime] = now_utc) -> None:
        self.store = store
        self.query = query
        self.cursor = cursor
        self.interval = interval
        self.until = until
        self.max_entries = max_entries
        self.idle_timeout = idle_timeout
        self.transient = (StoreUnavailable, *transient)
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.delivered = 0
        self._page = None  # the page being yielded; `cursor` is still the position before it

    def __iter__(self) -> Iterator[dict | Notice]:
        last_activity = self.clock()
        backoff = 0.0
        while True:
            if self.until is not None and self.wall() >= self.until:
                return
            try:
                page = self.store.follow(self.cursor, self.query)
            except self.transient as exc:
                backoff = min(MAX_BACKOFF, max(self.interval, backoff * 2))
                yield Notice(f"{exc}; retrying in {backoff:.0f}s")
                self.sleep(backoff)
                continue
            backoff = 0.0
            self._page = page
            for entry in page.entries:
                yield entry
                self.delivered += 1
                if self.max_entries is not None and self.delivered >= self.max_entries:
                    # Stop mid-page: the cursor must point right after this entry, not the page.
                    self.cursor = self._cursor_after(page, entry)
                    self._page = None
                    return
            self.cursor = page.cursor
            self._page = None
            if page.entries:
                last_activity = self.clock()
                if len(page.entries) >= self.query.limit:
                    continue  # more waiting: no pause
            elif self.idle_timeout is not None and self.clock() - last_activity >= self.idle_timeout:
                return
            self.sleep(self.interval)

    def position_after(self, handled: dict | None) -> str:
        """The cursor to save when the caller stops right after handling `handled`.

        Mid-page (Ctrl-C while printing), that is just after `handled`, not after the whole
        page nor before it: a resumed tail then repeats nothing and misses nothing.
        """
        page = self._page
        if page is None or handled is None or not any(entry is handled for entry in page.entries):
            return self.cursor
        try:
            return self._cursor_after(page, handled)
        except self.transient:
            return self.cursor  # the target is down: repeating a few lines beats missing any

    def _cursor_after(self, page, entry: dict) -> str:
        if entry is page.entries[-1]:
            return page.cursor
        # Re-read a page that ends exactly at `entry` to get a cursor for that position.
        limited = Query(limit=page.entries.index(entry) + 1, min_severity=self.query.min_severity,
                        since=self.query.since, until=self.query.until, grep=self.query.grep,
                        regex=self.query.regex)
        return self.store.follow(self.cursor, limited).cursor
