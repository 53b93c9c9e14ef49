"""Validation and normalisation of one log entry (`logsvc.entry.normalise`)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logsvc.entry import MAX_ENTRY_BYTES, EntryError, normalise

UTC = timezone.utc
NOW = datetime(2026, 2, 9, 21, 50, 20, 123456, tzinfo=UTC)
# The stored form: UTC, six fractional digits, explicit +00:00 (32 characters).
STORED_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
FIXED_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def valid(**fields) -> dict:
    """A minimal valid raw entry with `fields` added or replaced."""
    raw = {"severity": "info", "message": "hello"}
    raw.update(fields)
    return raw


def rejected(raw, **kwargs) -> EntryError:
    kwargs.setdefault("now", NOW)
    with pytest.raises(EntryError) as info:
        normalise(raw, **kwargs)
    assert info.value.problems, "an EntryError must explain itself"
    return info.value


def names(problems: list[str], field: str) -> bool:
    """True when some problem names `field` as a word."""
    return any(re.search(rf"(?<![A-Za-z]){re.escape(field)}(?![A-Za-z])", p) for p in problems)


# -- shape -------------------------------------------------------------------------------------


def test_valid_entry_has_documented_keys_in_order():
    entry = normalise(valid(source="web-1", id=FIXED_ID, dateTime="2026-02-09T21:50:20Z"), now=NOW)
    assert list(entry) == ["id", "dateTime", "severity", "message", "source"]
    assert entry == {
        "id": FIXED_ID,
        "dateTime": "2026-02-09T21:50:20.000000+00:00",
        "severity": "info",
        "message": "hello",
        "source": "web-1",
    }


def test_source_absent_means_no_source_key():
    entry = normalise(valid(), now=NOW)
    assert "source" not in entry
    assert list(entry) == ["id", "dateTime", "severity", "message"]


def test_input_dict_is_not_modified():
    raw = valid(severity="WARN", dateTime="2026-02-09T22:50:20+01:00")
    copy = dict(raw)
    normalise(raw, now=NOW, lenient_severity=True)
    assert raw == copy


@pytest.mark.parametrize("raw", [[], [valid()], "hello", "", None, 42, 1.5, True])
def test_non_object_rejected(raw):
    error = rejected(raw)
    assert "object" in str(error)


def test_empty_object_names_both_required_fields():
    error = rejected({})
    assert names(error.problems, "severity")
    assert names(error.problems, "message")


# -- id ------------------------------------------------------------------------------------------


def test_id_generated_when_absent_is_uuid4():
    entry = normalise(valid(), now=NOW)
    parsed = uuid.UUID(entry["id"])
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert entry["id"] == str(parsed)  # canonical lowercase with hyphens


def test_generated_ids_are_distinct():
    ids = {normalise(valid(), now=NOW)["id"] for _ in range(200)}
    assert len(ids) == 200


@pytest.mark.parametrize(
    "form",
    [
        lambda u: str(u),
        lambda u: str(u).upper(),
        lambda u: "{" + str(u) + "}",
        lambda u: "{" + str(u).upper() + "}",
        lambda u: "urn:uuid:" + str(u),
        lambda u: u.hex,
        lambda u: u.hex.upper(),
    ],
    ids=["canonical", "upper", "braces", "braces-upper", "urn", "hex", "hex-upper"],
)
def test_given_id_stored_canonical_lowercase(form):
    u = uuid.UUID("A1B2C3D4-E5F6-4789-ABCD-EF0123456789")
    entry = normalise(valid(id=form(u)), now=NOW)
    assert entry["id"] == "a1b2c3d4-e5f6-4789-abcd-ef0123456789"


def test_given_non_v4_uuid_kept():
    u = uuid.uuid1()
    assert normalise(valid(id=str(u)), now=NOW)["id"] == str(u)


@pytest.mark.parametrize(
    "bad_id",
    [
        "not-a-uuid",
        "",
        "1234",
        FIXED_ID[:-1],
        FIXED_ID + "0",
        "g" * 32,
        "0f8fad5b-d9cb-469f-a165-70867728950z",
        123,
        0,
        1.5,
        None,
        True,
        [FIXED_ID],
        {"id": FIXED_ID},
    ],
)
def test_bad_id_rejected_naming_id(bad_id):
    error = rejected(valid(id=bad_id))
    assert len(error.problems) == 1, error.problems
    assert names(error.problems, "id")
    assert not error.too_large


# -- dateTime -----------------------------------------------------------------------------------


def test_datetime_generated_from_injected_now():
    entry = normalise(valid(), now=NOW)
    assert entry["dateTime"] == "2026-02-09T21:50:20.123456+00:00"


def test_datetime_generated_is_current_utc():
    before = datetime.now(UTC)
    entry = normalise(valid())
    after = datetime.now(UTC)
    assert STORED_FORM.match(entry["dateTime"])
    assert before <= datetime.fromisoformat(entry["dateTime"]) <= after


@pytest.mark.parametrize(
    "given, stored",
    [
        ("2026-02-09T21:50:20Z", "2026-02-09T21:50:20.000000+00:00"),
        ("2026-02-09T21:50:20.000001Z", "2026-02-09T21:50:20.000001+00:00"),
        ("2026-02-09T21:50:20+00:00", "2026-02-09T21:50:20.000000+00:00"),
        ("2026-02-09T21:50:20-00:00", "2026-02-09T21:50:20.000000+00:00"),
        ("2026-02-09T22:50:20.5+01:00", "2026-02-09T21:50:20.500000+00:00"),
        ("2026-02-09T16:20:20.123-05:30", "2026-02-09T21:50:20.123000+00:00"),
        ("2026-02-10T00:00:00+02:00", "2026-02-09T22:00:00.000000+00:00"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000000+00:00"),
        ("2025-12-31T20:00:00-23:59", "2026-01-01T19:59:00.000000+00:00"),
        ("2026-01-01T19:59:00+23:59", "2025-12-31T20:00:00.000000+00:00"),
        ("1999-06-30T23:59:59.999999+00:00", "1999-06-30T23:59:59.999999+00:00"),
    ],
)
def test_datetime_normalised_to_fixed_width_utc(given, stored):
    entry = normalise(valid(dateTime=given), now=datetime(2026, 6, 1, tzinfo=UTC))
    assert entry["dateTime"] == stored
    assert len(entry["dateTime"]) == 32


@pytest.mark.parametrize("naive", ["2026-02-09T21:50:20", "2026-02-09T21:50:20.123456", "2026-02-09 21:50"])
def test_naive_datetime_rejected_with_hint(naive):
    error = rejected(valid(dateTime=naive))
    assert names(error.problems, "dateTime")
    text = str(error)
    assert "'Z'" in text
    assert "offset" in text


@pytest.mark.parametrize(
    "garbage",
    [
        "yesterday",
        "",
        "   ",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-02-09T25:00:00Z",
        "21:50:20Z",
        "2026-02-09T21:50:20+24:00",
        "2026-02-09T21:50:20 UTC",
        1770673820,
        1.5,
        None,
        True,
        [],
        {},
    ],
)
def test_garbage_datetime_rejected(garbage):
    error = rejected(valid(dateTime=garbage))
    assert len(error.problems) == 1, error.problems
    assert names(error.problems, "dateTime")


def test_datetime_four_minutes_ahead_accepted():
    ahead = NOW + timedelta(minutes=4)
    entry = normalise(valid(dateTime=ahead.isoformat()), now=NOW)
    assert entry["dateTime"] == "2026-02-09T21:54:20.123456+00:00"


def test_datetime_exactly_five_minutes_ahead_accepted():
    ahead = NOW + timedelta(minutes=5)
    entry = normalise(valid(dateTime=ahead.isoformat()), now=NOW)
    assert entry["dateTime"] == "2026-02-09T21:55:20.123456+00:00"


@pytest.mark.parametrize("ahead", [timedelta(minutes=5, microseconds=1), timedelta(minutes=6), timedelta(days=400)])
def test_datetime_more_than_five_minutes_ahead_rejected(ahead):
    error = rejected(valid(dateTime=(NOW + ahead).isoformat()))
    assert names(error.problems, "dateTime")
    assert "future" in str(error)


def test_future_check_uses_the_instant_not_the_local_clock_reading():
    # 02:00 at +05:00 is 21:00 UTC the day before: in the past, though the text looks later.
    entry = normalise(valid(dateTime="2026-02-10T02:50:00+05:00"), now=NOW)
    assert entry["dateTime"] == "2026-02-09T21:50:00.000000+00:00"
    # 17:56:21 at -04:00 is 21:56:21 UTC: six minutes ahead of NOW, rejected.
    rejected(valid(dateTime="2026-02-09T17:56:21-04:00"))


def test_past_datetime_far_back_accepted():
    entry = normalise(valid(dateTime="1970-01-01T00:00:00Z"), now=NOW)
    assert entry["dateTime"] == "1970-01-01T00:00:00.000000+00:00"


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_datetime_outside_utc_range_rejected_not_crash(edge):
    error = rejected(valid(dateTime=edge), now=datetime(9999, 12, 31, 23, 0, tzinfo=UTC))
    assert names(error.problems, "dateTime")


# -- dateTime properties ------------------------------------------------------------------------

FAR_FUTURE = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)  # so no generated instant is "in the future"
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS
)


def iso(instant: datetime, use_z: bool) -> str:
    text = instant.isoformat()
    if use_z and text.endswith("+00:00"):
        text = text[:-6] + "Z"
    return text


@settings(max_examples=300, deadline=None)
@given(instant=AWARE, use_z=st.booleans())
def test_property_iso_round_trips_to_same_instant(instant, use_z):
    stored = normalise(valid(dateTime=iso(instant, use_z)), now=FAR_FUTURE)["dateTime"]
    assert STORED_FORM.match(stored), stored
    assert len(stored) == 32
    assert datetime.fromisoformat(stored) == instant


@settings(max_examples=300, deadline=None)
@given(a=AWARE, b=AWARE)
def test_property_string_order_is_time_order(a, b):
    sa = normalise(valid(dateTime=a.isoformat()), now=FAR_FUTURE)["dateTime"]
    sb = normalise(valid(dateTime=b.isoformat()), now=FAR_FUTURE)["dateTime"]
    assert (sa < sb) == (a < b)
    assert (sa == sb) == (a == b)


@settings(max_examples=200, deadline=None)
@given(instant=AWARE, delta=st.timedeltas(min_value=timedelta(0), max_value=timedelta(microseconds=1_000_000)))
def test_property_close_instants_keep_order(instant, delta):
    # Instants a microsecond to a second apart: the region where a non-fixed-width form would fail.
    later = instant + delta
    sa = normalise(valid(dateTime=instant.isoformat()), now=FAR_FUTURE)["dateTime"]
    sb = normalise(valid(dateTime=later.isoformat()), now=FAR_FUTURE)["dateTime"]
    assert (sa < sb) == (delta > timedelta(0))


# -- severity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("severity", ["info", "warning", "error"])
def test_wire_severity_exact_names_accepted(severity):
    assert normalise(valid(severity=severity), now=NOW)["severity"] == severity


@pytest.mark.parametrize(
    "severity",
    ["INFO", "Info", "WARNING", "Error", "warn", "err", " info", "info ", "debug", "fatal", "", 0, 1, None, True, ["info"]],
)
def test_wire_severity_rejects_anything_else(severity):
    error = rejected(valid(severity=severity), lenient_severity=False)
    assert len(error.problems) == 1, error.problems
    assert names(error.problems, "severity")


def test_wire_is_the_default():
    rejected(valid(severity="INFO"))
    rejected(valid(severity="warn"))


@pytest.mark.parametrize(
    "given, stored",
    [
        ("info", "info"),
        ("INFO", "info"),
        ("Info", "info"),
        ("warning", "warning"),
        ("WARNING", "warning"),
        ("warn", "warning"),
        ("WARN", "warning"),
        ("Warn", "warning"),
        ("error", "error"),
        ("ERROR", "error"),
        ("err", "error"),
        ("ERR", "error"),
    ],
)
def test_lenient_severity_any_case_and_aliases(given, stored):
    assert normalise(valid(severity=given), now=NOW, lenient_severity=True)["severity"] == stored


@pytest.mark.parametrize("severity", ["debug", "fatal", "critical", "inf", "warnings", "errors", "", "   ", 2, None, False])
def test_lenient_severity_rejects_others(severity):
    error = rejected(valid(severity=severity), lenient_severity=True)
    assert len(error.problems) == 1, error.problems
    assert names(error.problems, "severity")


# -- message ------------------------------------------------------------------------------------


def test_message_required():
    raw = valid()
    del raw["message"]
    error = rejected(raw)
    assert names(error.problems, "message")


@pytest.mark.parametrize("blank", ["", " ", "   ", "\n", "\t\r\n ", "\u3000"])
def test_blank_message_rejected(blank):
    error = rejected(valid(message=blank))
    assert names(error.problems, "message")


@pytest.mark.parametrize("value", [42, 0, 1.5, None, True, ["a"], [], {"text": "a"}])
def test_non_string_message_rejected(value):
    error = rejected(valid(message=value))
    assert len(error.problems) == 1, error.problems
    assert names(error.problems, "message")


@pytest.mark.parametrize("text", ["\ud800", "before \ud800 after", "x\udfff", "\udc00\ud800"])
def test_lone_surrogate_message_rejected(text):
    error = rejected(valid(message=text))
    assert names(error.problems, "message")


def test_lone_surrogate_from_json_escape_rejected():
    raw = json.loads('{"severity": "info", "message": "bad \\ud800 text"}')
    error = rejected(raw)
    assert names(error.problems, "message")


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x07\x08\x1b[31mred\x1b[0m\x7f",
        "<script>alert('x')</script>",
        "line one\nline two\r\nline three\ttabbed",
        "{{ template }} %s %(name)s ${HOME} `whoami`",
        "\u202eright-to-left override",
        "emoji \U0001f600 and accents é and CJK 日本",
        "  leading and trailing spaces  ",
        "'; DROP TABLE entries; --",
        "\\ud800 as escaped text, not a surrogate",
    ],
)
def test_message_kept_verbatim(text):
    assert normalise(valid(message=text), now=NOW)["message"] == text


# -- source -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["web-1", "x", "x" * 256, "é" * 256, "日" * 256, " padded "])
def test_source_accepted_verbatim(source):
    assert normalise(valid(source=source), now=NOW)["source"] == source


@pytest.mark.parametrize("source", ["x" * 257, "é" * 257, "", "   ", "\n", 5, None, True, ["web"], {"a": 1}, "\ud800"])
def test_bad_source_rejected(source):
    error = rejected(valid(source=source))
    assert len(error.problems) == 1, error.problems
    assert names(error.problems, "source")


# -- size ---------------------------------------------------------------------------------------

TIME = "2026-02-09T21:50:20.000000+00:00"


def overhead(source: str | None = None) -> int:
    """Bytes of the compact JSON of an entry with FIXED_ID, TIME, severity info and an empty message."""
    text = '{"id":"' + FIXED_ID + '","dateTime":"' + TIME + '","severity":"info","message":""'
    if source is not None:
        text += ',"source":"' + source + '"'
    return len((text + "}").encode("utf-8"))


def sized(message: str, **extra) -> dict:
    return valid(id=FIXED_ID, dateTime="2026-02-09T21:50:20Z", message=message, **extra)


def compact_size(entry: dict) -> int:
    return len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


@pytest.mark.parametrize(
    "unit",
    ["a", "é", "€", "\U0001f600"],
    ids=["1-byte", "2-byte", "3-byte", "4-byte"],
)
def test_entry_exactly_at_limit_accepted_and_one_byte_more_rejected(unit):
    room = MAX_ENTRY_BYTES - overhead()
    width = len(unit.encode("utf-8"))
    message = unit * (room // width) + "a" * (room % width)
    assert len(message.encode("utf-8")) == room
    entry = normalise(sized(message), now=NOW)
    assert entry["message"] == message
    assert compact_size(entry) == MAX_ENTRY_BYTES

    error = rejected(sized(message + "a"))
    assert error.too_large
    assert str(MAX_ENTRY_BYTES) in str(error)


def test_swapping_one_ascii_char_for_a_two_byte_char_crosses_the_limit():
    room = MAX_ENTRY_BYTES - overhead()
    message = "a" * room
    normalise(sized(message), now=NOW)
    error = rejected(sized("é" + message[1:]))  # same number of characters, one byte more
    assert error.too_large


def test_size_counts_json_escapes():
    # A quote or a newline serialises as two bytes; a control character as six (\u0001).
    room = MAX_ENTRY_BYTES - overhead()
    quotes = '"' * (room // 2) + "a" * (room % 2)
    normalise(sized(quotes), now=NOW)
    assert rejected(sized(quotes + "a")).too_large

    controls = "\x01" * (room // 6) + "a" * (room % 6)
    normalise(sized(controls), now=NOW)
    assert rejected(sized(controls + "a")).too_large


def test_size_includes_source():
    source = "s" * 200
    room = MAX_ENTRY_BYTES - overhead(source)
    message = "€" * (room // 3) + "a" * (room % 3)
    entry = normalise(sized(message, source=source), now=NOW)
    assert compact_size(entry) == MAX_ENTRY_BYTES
    assert rejected(sized(message, source=source + "s")).too_large


def test_other_problems_are_not_too_large():
    error = rejected(valid(severity="loud"))
    assert error.too_large is False


# -- unknown fields and several problems --------------------------------------------------------


def test_unknown_field_rejected_naming_it():
    raw = valid(sevrity="info")
    error = rejected(raw)
    assert "sevrity" in str(error)
    assert len(error.problems) == 1


def test_misspelt_required_field_reports_unknown_and_missing():
    raw = {"sevrity": "info", "message": "m"}
    error = rejected(raw)
    assert "sevrity" in str(error)
    assert any("missing" in p and names([p], "severity") for p in error.problems)


def test_several_unknown_fields_all_named():
    error = rejected(valid(foo=1, bar=2, Message="x"))
    text = str(error)
    for name in ("foo", "bar", "Message"):
        assert name in text


@pytest.mark.parametrize("field", ["ID", "datetime", "date_time", "timestamp", "level", "msg", "extra"])
def test_near_miss_field_names_are_unknown(field):
    error = rejected(valid(**{field: "x"}))
    assert field in str(error)


def test_several_problems_reported_together():
    raw = {"id": "nope", "dateTime": "2026-02-09T21:50:20", "severity": "loud", "message": "", "source": "", "colour": "red"}
    error = rejected(raw)
    assert len(error.problems) == 6, error.problems
    unknown = [p for p in error.problems if "colour" in p]
    assert len(unknown) == 1
    # The unknown-field problem lists the allowed names, so look for each field in the others.
    others = [p for p in error.problems if p not in unknown]
    for field in ("id", "dateTime", "severity", "message", "source"):
        assert names(others, field), (field, error.problems)
    # The exception text carries every problem too.
    for problem in error.problems:
        assert problem in str(error)


@pytest.mark.parametrize(
    "lax",
    ["+2345678123456781234567812345678", "{a1b2c3d4-e5f6-4789-abcd-ef0123456789", "a1b2c3d4e5f6-4789-abcd-ef0123456789",
     "a1b2c3d4-e5f6-4789-abcd-ef012345678g", " a1b2c3d4-e5f6-4789-abcd-ef0123456789", "urn:uuid:{a1b2c3d4e5f64789abcdef0123456789"],
)
def test_strings_uuid_module_would_stretch_into_a_uuid_are_rejected(lax):
    assert names(rejected(valid(id=lax)).problems, "id")


# -- exact messages, ids, the size limit's shortcut, batches and JSON objects -----------------------
# (found by mutation testing: these behaviours changed with no test failing)

from logsvc.entry import (  # noqa: E402 - grouped with the tests that need them
    MAX_BATCH_BYTES,
    MAX_BATCH_ENTRIES,
    DuplicateKeyError,
    batches,
    new_id,
    parse_severity,
    same_content,
    unique_keys,
)

ALLOWED = "(allowed: id, dateTime, severity, message, source)"


@pytest.mark.parametrize(
    "raw, message",
    [
        (None, "an entry must be a JSON object, not null"),
        (True, "an entry must be a JSON object, not a boolean"),
        (1.5, "an entry must be a JSON object, not a number"),
        ("{}", "an entry must be a JSON object, not a string"),
        ([], "an entry must be a JSON object, not an array"),
        ((1, 2), "an entry must be a JSON object, not tuple"),
        (valid(message={}), "message must be a string, not an object"),
        (valid(extra=1), f"unknown field 'extra' {ALLOWED}"),
        (valid(b=1, a=2), f"unknown fields 'b', 'a' {ALLOWED}"),
        (valid(**{f"k{n}": n for n in range(6)}), f"unknown fields 'k0', 'k1', 'k2', 'k3', 'k4' {ALLOWED}"),
        (valid(**{"x" * 50: 1}), f"unknown field {'x' * 40!r} {ALLOWED}"),
        ({}, "missing required fields: severity, message"),
        ({"severity": "info"}, "missing required field: message"),
        (valid(id=5), "id must be a UUID string"),
        (valid(id="z" * 70), f"id {'z' * 64!r} is not a UUID"),
        (valid(message="\ud800"), "message is not valid Unicode text"),
        (valid(id=5, severity="bad", message=" "),
         "id must be a UUID string; severity 'bad' is not one of info, warning, error; message must not be blank"),
    ],
)
def test_the_message_names_every_problem_exactly(raw, message):
    assert str(rejected(raw, now=NOW)) == message


def test_parse_severity_is_exact_unless_asked_to_be_lenient():
    with pytest.raises(EntryError):
        parse_severity("WARN")
    assert parse_severity("WARN", lenient=True) == "warning"


@pytest.mark.parametrize(
    "value, message",
    [
        (5, "severity must be one of info, warning, error"),
        ("x" * 40, f"severity {'x' * 32!r} is not one of info, warning, error"),
    ],
)
def test_parse_severity_messages(value, message):
    with pytest.raises(EntryError) as info:
        parse_severity(value)
    assert str(info.value) == message


def test_new_ids_are_canonical_version_4_uuids_of_every_variant():
    ids = [new_id() for _ in range(400)]
    for made in ids:
        parsed = uuid.UUID(made)
        assert str(parsed) == made and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # The variant digit takes all four values (a constant one would still be a valid UUID).
    assert {made[19] for made in ids} == set("89ab")  # chance of a miss: 4 * (3/4)^400, about 1e-49
    assert len(set(ids)) == len(ids)


def test_an_entry_too_large_only_once_escaped_is_measured_and_refused():
    # 1,900 control characters serialise as \u0001 (6 bytes each): 11,400 bytes with a 256-character source.
    raw = valid(message="\x01" * 1900, source="s" * 256)
    error = rejected(raw, now=NOW)
    assert error.too_large
    assert re.fullmatch(r"entry is \d+ bytes serialised; the limit is 10240 bytes", str(error))


def test_unique_keys():
    assert json.loads('{"a": 1, "b": 2}', object_pairs_hook=unique_keys) == {"a": 1, "b": 2}
    with pytest.raises(DuplicateKeyError) as info:
        json.loads('{"severity": "info", "message": "m", "severity": "error"}', object_pairs_hook=unique_keys)
    assert str(info.value) == "the key 'severity' appears more than once in one object"
    with pytest.raises(DuplicateKeyError) as info:
        json.loads('{"a": 1, "b": 2, "b": 3}', object_pairs_hook=unique_keys)
    assert str(info.value) == "the key 'b' appears more than once in one object"  # the repeated one
    long_key = "k" * 50
    with pytest.raises(DuplicateKeyError) as info:
        json.loads(json.dumps({long_key: 1})[:-1] + f', "{long_key}": 2}}', object_pairs_hook=unique_keys)
    assert str(info.value) == f"the key {'k' * 40!r} appears more than once in one object"


def test_same_content_compares_every_field():
    entry = normalise(valid(source="web"), now=NOW)
    assert same_content(entry, dict(entry))
    for field, other in [("id", FIXED_ID), ("dateTime", "x"), ("severity", "error"), ("message", "other"),
                         ("source", "api")]:
        assert not same_content(entry, {**entry, field: other}), field
    assert not same_content(entry, {key: value for key, value in entry.items() if key != "source"})


def _sizes(groups):
    return [len(group) for group in groups]


def test_batches_split_by_count():
    assert _sizes(batches(range(2 * MAX_BATCH_ENTRIES + 1), lambda item: 10)) == [500, 500, 1]
    assert _sizes(batches(range(MAX_BATCH_ENTRIES), lambda item: 10)) == [500]
    assert list(batches([], lambda item: 10)) == []
    assert [item for group in batches(range(1001), lambda item: 10) for item in group] == list(range(1001))


def test_batches_split_by_body_bytes_counting_brackets_and_commas():
    # Two items fill a body exactly: 2 brackets + a + 1 comma + b == MAX_BATCH_BYTES.
    a = 600_000
    b = MAX_BATCH_BYTES - 2 - 1 - a
    assert _sizes(batches([a, b], lambda item: item)) == [2]
    assert _sizes(batches([a, b + 1], lambda item: item)) == [1, 1]
    # After a split the new body starts with its brackets and its first item pays no comma:
    # c and d fill the second body exactly, one byte more does not fit.
    c = 524_286
    d = MAX_BATCH_BYTES - 2 - 1 - c
    assert _sizes(batches([MAX_BATCH_BYTES - 2, c, d], lambda item: item)) == [1, 2]
    assert _sizes(batches([MAX_BATCH_BYTES - 2, c, d + 1], lambda item: item)) == [1, 1, 1]


def test_an_item_too_large_for_any_batch_goes_alone():
    assert _sizes(batches([10, 2 * MAX_BATCH_BYTES, 10], lambda item: item)) == [1, 1, 1]
