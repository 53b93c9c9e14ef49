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
    """Polls `store.follow` from `cursor`, yielding `pending` entries first (a resumed page's rest).

    Stops by itself at `until` (wall clock), after `max_entries`, or after `idle_timeout` seconds
    without a new entry; otherwise runs until the caller stops iterating. `position_after` is the
    exact position to save when the caller stops.
    """

    def __init__(self, store, query: Query, cursor: str, *, pending: list[dict] | None = None,
                 interval: float = 1.0, until: datetime | None = None, max_entries: int | None = None,
                 idle_timeout: float | None = None, transient: tuple[type[BaseException], ...] = (),
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], datetime] = now_utc) -> None:
        self.store = store
        self.query = query
        self.cursor = cursor  # the position after the entries of `_batch` (after all yielded when None)
        self.interval = interval
        self.until = until
        self.max_entries = max_entries
        self.idle_timeout = idle_timeout
        self.transient = (StoreUnavailable, *transient)
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.delivered = 0
        # The entries being yielded: a page, or the saved rest of one. The position after the k-th
        # is `cursor` plus the entries after it, never a re-read: a re-read can differ (a late
        # entry in the settle window, a regex applied after the service's page).
        self._batch: list[dict] | None = [e for e in pending if query.matches(e)] if pending else None

    def __iter__(self) -> Iterator[dict | Notice]:
        last_activity = self.clock()
        backoff = 0.0
        if self._batch:
            for entry in self._batch:
                yield entry
                if self._count_and_stop():
                    return
            last_activity = self.clock()
        self._batch = None
        while True:
            if self.until is not None and self.wall() >= self.until:
                return
            try:
                page = self.store.follow(self.cursor, self.query)
            except self.transient as exc:
                backoff = min(MAX_BACKOFF, max(self.interval, backoff * 2))
                yield Notice(f"{exc}; retrying in {_seconds(backoff)}")
                self.sleep(backoff)
                continue
            backoff = 0.0
            self._batch, self.cursor = page.entries, page.cursor
            for entry in page.entries:
                yield entry
                if self._count_and_stop():
                    return  # `_batch` kept: the position is right after this entry
            self._batch = None
            if page.entries:
                last_activity = self.clock()
            if len(page.entries) >= self.query.limit or page.truncated:
                continue  # more waiting (a full page, or a read that stopped at its budget): no pause
            if not page.entries and self.idle_timeout is not None and self.clock() - last_activity >= self.idle_timeout:
                return
            self.sleep(self.interval)

    def _count_and_stop(self) -> bool:
        self.delivered += 1
        return self.max_entries is not None and self.delivered >= self.max_entries

    def position_after(self, handled: dict | None) -> tuple[str, list[dict]]:
        """(cursor, entries still owed) to save when the caller stops right after handling `handled`.

        Mid-page (Ctrl-C while printing, `max_entries`), the owed entries are the rest of the page
        after `handled` (all of it when `handled` is not in it: nothing of it was handled yet); a
        resumed follower yields them first, then continues from the cursor: nothing repeated,
        nothing missed, whatever the target and filters.
        """
        batch = self._batch
        if not batch:
            return self.cursor, []
        for index, entry in enumerate(batch):
            if entry is handled:
                return self.cursor, batch[index + 1:]
        return self.cursor, list(batch)


def _seconds(value: float) -> str:
    """A pause as people say it: 0.2s, 1.5s, 30s (never "0s" for a short one)."""
    if value < 1:
        return f"{value:.2g}s"
    return f"{value:.0f}s" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip(".") + "s"
