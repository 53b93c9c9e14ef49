"""Reading the DynamoDB store: `recent`, `follow` and the cursor format (index reads: `scan`).

Tailing (`follow`) and its cursors: the contract
------------------------------------------------
A GSI is eventually consistent and entries carry the writer's clock, so "arrival order" cannot be
read from the index directly. Instead every read re-reads the index above a watermark and
de-duplicates by id. A cursor is ``ddb2.`` followed by url-safe base64 (no padding) of:

- a watermark W (a ``TimeId``, or a bare time): everything with ``TimeId <= W`` was delivered, or
  was deliberately given up on;
- the entries delivered with ``TimeId > W``, each as its dateTime in microseconds (delta-encoded,
  ascending) and a 48-bit BLAKE2b digest of its whole id: two different ids are taken for one
  only if they share the microsecond and the digest (about 2**-48 per pair).

`follow` queries every shard for ``TimeId > W`` in ascending order, merges, skips entries already
delivered and entries the query filters out, and takes ``limit``. The new watermark is
``max(W, min(now - settle, last delivered TimeId when the page was cut short by limit))``; the
delivered set is pruned to entries above it. A read whose budget (`scan`) runs out at P has
examined everything below P, so P then takes the place of the last delivered TimeId: a tail's
every read costs at most the budget, and a reader far behind catches up over several reads.
`recent` returns a cursor with W = now - settle and every matching entry above W that it read
marked as delivered: "everything that arrives after this read" (a read whose budget ran out
inside the settle window did not read, and so does not mark, the entries below where it stopped).

Size bound: a cursor holds at most `MAX_CURSOR_IDS` (256) delivered entries, about 3.5 KB,
whatever the ingest rate: when more are delivered above W, W moves up past the oldest (whole
microseconds at a time), giving up on late arrivals below it. The one exception: entries sharing
the microsecond of the entry a page was cut short at are all kept (so nothing is skipped).

**Exactly-once condition.** A chain of `follow` calls on one `Query` delivers an entry exactly
once provided it becomes visible in the index (1) before the reader's clock passes its dateTime
+ settle, and (2) before more than `MAX_CURSOR_IDS` matching entries with a later ``TimeId`` have
been delivered. At an ingest rate r (entries/s) condition (2) shortens the settle window to
256 / r seconds when that is less than settle (about 0.5 s at 500 entries/s). Entries visible
too late show in `recent` but are skipped, never repeated, by a running tail. Each read costs
about rate x settle items; entries filtered out count as delivered.

Cursors of another format (``ddb1``, another store's) raise `BadCursor`, as does anything that
does not decode into the shape above: the read handler answers 400 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timedelta

from logsvc.store import BadCursor, Page, Query
from logsvc.store.dynamodb.scan import SKIP, STOP, Budget, scan_budget
from logsvc.store.dynamodb.schema import _EPOCH
from logsvc.times import format_utc

MAX_CURSOR_IDS = 256  # delivered entries a cursor remembers above its watermark (its size bound)
MAX_CURSOR_CHARS = 16384  # longest cursor accepted: a forged one costs no more than this to reject
_DIGEST_BYTES = 6  # 48 bits of the whole id, with the microsecond: a false match is negligible
_CURSOR_PREFIX = "ddb2."  # the format's version, and what tells our cursors from another store's
_MAX_WATERMARK_CHARS = 200

Key = tuple[int, bytes]  # (dateTime in epoch microseconds, digest of the whole id)


class _Reads:
    """The read path of `DynamoDBStore`.

    Uses its `_settle`, `_clock`, `_max_scan` and `_merged` (`scan`: the merged, budgeted index reads).
    """

    def recent(self, query: Query) -> Page:
        """The newest `query.limit` matching entries, newest first, and a cursor for `follow`.

        One descending read of every partition (`scan`), within the read budget: the whole
        settle window (to mark it delivered in the cursor), then older entries only as far as
        needed. A budget spent first ends the page early: `truncated`, with `resume` to continue.
        """
        watermark = format_utc(self._clock() - self._settle)
        budget = Budget(scan_budget(query.limit, self._max_scan))
        upper = _min(query.until, query.before)
        entries: list[dict] = []
        matching_window: list[tuple[str, dict]] = []
        resume = None
        for time_id, entry in self._merged(query, lower=query.since, upper=upper, ascending=False, budget=budget):
            if entry is STOP:  # the budget ran out; everything above time_id was examined
                resume = time_id
                break
            if entry is not SKIP and query.matches(entry):
                # (A TimeId, ``time#id``, never equals the bare time W: `>=` here and `<` below are
                # equivalent mutants.)
                if time_id > watermark:
                    matching_window.append((time_id, entry))
                if len(entries) < query.limit:
                    entries.append(entry)
            if len(entries) >= query.limit and time_id <= watermark:
                break
        # A key is stored as its distance above the watermark's time. An item whose TimeId sorts above
        # the watermark while its own time is below it (another writer's offset) cannot be: it is left
        # out, so a tail may show it again, but the cursor stays well formed.
        floor = _micros(watermark)
        seen = {key for key in (_key(entry) for _, entry in matching_window) if key[0] >= floor}
        truncated = resume is not None and len(entries) < query.limit
        return Page(entries, _encode_cursor(*_bounded(watermark, seen, keep_from=None)),
                    truncated=truncated, scanned=budget.scanned, resume=resume if truncated else None)

    def follow(self, cursor: str, query: Query) -> Page:
        """Entries that arrived after `cursor`, oldest first, each once over a chain of calls.

        Within the read budget, like `recent`: when it runs out at position P, everything below P
        was examined in every partition, so the watermark may move up to P (never past the
        horizon) and the next call reads on above it. A stop below the horizon leaves a backlog:
        the page is `truncated`, and the caller asks again without pausing.
        """
        watermark, seen = _decode_cursor(cursor)
        horizon = format_utc(self._clock() - self._settle)
        budget = Budget(scan_budget(query.limit, self._max_scan))
        delivered: list[dict] = []
        last_time_id = None
        stopped_at = None
        stream = self._merged(query, lower=_max(watermark, query.since), upper=query.until, ascending=True,
                              budget=budget)
        for time_id, entry in stream:
            if entry is STOP:
                stopped_at = time_id
                break
            if entry is SKIP or not query.matches(entry):
                continue
            key = _key(entry)
            if key in seen:
                continue
            delivered.append(entry)
            seen.add(key)
            last_time_id = time_id
            if len(delivered) >= query.limit:
                break
        # Cut short by limit: the rest above the last delivered entry is still to come.
        # (With limit >= 1, as every caller gives, a full page has set last_time_id: another
        # initial value for it is an equivalent mutant.)
        truncated = len(delivered) >= query.limit and last_time_id is not None
        candidate = horizon
        keep_from = None
        # (``split("#", 1)[0]`` is a TimeId's time: any maxsplit, or none, gives the same first
        # part, so those mutants are equivalent, here and below.)
        if truncated:
            candidate, keep_from = min(horizon, last_time_id), _micros(last_time_id.split("#", 1)[0])
        elif stopped_at is not None:
            candidate, keep_from = min(horizon, stopped_at), _micros(stopped_at.split("#", 1)[0])
        new_watermark = max(watermark, candidate)
        floor = _micros(new_watermark.split("#", 1)[0])
        kept = {key for key in seen if key[0] >= floor}
        backlog = stopped_at is not None and stopped_at < horizon  # (`<=`: equivalent, a TimeId vs a bare time)
        return Page(delivered, _encode_cursor(*_bounded(new_watermark, kept, keep_from=keep_from)),
                    truncated=backlog, scanned=budget.scanned)


# -- cursors and small helpers -------------------------------------------------------------------


def _micros(date_time: str) -> int:
    """Epoch microseconds of a stored time (exact integer arithmetic); ValueError if unreadable."""
    instant = datetime.fromisoformat(date_time)
    if instant.tzinfo is None:
        raise ValueError(f"time {date_time!r} has no offset")
    return (instant - _EPOCH) // timedelta(microseconds=1)


def _key(entry: dict) -> Key:
    """What a cursor remembers of a delivered entry: its microsecond and a digest of its whole id."""
    # (Codec names ignore case: "UTF-8" is an equivalent mutant; error handler names do not.)
    digest = hashlib.blake2b(entry["id"].encode("utf-8", "surrogatepass"), digest_size=_DIGEST_BYTES).digest()
    return _micros(entry["dateTime"]), digest


def _bounded(watermark: str, keys: set[Key], keep_from: int | None) -> tuple[str, set[Key]]:
    """At most `MAX_CURSOR_IDS` keys: move the watermark up past the oldest, whole microseconds.

    Keys at or after `keep_from` (the microsecond a page was cut short at) are never dropped: the
    watermark would otherwise pass entries not yet delivered.
    """
    if len(keys) <= MAX_CURSOR_IDS:
        return watermark, keys
    ordered = sorted(keys)
    cut = ordered[len(ordered) - MAX_CURSOR_IDS - 1][0]  # the newest microsecond to drop
    if keep_from is not None:
        cut = min(cut, keep_from - 1)
    kept = {key for key in keys if key[0] > cut}
    if len(kept) == len(keys):
        return watermark, keys
    # A bare time: "everything strictly before it"; entries at cut + 1 µs keep TimeIds above it.
    return max(watermark, format_utc(_EPOCH + timedelta(microseconds=cut + 1))), kept


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _encode_cursor(watermark: str, seen: set[Key]) -> str:
    """``ddb2.`` + base64url of: watermark (length-prefixed UTF-8), count, then per key (ascending)
    the microseconds since the previous one (the first: since the watermark's time) and the digest."""
    # (Here and in `_decode_cursor`: codec names ignore case, so "UTF-8" / "ASCII" mutants are
    # equivalent, as is any maxsplit, or none, in ``split("#", 1)[0]``: the same first part, the time.)
    text = watermark.encode("utf-8")
    parts = [_varint(len(text)), text, _varint(len(seen))]
    previous = _micros(watermark.split("#", 1)[0])
    for micros, digest in sorted(seen):
        parts += [_varint(micros - previous), digest]
        previous = micros
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(b"".join(parts)).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str) -> tuple[str, set[Key]]:
    """The watermark and keys of a cursor; BadCursor for anything that is not one of ours, whole."""
    if not isinstance(cursor, str) or not cursor:
        raise BadCursor("the cursor is empty")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor(f"the cursor is longer than {MAX_CURSOR_CHARS} characters")
    if not cursor.startswith(_CURSOR_PREFIX):
        raise BadCursor(_foreign(cursor))
    body = cursor[len(_CURSOR_PREFIX):]
    try:
        if not body.isascii():
            raise ValueError("not ASCII")
        # Strict: a character outside the base64url alphabet (or padding we never write) is refused,
        # not skipped. (``+len`` for ``-len`` adds excess padding, which strict decoding refuses too.)
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        reader = _Reader(raw)
        watermark = reader.take(reader.varint(_MAX_WATERMARK_CHARS)).decode("utf-8")
        previous = _micros(watermark.split("#", 1)[0])
        count = reader.varint(MAX_CURSOR_CHARS)
        seen: set[Key] = set()
        for _ in range(count):
            previous += reader.varint(1 << 62)
            seen.add((previous, reader.take(_DIGEST_BYTES)))
        if not reader.done():
            raise ValueError("trailing bytes")
    except (binascii.Error, ValueError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadCursor(f"the cursor is corrupt ({exc})") from None
    return watermark, seen


def _foreign(cursor: str) -> str:
    """Why a cursor without our prefix is refused, naming what issued it when that is recognisable."""
    if cursor[:1] == "s" and cursor[1:].isascii() and cursor[1:].isdigit():
        return "the cursor was issued by a local (SQLite) store, not by this DynamoDB table"
    # (Excess padding is ignored: ``+len`` for ``-len`` is equivalent on base64url text. Any bytes
    # not starting like ddb1 would do for `raw` below.)
    try:
        raw = base64.urlsafe_b64decode(cursor[:64] + "=" * (-len(cursor[:64]) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if raw.startswith(b'{"v":"ddb1"'):
        return "the cursor has the earlier format ddb1, which this version no longer accepts; start again without it"
    return "the cursor is not one this service issued"


def _varint(value: int) -> bytes:
    if value < 0:  # (it would never end): callers write only keys at or above their watermark
        raise ValueError(f"a cursor field is negative ({value})")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Reader:
    """Reads a cursor's bytes; ValueError on anything short, long or out of range."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        if self._at + size > len(self._data):
            raise ValueError("truncated")
        chunk = self._data[self._at:self._at + size]
        self._at += size
        return chunk

    def varint(self, maximum: int) -> int:
        value = shift = 0
        while True:
            if shift > 63:  # (shift is a multiple of 7, 63 then 70: `> 64` is an equivalent mutant)
                raise ValueError("number too long")
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if value > maximum:
            raise ValueError("number out of range")
        return value

    def done(self) -> bool:
        return self._at == len(self._data)
