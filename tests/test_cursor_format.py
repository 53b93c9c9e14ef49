"""The DynamoDB cursor format, byte by byte, without a table (gaps found by mutation testing of reads.py).

The contract is the module docstring of `logsvc.store.dynamodb.reads`: ``ddb2.`` + base64url (no
padding) of the watermark (length-prefixed UTF-8), the count of delivered keys, then per key
(ascending) the microseconds since the previous one (the first: since the watermark's time) and a
48-bit BLAKE2b digest of the whole id. At most `MAX_CURSOR_IDS` keys (whole microseconds dropped,
the microsecond a page was cut short at never), at most `MAX_CURSOR_CHARS` characters, and
anything else refused with its own `BadCursor` message. These are unit tests of the format, so
they use the module's private names; expected values are worked out from the contract (LEB128
varints, calendar arithmetic), never read back from the code under test.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import re

import pytest

from logsvc.store import BadCursor
from logsvc.store.dynamodb.reads import (
    MAX_CURSOR_CHARS,
    MAX_CURSOR_IDS,
    _bounded,
    _decode_cursor,
    _encode_cursor,
    _foreign,
    _key,
    _max,
    _micros,
    _min,
    _Reader,
    _varint,
)

# 2026-02-09T21:00:00Z in epoch microseconds, by calendar arithmetic (not by the code under test).
B0 = calendar.timegm((2026, 2, 9, 21, 0, 0)) * 10**6
W0 = "2026-02-09T21:00:00.000000+00:00"  # the stored (format_utc) form of B0
ID = "0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
LOCAL = "the cursor was issued by a local (SQLite) store, not by this DynamoDB table"
DDB1 = "the cursor has the earlier format ddb1, which this version no longer accepts; start again without it"
NOT_OURS = "the cursor is not one this service issued"


def at(micros_after_b0: int) -> str:
    """The stored form of B0 + n microseconds (n < 1 s), written out by hand."""
    assert 0 <= micros_after_b0 < 10**6
    return f"2026-02-09T21:00:00.{micros_after_b0:06d}+00:00"


def leb128(value: int) -> bytes:
    """Unsigned LEB128, the varint of the format (the reference for `_varint`)."""
    out = b""
    while value >= 0x80:
        out += bytes([0x80 | (value & 0x7F)])
        value >>= 7
    return out + bytes([value])


def cursor_of(raw: bytes) -> str:
    return "ddb2." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def digest(n: int) -> bytes:
    return n.to_bytes(6, "big")


def refused(cursor) -> str:
    with pytest.raises(BadCursor) as raised:
        _decode_cursor(cursor)
    return str(raised.value)


# -- _varint and _Reader ----------------------------------------------------------------------------

VARINTS = [
    (0, b"\x00"),
    (1, b"\x01"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (255, b"\xff\x01"),
    (300, b"\xac\x02"),
    (16383, b"\xff\x7f"),
    (16384, b"\x80\x80\x01"),
    (2**62, b"\x80" * 8 + b"\x40"),
    (2**63, b"\x80" * 9 + b"\x01"),
    (2**64 - 1, b"\xff" * 9 + b"\x01"),
]


@pytest.mark.parametrize("value, encoded", VARINTS, ids=[str(v) for v, _ in VARINTS])
def test_varint_is_unsigned_leb128(value, encoded):
    assert _varint(value) == encoded == leb128(value)
    reader = _Reader(encoded + b"tail")
    assert reader.varint(2**64) == value
    assert reader.take(4) == b"tail" and reader.done()


def test_the_reader_takes_exactly_what_is_there():
    reader = _Reader(b"abcdef")
    assert not reader.done()
    assert reader.take(0) == b""
    assert reader.take(2) == b"ab"
    assert reader.take(4) == b"cdef"  # up to the last byte, not one short of it
    assert reader.done()
    with pytest.raises(ValueError, match="^truncated$"):
        reader.take(1)
    with pytest.raises(ValueError, match="^truncated$"):
        _Reader(b"abc").take(4)
    with pytest.raises(ValueError, match="^truncated$"):
        _Reader(b"\x80\x80").varint(10)  # every byte says "more follows"


def test_the_reader_bounds_a_number_by_its_maximum_inclusive():
    assert _Reader(b"\xc8\x01").varint(200) == 200
    with pytest.raises(ValueError, match="^number out of range$"):
        _Reader(b"\xc9\x01").varint(200)
    with pytest.raises(ValueError, match="^number out of range$"):
        _Reader(b"\x01").varint(0)
    assert _Reader(b"\x00").varint(0) == 0


def test_the_reader_reads_64_bits_and_refuses_an_eleventh_byte():
    # Ten bytes carry 64 bits (shifts 0 .. 63); a zero written long-hand is still a number.
    assert _Reader(b"\x80" * 9 + b"\x00").varint(0) == 0
    assert _Reader(b"\xff" * 9 + b"\x01").varint(2**64) == 2**64 - 1
    with pytest.raises(ValueError, match="^number too long$"):
        _Reader(b"\x80" * 10 + b"\x00").varint(2**70)
    with pytest.raises(ValueError, match="^number too long$"):
        _Reader(b"\xff" * 40).varint(2**70)  # an endless varint stops at the eleventh byte


# -- _micros and _key ------------------------------------------------------------------------------

MICROS = [
    (W0, B0),
    ("2026-02-09T21:00:00.000001+00:00", B0 + 1),
    ("2026-02-09T22:30:00.000001+01:30", B0 + 1),  # an offset: the same instant
    ("2026-02-09T18:59:59.999999-02:00", B0 - 1),
    ("1970-01-01T00:00:00.000000+00:00", 0),
    ("1969-12-31T23:59:59.999999+00:00", -1),
    ("0001-01-01T00:00:00+00:00", calendar.timegm((1, 1, 1, 0, 0, 0)) * 10**6),
    # Beyond 2**53: a float would round this (to ...800000000); exact integers do not.
    ("9999-12-31T23:59:59.999999+00:00", calendar.timegm((9999, 12, 31, 23, 59, 59)) * 10**6 + 999_999),
]


@pytest.mark.parametrize("text, expected", MICROS, ids=[t for t, _ in MICROS])
def test_micros_is_exact_integer_epoch_microseconds(text, expected):
    got = _micros(text)
    assert type(got) is int and got == expected


def test_far_future_micros_need_more_than_a_float():
    far = _micros("9999-12-31T23:59:59.999999+00:00")
    assert far == 253_402_300_799_999_999 and far > 2**53 and float(far) != far


def test_micros_refuses_a_time_without_offset_or_unreadable():
    with pytest.raises(ValueError) as raised:
        _micros("2026-02-09T21:00:00")
    assert str(raised.value) == "time '2026-02-09T21:00:00' has no offset"
    with pytest.raises(ValueError):
        _micros("2026-02-09T21:00:00+00:00#" + ID)  # a TimeId is not a time: callers split it


def test_a_key_is_the_microsecond_and_a_48_bit_blake2b_of_the_whole_id():
    entry = {"id": ID, "dateTime": "2026-02-09T21:00:00.000007+00:00"}
    micros, hashed = _key(entry)
    assert micros == B0 + 7
    assert len(hashed) == 6 and hashed == hashlib.blake2b(ID.encode(), digest_size=6).digest()
    # UUIDv7 ids of one millisecond share a prefix: the whole id decides.
    other = dict(entry, id=ID[:-1] + "c")
    assert _key(other)[0] == micros and _key(other)[1] != hashed


def test_a_key_of_an_id_with_a_lone_surrogate_is_still_a_digest():
    """An id from a JSON escape that UTF-8 cannot hold is hashed as its surrogate bytes, not a crash."""
    micros, hashed = _key({"id": "a\ud800b", "dateTime": W0})
    assert micros == B0
    assert hashed == hashlib.blake2b(b"a\xed\xa0\x80b", digest_size=6).digest()


# -- _max and _min ----------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, most, least", [
    (None, None, None, None),
    (None, "b", "b", "b"),
    ("a", None, "a", "a"),
    ("a", "b", "b", "a"),
    ("b", "a", "b", "a"),
])
def test_max_and_min_ignore_a_missing_side(a, b, most, least):
    assert _max(a, b) == most
    assert _min(a, b) == least


# -- encoding: exact bytes ---------------------------------------------------------------------------


def test_an_empty_cursor_is_the_watermark_and_a_zero_count():
    assert _encode_cursor(W0, set()) == cursor_of(b"\x20" + W0.encode() + b"\x00")


def test_keys_are_delta_encoded_from_the_time_of_a_time_id_watermark():
    watermark = f"{at(5)}#{ID}"  # a TimeId: deltas start at its time, B0 + 5
    keys = {(B0 + 300, digest(3)), (B0 + 5, digest(2)), (B0 + 5, digest(1))}
    raw = (leb128(len(watermark)) + watermark.encode() + b"\x03"
           + b"\x00" + digest(1)  # same microsecond as the watermark's time
           + b"\x00" + digest(2)  # shares the microsecond: ascending by digest
           + b"\xa7\x02" + digest(3))  # 295 microseconds later, two varint bytes
    assert len(watermark) == 69 and leb128(69) == b"\x45"
    assert _encode_cursor(watermark, keys) == cursor_of(raw)
    assert _decode_cursor(cursor_of(raw)) == (watermark, keys)


def test_a_cursor_ending_in_x_keeps_its_last_character():
    """base64url's alphabet has 'X': only padding is stripped from the end."""
    keys = {(B0, digest(1)), (B0 + 1, digest(0x17))}
    raw = b"\x20" + W0.encode() + b"\x02" + b"\x00" + digest(1) + b"\x01" + digest(0x17)
    cursor = _encode_cursor(W0, keys)
    assert cursor == cursor_of(raw) and cursor.endswith("X") and len(raw) % 3 == 0
    assert _decode_cursor(cursor) == (W0, keys)


# -- round trips ------------------------------------------------------------------------------------

WATERMARKS = {
    "bare time": W0,
    "time id": f"{at(0)}#{ID}",
    "time id with offset": f"2026-02-09T22:00:00.000000+01:00#{ID}",
    "time id of 200 characters": f"{W0}#" + "a" * 167,
    "time id of an id with a hash": f"{W0}#other#1",  # an item written by something else
}
KEY_SETS = {
    "no keys": set(),
    "one key": {(B0 + 1, digest(1))},
    "two at the watermark's microsecond": {(B0, digest(1)), (B0, digest(2))},
    "three sharing a microsecond": {(B0 + 9, digest(n)) for n in range(3)},
    "far apart": {(B0 + 1, digest(1)), (B0 + 10**6 * 3600, digest(2)), (B0 + 2**40, digest(3))},
    "256 over 100 microseconds": {(B0 + n % 100, digest(n)) for n in range(MAX_CURSOR_IDS)},
    **{f"{n} keys": {(B0 + 130 * k, digest(k)) for k in range(n)} for n in range(4, 12)},
}


@pytest.mark.parametrize("keys", KEY_SETS.values(), ids=KEY_SETS.keys())
@pytest.mark.parametrize("watermark", WATERMARKS.values(), ids=WATERMARKS.keys())
def test_a_cursor_round_trips(watermark, keys):
    cursor = _encode_cursor(watermark, keys)
    assert cursor.startswith("ddb2.") and "=" not in cursor
    assert re.fullmatch(r"ddb2\.[A-Za-z0-9_-]*", cursor)
    assert _decode_cursor(cursor) == (watermark, keys)


def test_the_largest_delta_is_2_to_the_62():
    ok = cursor_of(b"\x20" + W0.encode() + b"\x01" + leb128(2**62) + digest(1))
    assert _decode_cursor(ok) == (W0, {(B0 + 2**62, digest(1))})
    too_far = cursor_of(b"\x20" + W0.encode() + b"\x01" + leb128(2**62 + 1) + digest(1))
    assert refused(too_far) == "the cursor is corrupt (number out of range)"


def test_a_cursor_of_exactly_the_longest_length_is_read():
    # 35 bytes of header (length, watermark, a 2-byte count) + 1749 keys of 7 bytes + 6 longer
    # deltas = 12284 bytes = 16379 base64 characters: with "ddb2.", exactly MAX_CURSOR_CHARS.
    keys = {(B0 + 128 * k, digest(k)) for k in range(1, 7)}
    keys |= {(B0 + 768 + k, digest(k)) for k in range(7, 1750)}
    cursor = _encode_cursor(W0, keys)
    assert len(cursor) == MAX_CURSOR_CHARS == 16384
    assert _decode_cursor(cursor) == (W0, keys)
    assert refused(cursor + "A") == "the cursor is longer than 16384 characters"


# -- refusals --------------------------------------------------------------------------------------

HEAD = b"\x20" + W0.encode()  # a well-formed watermark, for forging what follows it
REFUSED = {
    "empty": ("", "the cursor is empty"),
    "not a string": (None, "the cursor is empty"),
    "too long": ("ddb2." + "A" * (MAX_CURSOR_CHARS - 4), "the cursor is longer than 16384 characters"),
    "no body": ("ddb2.", "the cursor is corrupt (truncated)"),
    "not ASCII": ("ddb2.é", "the cursor is corrupt (not ASCII)"),
    "watermark cut short": (cursor_of(b"\x20" + W0.encode()[:20]), "the cursor is corrupt (truncated)"),
    "watermark over 200 bytes": (cursor_of(b"\xc9\x01" + (W0 + "#").encode() + b"a" * 168 + b"\x00"),
                                 "the cursor is corrupt (number out of range)"),
    "watermark without offset": (cursor_of(b"\x13" + b"2026-02-09T21:00:00" + b"\x00"),
                                 "the cursor is corrupt (time '2026-02-09T21:00:00' has no offset)"),
    "no count": (cursor_of(HEAD), "the cursor is corrupt (truncated)"),
    "count over the longest cursor": (cursor_of(HEAD + leb128(16385)), "the cursor is corrupt (number out of range)"),
    "count larger than the keys": (cursor_of(HEAD + leb128(16384)), "the cursor is corrupt (truncated)"),
    "digest cut short": (cursor_of(HEAD + b"\x01\x00" + b"\x01" * 5), "the cursor is corrupt (truncated)"),
    "endless varint": (cursor_of(HEAD + b"\xff" * 40), "the cursor is corrupt (number too long)"),
    "trailing bytes": (cursor_of(HEAD + b"\x00junk"), "the cursor is corrupt (trailing bytes)"),
    "one key and a byte": (cursor_of(HEAD + b"\x01\x00" + digest(1) + b"\x00"),
                           "the cursor is corrupt (trailing bytes)"),
    "local": ("s12", LOCAL),
    "another service": ("abc", NOT_OURS),
    "ddb2 in capitals": ("DDB2." + cursor_of(HEAD + b"\x00")[5:], NOT_OURS),
}


@pytest.mark.parametrize("cursor, message", REFUSED.values(), ids=REFUSED.keys())
def test_a_cursor_that_is_not_one_of_ours_is_refused_with_its_reason(cursor, message):
    assert refused(cursor) == message


@pytest.mark.parametrize("cursor", [
    "ddb2.A",  # one character: never a whole byte
    "ddb2.AAAAA",
    cursor_of(b"\x02\xff\xfe\x00"),  # a watermark that is not UTF-8
    cursor_of(b"\x03abc\x00"),  # a watermark that is not a time
    cursor_of(b"\x1a99999-01-01T00:00:00+00:00\x00"),
])
def test_a_cursor_that_is_not_well_formed_is_refused_as_corrupt(cursor):
    assert refused(cursor).startswith("the cursor is corrupt (")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


FOREIGN = {
    "local": ("s12", LOCAL),
    "local, long": ("s" + "9" * 30, LOCAL),
    "an s alone": ("s", NOT_OURS),
    "s and a letter": ("s1x", NOT_OURS),
    "s, a letter, digits": ("sx1", NOT_OURS),
    "s and letters": ("sabc", NOT_OURS),
    "s and non-ASCII digits": ("s\u0661\u0662", NOT_OURS),
    "s, a non-ASCII digit, a digit": ("s\u06612", NOT_OURS),
    "S in capitals": ("S12", NOT_OURS),
    "not base64": ("x", NOT_OURS),
    "ddb1": (b64(json.dumps({"v": "ddb1", "w": W0, "s": [["a", 1]]}, separators=(",", ":"))), DDB1),
    # Short ddb1 cursors of every length modulo 4 (the padding is put back before decoding).
    **{f"ddb1, {len(b64(text))} characters": (b64(text), DDB1)
       for text in ['{"v":"ddb1"', '{"v":"ddb1"}', '{"v":"ddb1"} ', '{"v":"ddb1"}  ', '{"v":"ddb1","w":"abc"}']},
    "ddb1-like": (b64('{"v":"ddb3"}'), NOT_OURS),
}


@pytest.mark.parametrize("cursor, message", FOREIGN.values(), ids=FOREIGN.keys())
def test_a_foreign_cursor_is_named_when_recognisable(cursor, message):
    assert _foreign(cursor) == message
    assert refused(cursor) == message


def test_a_long_ddb1_cursor_is_recognised_from_its_first_64_characters():
    long = b64(json.dumps({"v": "ddb1", "w": W0, "s": [[ID, 10**6 + n] for n in range(40)]},
                      separators=(",", ":")))
    assert len(long) > 1000
    assert refused(long) == DDB1


# -- the size bound ---------------------------------------------------------------------------------


def spaced(count: int, first: int = 1) -> set:
    """`count` keys one microsecond apart from B0 + first."""
    return {(B0 + first + n, digest(n)) for n in range(count)}


def test_at_the_bound_nothing_is_dropped():
    keys = spaced(MAX_CURSOR_IDS)
    assert _bounded(W0, keys, keep_from=None) == (W0, keys)
    assert _bounded(W0, keys, keep_from=B0 + 100) == (W0, keys)


@pytest.mark.parametrize("count", [MAX_CURSOR_IDS + 1, 300, 1000])
def test_over_the_bound_the_oldest_go_and_the_watermark_passes_them(count):
    keys = spaced(count)  # B0 + 1 .. B0 + count
    dropped = count - MAX_CURSOR_IDS
    watermark, kept = _bounded(W0, keys, keep_from=None)
    assert kept == {key for key in keys if key[0] > B0 + dropped} and len(kept) == MAX_CURSOR_IDS
    # A bare time at the first microsecond kept: "everything strictly before it" was given up on.
    assert watermark == f"2026-02-09T21:00:00.{dropped + 1:06d}+00:00"
    assert _decode_cursor(_encode_cursor(watermark, kept)) == (watermark, kept)


def test_the_bound_drops_whole_microseconds():
    keys = {(B0 + 1 + n // 3, digest(n)) for n in range(300)}  # 100 microseconds of 3 keys
    watermark, kept = _bounded(W0, keys, keep_from=None)
    # 85 whole microseconds (255 keys) fit; 86 would be 258.
    assert kept == {key for key in keys if key[0] >= B0 + 16} and len(kept) == 255
    assert watermark == at(16)


def test_keys_from_the_microsecond_a_page_was_cut_at_are_kept_over_the_bound():
    keys = spaced(300)  # B0 + 1 .. B0 + 300; the bound alone would keep B0 + 45 ..
    watermark, kept = _bounded(W0, keys, keep_from=B0 + 10)
    assert kept == {key for key in keys if key[0] >= B0 + 10} and len(kept) == 291
    assert watermark == at(10)  # not past the microsecond of keep_from, and B0 + 9 is gone
    # keep_from above the bound's cut changes nothing.
    assert _bounded(W0, keys, keep_from=B0 + 200) == (at(45), {key for key in keys if key[0] >= B0 + 45})


def test_keep_from_at_the_oldest_key_keeps_everything_and_the_watermark():
    keys = spaced(300)
    assert _bounded(W0, keys, keep_from=B0 + 1) == (W0, keys)
    assert _bounded(W0, keys, keep_from=B0) == (W0, keys)


def test_the_watermark_never_moves_back():
    high = f"{at(50)}#{ID}"  # a TimeId above the time the bound would give
    keys = {(B0 + 49, digest(n)) for n in range(MAX_CURSOR_IDS)} | {(B0 + 50, digest(n)) for n in range(10)}
    watermark, kept = _bounded(high, keys, keep_from=None)
    assert watermark == high and kept == {key for key in keys if key[0] == B0 + 50}


def test_a_negative_field_is_refused_rather_than_encoded_forever():
    from logsvc.store.dynamodb.reads import _varint

    with pytest.raises(ValueError, match="negative"):
        _varint(-1)


@pytest.mark.parametrize("stray", ["*", "!", " ", "=", "\n"])
def test_a_character_outside_base64url_is_refused_not_skipped(stray):
    from logsvc.store import BadCursor
    from logsvc.store.dynamodb.reads import _decode_cursor, _encode_cursor

    good = _encode_cursor("2026-02-09T21:00:00.000000+00:00", set())
    assert _decode_cursor(good)[0] == "2026-02-09T21:00:00.000000+00:00"
    # Four at a time, so that a decoder skipping them would see a body of the right length.
    # (A trailing "=" can be padding, which decodes to the same bytes: only inside is it stray.)
    for forged in ((good + stray * 4,) if stray != "=" else ()) + (good[:8] + stray * 4 + good[8:],):
        with pytest.raises(BadCursor, match="corrupt"):
            _decode_cursor(forged)
