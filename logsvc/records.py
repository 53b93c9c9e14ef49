"""Log records as entries, for `logsvc.logging.LogsvcHandler`: severity, time, size limit.

Stdlib only. An entry made here is already in normalised form (`logsvc.entry.normalise` returns
it unchanged), so the service never rejects it: a blank message gets a stand-in, text that is not
valid Unicode is escaped, and a message too large is cut to fit, with a marker.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from logsvc.entry import MAX_ENTRY_BYTES, MAX_SOURCE_CHARS, new_id, serialise

# Keys, id, dateTime and severity of an entry, serialised, with room to spare; JSON spends at
# most 6 bytes on a character, so a message under the bound needs no measuring.
_FIXED_BYTES = 160


def severity(levelno: int) -> str:
    """DEBUG and INFO are info, WARNING is warning, ERROR and CRITICAL are error (custom levels by rank)."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    return "info"


def hostname() -> str:
    try:
        name = os.uname().nodename
    except AttributeError:  # not POSIX
        import socket

        name = socket.gethostname()
    return (name or "unknown")[:MAX_SOURCE_CHARS]


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="microseconds")


def record_entry(record: logging.LogRecord, message: str, source: str) -> dict:
    """The entry for `record`, whose formatted text (traceback included) is `message`."""
    if not message or message.isspace():
        message = f"(empty {record.levelname} message from {record.name})"
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. undecodable file names: show them escaped
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    entry = {"id": new_id(), "dateTime": _utc(record.created), "severity": severity(record.levelno),
             "message": message, "source": source}
    if 6 * (len(message) + len(source)) + _FIXED_BYTES <= MAX_ENTRY_BYTES:
        return entry
    if len(serialise(entry).encode("utf-8")) <= MAX_ENTRY_BYTES:
        return entry
    return _fit(entry, message)


def dropped_entry(count: int, since: float, queue_size: int, source: str) -> dict:
    """The warning that `count` records were dropped, the first at `since`, for want of queue room."""
    at = _utc(since)
    return {"id": new_id(), "dateTime": at, "severity": "warning",
            "message": f"logsvc handler dropped {count} log record{'s' if count != 1 else ''} from "
                       f"{at[:19]}+00:00: its queue of {queue_size} was full",
            "source": source}


def _fit(entry: dict, message: str) -> dict:
    """Set the longest head-and-tail of `message` around a marker that keeps the entry in the limit.

    Head and tail, because a traceback's last line names the exception. Serialised size grows
    with every character kept, so a binary search over the count kept finds the longest fit.
    """
    marker = f"\n…[truncated by logsvc: {len(message)} characters in all]…\n"

    def cut(kept: int) -> str:
        tail = kept // 2
        return message[: kept - tail] + marker + (message[len(message) - tail:] if tail else "")

    def fits(kept: int) -> bool:
        entry["message"] = cut(kept)
        return len(serialise(entry).encode("utf-8")) <= MAX_ENTRY_BYTES

    low, high = 0, min(len(message), MAX_ENTRY_BYTES)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    entry["message"] = cut(low)
    return entry
