"""Read responses that fit and say how to continue: the response cap and the ``before`` position.

A Lambda response payload is at most 6 MB (6,291,456 bytes), the Function URL's JSON envelope
included: past it the caller gets a 502, every time. Entries are up to 10 KiB each as sent, and the
body is JSON inside the envelope's JSON string, so a page of 1000 of them may not fit. The read
handler therefore keeps only the entries whose doubly encoded size sums to at most
`RESPONSE_BUDGET_BYTES` (5,500,000; the rest of the 6 MB is headroom for the envelope, headers and
cursors), whatever ``limit`` says:

- ``recent`` (no cursor, newest first): the page ends at the last entry that fits, with
  ``"truncated": true`` and ``"before"``: the position to pass back as ``before=`` to continue;
- ``follow`` (with a cursor): the store is asked again for as many entries as fit, so the cursor it
  returns continues right after the last entry sent (nothing is skipped; the caller polls again).

A read the store stopped because its scan budget ran out (`logsvc.store.dynamodb.scan`) is
answered the same way: ``"truncated": true``, ``"scanned"`` (items examined) and ``"before"``.
"""

from __future__ import annotations

import json
from datetime import datetime

from logsvc.handler import common
from logsvc.store import Page, Query, position

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit for a synchronous response
RESPONSE_BUDGET_BYTES = 5_500_000
MAX_POSITION_CHARS = 300


def encoded_size(entry: dict) -> int:
    """Bytes `entry` adds to the Lambda payload: its JSON, as a JSON string (ASCII-escaped), and a comma."""
    return len(json.dumps(json.dumps(entry, ensure_ascii=False))) - 1


def fitting(logs: list[dict], budget: int = RESPONSE_BUDGET_BYTES) -> int:
    """How many leading entries of `logs` fit in `budget` bytes (at least one: one entry always fits)."""
    used = 0
    for count, entry in enumerate(logs):
        used += encoded_size(entry)
        if used > budget:
            return max(1, count)
    return len(logs)


def read_page(store, query: Query, cursor: str | None, budget: int = RESPONSE_BUDGET_BYTES) -> tuple[Page, list[dict]]:
    """The store's page for this request and its wire entries, cut to fit `budget` (module docstring)."""
    while True:
        page = store.follow(cursor, query) if cursor is not None else store.recent(query)
        logs = [common.wire(entry) for entry in page.entries]
        fits = fitting(logs, budget)
        if fits == len(logs):
            return page, logs
        if cursor is None:
            page.entries = page.entries[:fits]
            page.truncated, page.resume = True, position(page.entries[-1])
            return page, logs[:fits]
        # Ask again for fewer: the store's cursor must continue right after what is sent.
        query.limit = fits


def body(page: Page, logs: list[dict]) -> dict:
    """The 200 body: count, logs, cursor, truncated, and scanned and before when known."""
    answer = {"count": len(logs), "logs": logs, "cursor": page.cursor, "truncated": bool(page.truncated)}
    if page.scanned is not None:
        answer["scanned"] = page.scanned
    if page.truncated and page.resume:
        answer["before"] = page.resume
    return answer


def parse_position(text: str) -> str | None:
    """A ``before`` value as issued (``dateTime#id``, or a bare time), or None when it is not one."""
    if not text or len(text) > MAX_POSITION_CHARS:
        return None
    instant = text.split("#", 1)[0]
    try:
        parsed = datetime.fromisoformat(instant)
    except ValueError:
        return None
    return text if parsed.tzinfo is not None else None
