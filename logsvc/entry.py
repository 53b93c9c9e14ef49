"""The log entry: validation and normalisation, shared by the CLI, the stores and the Lambda handlers.

Stdlib only. A valid entry, once normalised, is a dict with the keys, in this order:
``id`` (lowercase canonical UUID), ``dateTime`` (UTC, fixed width, so string order is time
order), ``severity`` (``info`` | ``warning`` | ``error``), ``message``, and ``source`` when given.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator, TypeVar

from logsvc.times import TimeFormatError, format_utc, now_utc, parse_iso

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
FIELDS = ("id", "dateTime", "severity", "message", "source")
_FIELD_SET = frozenset(FIELDS)
REQUIRED = ("severity", "message")
_REQUIRED_SET = frozenset(REQUIRED)
MAX_ENTRY_BYTES = 10 * 1024  # one entry, serialised as compact UTF-8 JSON
MAX_BATCH_ENTRIES = 500  # entries in one ingest request: what the service takes, what clients send
MAX_BATCH_BYTES = 1024 * 1024  # one ingest request body (a JSON array): what the service takes
MAX_SOURCE_CHARS = 256
MAX_FUTURE = timedelta(minutes=5)

# Everything but message and source, serialised, with room to spare: keys, id, time, severity.
_FIXED_BYTES = 160
# The textual forms of a UUID: 8-4-4-4-12 hex digits or 32 in a row, optionally in braces or
# after urn:uuid:. uuid.UUID alone is laxer (it drops any '+', '-' or braces it finds).
_UUID_TEXT = re.compile(
    r"(?:urn:uuid:)?(\{)?[0-9a-f]{8}(-?)[0-9a-f]{4}\2[0-9a-f]{4}\2[0-9a-f]{4}\2[0-9a-f]{12}(?(1)\})",
    re.IGNORECASE,
)
# The forms almost every entry arrives in, recognised without a parse (anything else, valid or
# not, takes the full path, so they are a shortcut, not a second definition of what is valid):
# a canonical lowercase UUID, and a UTC time with 'Z' or +00:00 and at most microseconds.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UTC_TEXT = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|\+00:00)"
)
_VALID_DATES: set[str] = set()  # "YYYY-MM-DD" prefixes already known to be real dates
_REFRESH_SECONDS = 1.0
_REFRESH = timedelta(seconds=_REFRESH_SECONDS)
# (t, t as a timestamp, format_utc(t + MAX_FUTURE)) for a t at or before the current time: a
# stored form at or below it is not too far ahead. One tuple, so threads read a consistent set.
_future_limit: tuple[datetime, float, str] = (datetime.min.replace(tzinfo=timezone.utc), float("inf"), "")
_clock = time.time
T = TypeVar("T")
_SEVERITY_ALIASES = {"warn": "warning", "err": "error"}


class EntryError(ValueError):
    """An entry that cannot be accepted. `problems` holds one readable sentence per problem."""

    def __init__(self, problems: list[str], *, too_large: bool = False) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.too_large = too_large

    def __reduce__(self):  # pickled whole (bulk input is validated in a separate process)
        return (type(self), (self.problems,), {"too_large": self.too_large})


def parse_severity(value: object, *, lenient: bool = False) -> str:
    """The wire accepts exactly info/warning/error; `lenient` (the CLI) also any case and warn/err."""
    if not isinstance(value, str):
        raise EntryError([f"severity must be one of {', '.join(SEVERITIES)}"])
    if value in SEVERITY_RANK:  # the common case, exact on the wire
        return value
    if lenient:
        name = value.strip().lower()
        name = _SEVERITY_ALIASES.get(name, name)
        if name in SEVERITY_RANK:
            return name
    raise EntryError([f"severity {value[:32]!r} is not one of {', '.join(SEVERITIES)}"])


def new_id() -> str:
    """A random (version 4) UUID in canonical form; formatted by hand, as bulk input makes millions."""
    hexed = os.urandom(16).hex()
    # Any random hex digit would do here (mutants reading hexed[17], or base 17, are equivalent).
    variant = "89ab"[int(hexed[16], 16) & 3]
    return f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-{variant}{hexed[17:20]}-{hexed[20:]}"


def random_ids(batch: int = 1024) -> Iterator[str]:
    """Endless new_id()s, from one random read per `batch`: for bulk input, which makes millions.

    A generator of its own per caller: nothing shared between threads, nor across a fork."""
    variant = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
    while True:
        hexed = os.urandom(16 * batch).hex()
        for at in range(0, 32 * batch, 32):
            h = hexed[at:at + 32]
            yield f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"


def _valid_text(value: str) -> bool:
    """False for strings that cannot be stored as UTF-8 (lone surrogates from JSON escapes)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")  # (codec names ignore case: "UTF-8" is an equivalent mutant)
    except UnicodeEncodeError:
        return False
    return True


def normalise(raw: object, *, now: datetime | None = None, lenient_severity: bool = False,
              make_id: Callable[[], str] = new_id) -> dict:
    """Validate one entry and return its normalised form, or raise EntryError naming every problem.

    `make_id` gives the id of an entry without one (bulk input passes a batched `random_ids`)."""
    if not isinstance(raw, dict):
        raise EntryError([f"an entry must be a JSON object, not {_json_type(raw)}"])
    problems: list[str] = []
    if not _FIELD_SET.issuperset(raw):
        unknown = [key for key in raw if key not in _FIELD_SET]
        names = ", ".join(repr(str(key)[:40]) for key in unknown[:5])
        problems.append(f"unknown field{'s' if len(unknown) > 1 else ''} {names} (allowed: {', '.join(FIELDS)})")
    if not _REQUIRED_SET.issubset(raw):
        missing = [key for key in REQUIRED if key not in raw]
        problems.append(f"missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")

    entry: dict = {}  # filled in FIELDS order, so it is already in the normalised key order

    raw_id = raw.get("id")
    if raw_id is None and "id" not in raw:
        entry["id"] = make_id()
    elif not isinstance(raw_id, str):
        problems.append("id must be a UUID string")
    elif _CANONICAL_UUID.fullmatch(raw_id):
        entry["id"] = raw_id  # what str(uuid.UUID(raw_id)) would give back
    elif _UUID_TEXT.fullmatch(raw_id):
        entry["id"] = str(uuid.UUID(raw_id))
    else:
        problems.append(f"id {raw_id[:64]!r} is not a UUID")

    if "dateTime" not in raw:
        entry["dateTime"] = format_utc(now or now_utc())
    elif (stored := _canonical_utc(raw["dateTime"], now)) is not None:
        entry["dateTime"] = stored
    else:
        current = now or now_utc()
        try:
            instant = parse_iso(raw["dateTime"])
        except TimeFormatError as exc:
            problems.append(str(exc))
        else:
            if instant - current > MAX_FUTURE:
                problems.append("dateTime is more than 5 minutes in the future")
            else:
                entry["dateTime"] = format_utc(instant)

    if "severity" in raw:
        severity = raw["severity"]
        if isinstance(severity, str) and severity in SEVERITY_RANK:  # parse_severity's first case, inline
            entry["severity"] = severity
        else:
            try:
                entry["severity"] = parse_severity(severity, lenient=lenient_severity)
            except EntryError as exc:
                problems.extend(exc.problems)

    if "message" in raw:
        message = raw["message"]
        if not isinstance(message, str):
            problems.append(f"message must be a string, not {_json_type(message)}")
        elif not message or message.isspace():
            problems.append("message must not be blank")
        elif not message.isascii() and not _valid_text(message):
            problems.append("message is not valid Unicode text")
        else:
            entry["message"] = message

    if "source" in raw:
        source = raw["source"]
        if not isinstance(source, str) or not source or source.isspace():
            problems.append("source must be a non-blank string")
        elif len(source) > MAX_SOURCE_CHARS or not _valid_text(source):
            problems.append(f"source must be valid text of at most {MAX_SOURCE_CHARS} characters")
        else:
            entry["source"] = source

    if problems:
        raise EntryError(problems)
    # JSON spends at most 6 bytes on a character (\u00XX); measure only entries that could be too big.
    # (A shortcut only: a looser bound, 7 * or <, measures more often with the same result.)
    if 6 * (len(entry["message"]) + len(entry.get("source", ""))) + _FIXED_BYTES <= MAX_ENTRY_BYTES:
        return entry
    size = len(serialise(entry).encode("utf-8"))
    if size > MAX_ENTRY_BYTES:
        raise EntryError(
            [f"entry is {size} bytes serialised; the limit is {MAX_ENTRY_BYTES} bytes"],
            too_large=True,
        )
    return entry


def _canonical_utc(value: object, now: datetime | None) -> str | None:
    """The stored form of a canonical UTC time not too far ahead of `now` (None: the clock), by
    string work alone; None for anything else, which the full parse then accepts or explains."""
    global _future_limit
    if not isinstance(value, str) or not _UTC_TEXT.fullmatch(value):
        return None
    if value[:10] not in _VALID_DATES:  # the pattern allows 02-31 and year 0000
        try:
            datetime(int(value[:4]), int(value[5:7]), int(value[8:10]))
        except ValueError:
            return None
        if len(_VALID_DATES) > 4096:
            _VALID_DATES.clear()
        _VALID_DATES.add(value[:10])
    body = value[:-1] if value[-1] == "Z" else value[:-6]
    stored = f"{body[:19]}{body[19:].ljust(7, '0') if len(body) > 19 else '.000000'}+00:00"
    taken, taken_at, limit = _future_limit
    # Refreshed every second only to stay close: an older limit is stricter, never wrong.
    if now is None:  # the clock as a float: a tenth of the cost of reading it as a datetime
        clock = _clock()
        fresh = taken_at <= clock < taken_at + _REFRESH_SECONDS
    else:
        fresh = taken <= now and now - taken < _REFRESH
    if not fresh:
        current = now or now_utc()
        try:
            taken, limit = current, format_utc(current + MAX_FUTURE)
        except OverflowError:
            return None
        _future_limit = (taken, taken.timestamp(), limit)
    # Fixed width, so string order is time order; `limit` is at most the true limit.
    return stored if stored <= limit else None


def batches(items: Iterable[T], size: Callable[[T], int]) -> Iterator[list[T]]:
    """Group items into batches the ingest service takes: at most MAX_BATCH_ENTRIES, and a body
    (the JSON array of their compact forms) of at most MAX_BATCH_BYTES.

    `size(item)` is the item's compact UTF-8 JSON size, or an upper bound of it. An item too
    large on its own goes alone (the service then says why). Reads one item ahead.
    """
    batch: list[T] = []
    used = 2  # the array's brackets
    for item in items:
        cost = size(item) + (1 if batch else 0)  # a comma before every entry but the first
        if batch and (len(batch) == MAX_BATCH_ENTRIES or used + cost > MAX_BATCH_BYTES):
            yield batch
            batch, used, cost = [], 2, cost - 1
        batch.append(item)
        used += cost
    if batch:
        yield batch


def serialise(entry: dict) -> str:
    """Compact JSON, non-ASCII kept as is: the form whose size is limited."""
    import json  # here: a local send never serialises, and json is a millisecond of its start-up

    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))  # (ensure_ascii=None: equivalent)


class DuplicateKeyError(ValueError):
    """A JSON object that names the same key twice (json.loads would silently keep the last)."""


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """`object_pairs_hook` for json.loads: the object, or DuplicateKeyError naming the repeated key.

    An entry whose "severity" appears twice means two different things to two JSON parsers;
    refusing it is the only reading that cannot be wrong.
    """
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"the key {key[:40]!r} appears more than once in one object")
            seen.add(key)
    return obj


def same_content(a: dict, b: dict) -> bool:
    """True when two normalised entries are the same entry (an idempotent replay)."""
    return all(a.get(key) == b.get(key) for key in FIELDS)


def at_least(severity: str) -> tuple[str, ...]:
    """The severities at `severity` or worse."""
    return SEVERITIES[SEVERITY_RANK[severity]:]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
