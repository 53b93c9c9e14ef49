"""GET: the newest entries, or with ``cursor`` the entries that arrived after it.

Query parameters, all optional: ``limit`` (1-1000, default 100), ``severity`` (that level or
worse: info, warning, error), ``since`` and ``until`` (ISO 8601 with Z or an offset, or relative:
30s, 5m, 2h, 3d; ``since`` inclusive, ``until`` exclusive), ``grep`` (a substring of the message),
``cursor`` (from an earlier response; at most 16384 characters), ``before`` (a position from an
earlier response's ``before``: continue below it).

200: ``{"count", "logs", "cursor", "truncated"}`` — ``logs`` newest first without a cursor, oldest
first with one; ``cursor`` continues after this response. A read examines a bounded number of
items and a response stays under Lambda's 6 MB (`paging`): when either stopped it before
``limit`` entries, ``truncated`` is true and ``before`` continues below the last entry sent;
``scanned`` counts the items the store examined. 400 names the bad parameter (a cursor that is not
one this store issued, of an older format, or forged, is a 400 naming ``cursor``); 405 not GET;
503 store busy (with ``Retry-After``).
"""

from __future__ import annotations

from logsvc.entry import SEVERITIES
from logsvc.handler import common
from logsvc.store import BadCursor, Query
from logsvc.times import format_utc, now_utc

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_GREP_CHARS = 1000
MAX_CURSOR_CHARS = 16384  # issued cursors stay far below (the DynamoDB store bounds its own)
PARAMETERS = ("limit", "severity", "since", "until", "grep", "cursor", "before")


def handler(event: dict, context: object) -> dict:
    """The Lambda entry point."""
    return common.run(event, handle)


def handle(event: dict, store) -> dict:
    """Answer one Function URL event using `store` (any store of `logsvc.store`)."""
    try:
        request = common.parse_event(event)
        if request.method != "GET":
            return common.method_not_allowed("GET")
        if any(name == "mode" for name, _ in request.query):  # counts and export pages: handler/stats.py
            from logsvc.handler import stats

            return stats.handle(event, request, store)
        query, cursor = parse_query(request.query)
    except common.HttpError as exc:
        return exc.response()
    from logsvc.handler import paging

    try:
        page, logs = paging.read_page(store, query, cursor)  # cut to fit Lambda's 6 MB response
    except BadCursor as exc:
        return common.json_response(400, {"errors": [f"cursor is not valid: {exc}"]})
    except common.UNAVAILABLE as exc:
        return common.unavailable_response(event, exc)
    return common.json_response(200, paging.body(page, logs))


def parse_query(pairs: list[tuple[str, str]]) -> tuple[Query, str | None]:
    """The store Query and the cursor (or None) from query parameters; HttpError(400) naming problems."""
    values: dict[str, str] = {}
    errors: list[str] = []
    unknown = sorted({name for name, _ in pairs if name not in PARAMETERS})
    if unknown:
        errors.append(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(name[:40]) for name in unknown[:5])} (allowed: {', '.join(PARAMETERS)})"
        )
    for name, value in pairs:
        if name not in PARAMETERS:
            continue
        if name in values:
            errors.append(f"query parameter {name!r} is given more than once")
        values[name] = value

    limit = DEFAULT_LIMIT
    if "limit" in values:
        text = values["limit"].strip()
        if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT:
            limit = int(text)
        else:
            errors.append(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {values['limit'][:20]!r}")

    severity = values.get("severity")
    if severity is not None and severity not in SEVERITIES:
        errors.append(f"severity must be one of {', '.join(SEVERITIES)}, not {severity[:20]!r}")

    now = now_utc()
    since = _instant(values, "since", now, errors)
    until = _instant(values, "until", now, errors)
    if since is not None and until is not None and since >= until:
        errors.append("since must be earlier than until")

    grep = values.get("grep")
    if grep is not None and not 1 <= len(grep) <= MAX_GREP_CHARS:
        errors.append(f"grep must be 1 to {MAX_GREP_CHARS} characters")

    cursor = values.get("cursor")
    if cursor is not None and not cursor.strip():
        errors.append("cursor must not be empty")
    elif cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
        errors.append(f"cursor is not valid: longer than {MAX_CURSOR_CHARS} characters")

    before = values.get("before")
    if before is not None:
        from logsvc.handler.paging import parse_position

        if parse_position(before) is None:
            errors.append("before must be a position from an earlier response's 'before' field")
        elif cursor is not None:
            errors.append("before continues a read without a cursor; give one or the other")

    if errors:
        raise common.HttpError(400, errors)
    return Query(limit=limit, min_severity=severity, since=since, until=until, grep=grep, before=before), cursor


def _instant(values: dict[str, str], name: str, now, errors: list[str]) -> str | None:
    try:
        at = common.time_parameter(values, name, now)
    except common.HttpError as exc:
        errors.extend(exc.errors)  # reported with the request's other problems
        return None
    return None if at is None else format_utc(at)
