"""GET with ``mode``: the read URL's insight modes, so clients count and export without a store of their own.

``mode=stats``: counts per severity per time bucket (`logsvc.stats`). Parameters: ``by``
(bucket width: 5m, 1h, 1d or whole seconds; default 1h), ``since`` (default 24h), ``until``
(default now), ``severity`` (that level or worse), ``grep``. 200: the `Counts` JSON form
(``buckets`` with ``start``, ``end``, ``counts``; ``totals``, ``errorRate``, ``requests``, and
``readUnits`` on DynamoDB). A window beyond the read budget is a 400 saying so.

``mode=export``: entries oldest first (by time, then id), a page at a time. Parameters: ``since``,
``until``, ``severity``, ``grep``, ``limit`` (1-1000, default 1000), ``after`` (``dateTime#id``
of the last entry of the previous page). 200: ``{"count", "logs", "next"}``; ``next`` is the
``after`` of the next page, null when this page is the last. A page may hold fewer than
``limit`` entries and still have a ``next``: it is cut to fit Lambda's 6 MB response, and a
DynamoDB read stops at its scan budget (then ``next`` is where it got to).
"""

from __future__ import annotations

from logsvc.entry import SEVERITIES
from logsvc.handler import common
from logsvc.store import Query
from logsvc.times import TimeFormatError, format_utc, now_utc, parse_duration, parse_iso

MODES = ("stats", "export")
PARAMETERS = {
    "stats": ("mode", "by", "since", "until", "severity", "grep"),
    "export": ("mode", "since", "until", "severity", "grep", "limit", "after"),
}
MAX_PAGE = 1000


def wants(request) -> bool:
    """Whether a read request asks for one of these modes rather than entries."""
    return any(name == "mode" for name, _ in request.query)


def handle(event: dict, request, store) -> dict:
    from logsvc import stats

    try:
        mode, values = _parameters(request.query)
        if mode == "stats":
            width, since, until = _window(values)
            edges = stats.bucket_edges(since, until, width)
            query = Query(min_severity=values.get("severity"), grep=values.get("grep"))
            return common.json_response(200, stats.count(store, query, edges).as_dict())
        return _export(store, values)
    except common.HttpError as exc:
        return exc.response()
    except stats.ReadBudgetExceeded as exc:
        return common.json_response(400, {"errors": [f"window too large for the read budget: {exc}"]})
    except common.UNAVAILABLE as exc:
        return common.unavailable_response(event, exc)


def _parameters(pairs: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise common.HttpError(400, [f"query parameter {name!r} is given more than once"])
        values[name] = value
    mode = values["mode"]
    if mode not in MODES:
        raise common.HttpError(400, [f"mode must be one of {', '.join(MODES)}, not {mode[:20]!r}"])
    unknown = sorted(set(values) - set(PARAMETERS[mode]))
    if unknown:
        raise common.HttpError(400, [f"unknown query parameter {unknown[0][:40]!r} for mode {mode}"
                                     f" (allowed: {', '.join(PARAMETERS[mode])})"])
    severity = values.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise common.HttpError(400, [f"severity must be one of {', '.join(SEVERITIES)}, not {severity[:20]!r}"])
    grep = values.get("grep")
    if grep is not None and not 1 <= len(grep) <= 1000:
        raise common.HttpError(400, ["grep must be 1 to 1000 characters"])
    return mode, values


def _instant(values: dict, name: str, now, default):
    at = common.time_parameter(values, name, now)
    return default if at is None else at


def _window(values: dict):
    now = now_utc()
    text = values.get("by", "1h").strip()
    try:
        width = parse_duration(text + "s" if text.isdigit() else text)
    except TimeFormatError as exc:
        raise common.HttpError(400, [f"by: {exc}"]) from None
    if width.total_seconds() < 1 or width.total_seconds() != int(width.total_seconds()):
        raise common.HttpError(400, ["by must be a whole number of seconds, at least 1s"])
    from datetime import timedelta

    since = _instant(values, "since", now, now - timedelta(hours=24))
    until = _instant(values, "until", now, now)
    if since >= until:
        raise common.HttpError(400, ["since must be earlier than until"])
    return width, since, until


def _export(store, values: dict) -> dict:
    from logsvc.export import key, page_after
    from logsvc.handler.paging import fitting

    now = now_utc()
    since = _instant(values, "since", now, None)
    until = _instant(values, "until", now, None)
    limit_text = values.get("limit", str(MAX_PAGE)).strip()
    if not (limit_text.isascii() and limit_text.isdigit() and 1 <= int(limit_text) <= MAX_PAGE):
        raise common.HttpError(400, [f"limit must be a whole number from 1 to {MAX_PAGE}"])
    after = values.get("after")
    if after is not None:
        time_part, mark, id_part = common.restore_offset_plus(after).partition("#")
        after = f"{time_part}#{id_part}"
        try:
            valid = bool(mark and id_part) and len(after) <= 300 and format_utc(parse_iso(time_part)) == time_part
        except TimeFormatError:
            valid = False
        if not valid:
            raise common.HttpError(400, ["after must be dateTime#id of the last entry of a page"])
    query = Query(limit=int(limit_text), min_severity=values.get("severity"),
                  since=format_utc(since) if since else None, until=format_utc(until) if until else None,
                  grep=values.get("grep"))
    entries, following = page_after(store, query, after)
    logs = [common.wire(entry) for entry in entries]
    fits = fitting(logs)
    if fits < len(logs):  # the rest would not fit a Lambda response: the client asks again
        logs, following = logs[:fits], key(entries[fits - 1])
    return common.json_response(200, {"count": len(logs), "logs": logs, "next": following})
