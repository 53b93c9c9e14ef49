"""Durations, instants and the stored UTC form (`logsvc.times`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from logsvc.times import TimeFormatError, format_utc, parse_duration, parse_instant, parse_iso

UTC = timezone.utc
NOW = datetime(2026, 2, 9, 21, 50, 20, 123456, tzinfo=UTC)
# Each unit once, as an operator writes them: shared by the duration and relative-instant tests.
UNITS = [
    ("30s", timedelta(seconds=30)),
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    ("3d", timedelta(days=3)),
    ("1w", timedelta(weeks=1)),
    ("250ms", timedelta(milliseconds=250)),
    ("0s", timedelta(0)),
]


# -- parse_duration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    UNITS + [
        ("1ms", timedelta(milliseconds=1)),
        ("90m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("0.5s", timedelta(milliseconds=500)),
        ("52w", timedelta(days=364)),
        (" 5m ", timedelta(minutes=5)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


def test_ms_is_milliseconds_not_minutes():
    assert parse_duration("250ms") < parse_duration("1s")
    assert parse_duration("1m") == 60 * parse_duration("1s")


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "5", "m", "ms", "5x", "5 minutes", "five minutes", "-5m", "+5m", "5m ago", "1h30m", "5mm", "s5", "1e3s", ".5s", "5.s", "0x10s", "now"],
)
def test_parse_duration_rejects_garbage(garbage):
    with pytest.raises(TimeFormatError) as info:
        parse_duration(garbage)
    assert "duration" in str(info.value)


def test_parse_duration_absurdly_large_is_a_format_error():
    with pytest.raises(TimeFormatError):
        parse_duration("1000000000d")


# -- parse_instant ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, back", UNITS)
def test_parse_instant_relative_is_now_minus_duration(text, back):
    assert parse_instant(text, now=NOW) == NOW - back


def test_parse_instant_relative_uses_injected_now_not_clock():
    earlier = datetime(2001, 1, 1, tzinfo=UTC)
    assert parse_instant("1h", now=earlier) == datetime(2000, 12, 31, 23, 0, tzinfo=UTC)


def test_parse_instant_relative_without_now_uses_current_time():
    before = datetime.now(UTC)
    got = parse_instant("1h")
    after = datetime.now(UTC)
    assert before - timedelta(hours=1) <= got <= after - timedelta(hours=1)


@pytest.mark.parametrize("text", ["now", " now ", "NOW"])
def test_parse_instant_now(text):
    assert parse_instant(text, now=NOW) == NOW


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-02-09T21:50:20Z", datetime(2026, 2, 9, 21, 50, 20, tzinfo=UTC)),
        ("2026-02-09T22:50:20+01:00", datetime(2026, 2, 9, 21, 50, 20, tzinfo=UTC)),
        ("2026-02-09T16:50:20.25-05:00", datetime(2026, 2, 9, 21, 50, 20, 250000, tzinfo=UTC)),
        ("2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC)),  # future instants are fine here
    ],
)
def test_parse_instant_iso_with_offset(text, expected):
    got = parse_instant(text, now=NOW)
    assert got == expected
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("naive", ["2026-02-09T21:50:20", "2026-02-09", "2026-02-09 21:50"])
def test_parse_instant_naive_rejected(naive):
    with pytest.raises(TimeFormatError) as info:
        parse_instant(naive, field="--since", now=NOW)
    text = str(info.value)
    assert "--since" in text
    assert "'Z'" in text and "offset" in text


@pytest.mark.parametrize("garbage", ["", "yesterday", "5 minutes ago", "-5m", "2026-02-30T00:00:00Z", "tomorrow"])
def test_parse_instant_garbage_rejected_naming_field(garbage):
    with pytest.raises(TimeFormatError) as info:
        parse_instant(garbage, field="--until", now=NOW)
    assert "--until" in str(info.value)


def test_parse_instant_before_year_one_is_a_format_error():
    with pytest.raises(TimeFormatError):
        parse_instant("1000000d", now=NOW)


# -- parse_iso / format_utc ---------------------------------------------------------------------


def test_parse_iso_naive_hint_names_field():
    with pytest.raises(TimeFormatError) as info:
        parse_iso("2026-02-09T21:50:20", field="when")
    text = str(info.value)
    assert text.startswith("when")
    assert "'Z'" in text and "offset" in text


@pytest.mark.parametrize("value", [None, 1770673820, 1.5, [], b"2026-02-09T21:50:20Z"])
def test_parse_iso_non_string_rejected(value):
    with pytest.raises(TimeFormatError):
        parse_iso(value)


@pytest.mark.parametrize(
    "instant, stored",
    [
        (datetime(2026, 2, 9, 21, 50, 20, tzinfo=UTC), "2026-02-09T21:50:20.000000+00:00"),
        (datetime(2026, 2, 9, 23, 50, 20, 7, tzinfo=timezone(timedelta(hours=2))), "2026-02-09T21:50:20.000007+00:00"),
        (datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-3))), "2026-01-01T03:00:00.000000+00:00"),
        (datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC), "0999-05-06T07:08:09.000000+00:00"),
    ],
)
def test_format_utc_fixed_width(instant, stored):
    assert format_utc(instant) == stored
    assert len(format_utc(instant)) == 32


# -- the exact messages (what the user reads), and the stored form whatever the local zone ----------

LONG = " " * 70  # leading blanks: the value is read stripped, but quoted as given, cut at 64 characters


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: parse_iso(5), "dateTime must be a string in ISO 8601 format"),
        (lambda: parse_iso(LONG + "tomorrow"),
         f"dateTime {' ' * 64!r} is not an ISO 8601 time (e.g. 2026-02-09T21:50:20Z)"),
        (lambda: parse_iso(LONG + "2026-02-09T21:50:20", field="since"),
         f"since {' ' * 64!r} has no time zone: add 'Z' for UTC or an offset like +01:00"),
        (lambda: parse_iso(LONG + "0001-01-01T00:00:00+01:00"), f"dateTime {' ' * 64!r} is out of range in UTC"),
        (lambda: parse_duration("9" * 20 + "w"), f"{'9' * 20 + 'w'!r} is too long a duration"),
        (lambda: parse_instant(LONG + "1w", now=datetime(1, 1, 2, tzinfo=UTC)),
         f"time {' ' * 64!r} reaches too far back"),
        (lambda: parse_instant(LONG + "soon"),
         f"time {' ' * 64!r} is neither a relative time (30s, 5m, 2h, 3d) nor ISO 8601 with 'Z' or an offset"),
    ],
    ids=["not a string", "not iso", "no zone", "out of range", "duration too long", "too far back", "neither"],
)
def test_time_errors_say_exactly_what_is_wrong(call, message):
    with pytest.raises(TimeFormatError) as info:
        call()
    assert str(info.value) == message


@pytest.fixture
def local_zone_new_york(monkeypatch):
    """The process's local time zone is not UTC (as on most laptops)."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_stored_and_parsed_times_are_utc_whatever_the_local_zone(local_zone_new_york):
    plus2 = timezone(timedelta(hours=2))
    assert format_utc(datetime(2026, 2, 9, 23, 50, 20, tzinfo=plus2)) == "2026-02-09T21:50:20.000000+00:00"
    parsed = parse_iso("2026-02-09T23:50:20+02:00")
    assert parsed.tzinfo is UTC and parsed.hour == 21
