"""Stores: the local SQLite file and DynamoDB, behind one small interface.

Every store offers:

``put(entries) -> PutResult``
    Store normalised entries (see `logsvc.entry.normalise`). An id already stored with the same
    content is an idempotent replay (reported in ``replayed``, not stored twice); with different
    content it is a conflict: `ConflictError`, and nothing of the call is stored. An id repeated
    within one call is one entry: with identical content it is stored, and reported, once (in
    ``stored``, or in ``replayed`` if it was stored before the call); with different content it
    is a `ConflictError` naming the id once.
``recent(query) -> Page``
    The newest entries matching ``query``, newest first, and a cursor that `follow` continues
    from (everything that arrives after this read). A store that bounds what one read examines
    may stop short of ``query.limit``: the page is then `truncated`, and its `resume` passed as
    ``Query.before`` continues below what was examined.
``follow(cursor, query) -> Page``
    Entries that arrived after ``cursor``, oldest first, each exactly once over a chain of calls,
    and the cursor to continue from. Cursors are opaque strings.
``count_by_bucket(query, edges) -> Counts`` and ``page_after(query, after)``
    For `logsvc stats` and `logsvc export` (`logsvc.stats`, `logsvc.export`): counts per time
    bucket, and entries oldest first after a position. Each store keeps their code in a module
    of its own, imported when first used.
``close()``

Stdlib only: the Lambda handlers import this module.
"""

from __future__ import annotations

from logsvc.entry import same_content


class Query:
    """What to read: at most `limit` entries, of `min_severity` or worse, within [since, until).

    `since`/`until` are stored-form UTC strings (`logsvc.times.format_utc`); `grep` is a
    substring of the message and `regex` a compiled pattern, both optional. `before` is a
    position (``dateTime#id``, a page's `resume`): only entries ordered before it, by
    (dateTime, id), are read.
    """

    __slots__ = ("limit", "min_severity", "since", "until", "grep", "regex", "before")

    def __init__(self, limit=100, min_severity=None, since=None, until=None, grep=None, regex=None, before=None):
        self.limit = limit
        self.min_severity = min_severity
        self.since = since
        self.until = until
        self.grep = grep
        self.regex = regex
        self.before = before

    def matches(self, entry: dict) -> bool:
        """The filters other than `limit`, for stores that filter in Python."""
        from logsvc.entry import SEVERITY_RANK

        if self.min_severity and SEVERITY_RANK.get(entry["severity"], 0) < SEVERITY_RANK[self.min_severity]:
            return False
        if self.since and entry["dateTime"] < self.since:
            return False
        if self.until and entry["dateTime"] >= self.until:
            return False
        if self.before and position(entry) >= self.before:
            return False
        if self.grep and self.grep not in entry["message"]:
            return False
        if self.regex and not self.regex.search(entry["message"]):
            return False
        return True


def position(entry: dict) -> str:
    """Where an entry is in the newest-first order of `recent`: what `Query.before` takes."""
    return f"{entry['dateTime']}#{entry['id']}"


class Page:
    """Entries read and the cursor that continues after them.

    A read that stopped before `limit` entries because its budget ran out (the DynamoDB store
    examines at most a fixed number of items per read) says so: `truncated`, the items it
    `scanned`, and `resume`, the position to pass as `Query.before` to read on below it.
    `scanned` is None when the store does not count.
    """

    __slots__ = ("entries", "cursor", "truncated", "scanned", "resume")

    def __init__(self, entries: list[dict], cursor: str, *, truncated: bool = False,
                 scanned: int | None = None, resume: str | None = None) -> None:
        self.entries = entries
        self.cursor = cursor
        self.truncated = truncated
        self.scanned = scanned
        self.resume = resume


class PutResult:
    """Ids newly stored and ids that were already stored with identical content."""

    __slots__ = ("stored", "replayed")

    def __init__(self, stored: list[str] | None = None, replayed: list[str] | None = None) -> None:
        self.stored = stored if stored is not None else []
        self.replayed = replayed if replayed is not None else []


class StoreFailure(Exception):
    """Base for store errors the handlers and the CLI turn into responses or messages."""


class ConflictError(StoreFailure):
    """Ids already stored with different content. Nothing of the call was stored."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"id already exists with different content: {', '.join(ids[:5])}")
        self.ids = ids


def unique_by_id(entries: list[dict]) -> dict[str, dict]:
    """One call's entries by id, in order: an identical repeat is one entry (see ``put`` above);
    a repeat with other content is a `ConflictError` naming each such id once."""
    unique: dict[str, dict] = {}
    conflicts: list[str] = []
    for entry in entries:
        earlier = unique.setdefault(entry["id"], entry)
        if earlier is not entry and not same_content(earlier, entry) and entry["id"] not in conflicts:
            conflicts.append(entry["id"])
    if conflicts:
        raise ConflictError(conflicts)
    return unique


class StoreUnavailable(StoreFailure):
    """Throttled or unreachable after retries. `stored` lists what was stored before giving up."""

    def __init__(self, message: str, stored: list[str] | None = None, pending: list[str] | None = None,
                 *, hint: str | None = None) -> None:
        super().__init__(message)
        self.stored = stored or []
        self.pending = pending or []
        self.hint = hint  # what to check, when the cause is known (DNS, nothing listening)


class StoreMisconfigured(StoreUnavailable):
    """The store cannot be used until someone fixes it (no such table, access denied, bad keys).

    Retrying does not help, so clients report it rather than spool or back off. `code` is the
    service's error code.
    """

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class BadCursor(StoreFailure):
    """A cursor this store did not issue, or one that is corrupt."""
