"""Instants: parsing ISO 8601 and relative times, and the one fixed-width UTC form we store.

Stdlib only: the Lambda handlers use it too.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

UTC = timezone.utc

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class TimeFormatError(ValueError):
    """A time or duration that cannot be read; the message is for the user."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_utc(instant: datetime) -> str:
    """The stored form: UTC, microseconds, explicit offset, so string order is time order."""
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    return instant.isoformat(timespec="microseconds")


def parse_iso(text: str, *, field: str = "dateTime") -> datetime:
    """Parse ISO 8601 / RFC 3339 with `Z` or an offset; a naive time is an error."""
    if not isinstance(text, str):
        raise TimeFormatError(f"{field} must be a string in ISO 8601 format")
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeFormatError(
            f"{field} {text[:64]!r} is not an ISO 8601 time (e.g. 2026-02-09T21:50:20Z)"
        ) from None
    # (fromisoformat gives no tzinfo whose utcoffset() is None: `and` here would be an equivalent mutant)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise TimeFormatError(
            f"{field} {text[:64]!r} has no time zone: add 'Z' for UTC or an offset like +01:00"
        )
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise TimeFormatError(f"{field} {text[:64]!r} is out of range in UTC") from None


def parse_duration(text: str) -> timedelta:
    """Parse `30s`, `5m`, `2h`, `3d`, `1w`, `250ms`."""
    match = _RELATIVE.match(text)
    if not match:
        raise TimeFormatError(f"{text!r} is not a duration (use e.g. 30s, 5m, 2h, 3d)")
    amount, unit = match.groups()
    try:
        return timedelta(seconds=float(amount) * _UNIT_SECONDS[unit.lower()])
    except OverflowError:
        raise TimeFormatError(f"{text!r} is too long a duration") from None


def parse_instant(text: str, *, field: str = "time", now: datetime | None = None) -> datetime:
    """Parse a point in time: relative to now (`2h` = two hours ago), `now`, or ISO 8601."""
    stripped = text.strip()
    if stripped.lower() == "now":
        return now or now_utc()
    if _RELATIVE.match(stripped):
        try:
            return (now or now_utc()) - parse_duration(stripped)
        except OverflowError:
            raise TimeFormatError(f"{field} {text[:64]!r} reaches too far back") from None
    try:
        return parse_iso(stripped, field=field)  # (its message is replaced below: `field` is belt and braces)
    except TimeFormatError:
        raise TimeFormatError(
            f"{field} {text[:64]!r} is neither a relative time (30s, 5m, 2h, 3d) "
            "nor ISO 8601 with 'Z' or an offset"
        ) from None
