"""normalise's shortcuts for canonical ids and UTC times accept, refuse and normalise exactly as the full parse does."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logsvc import entry as entry_module
from logsvc.entry import EntryError, normalise, random_ids

NOW = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)
ID = "0f8fad5b-d9cb-469f-a165-70867728950e"

TIMES = [
    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.0Z", "2026-01-01T00:00:00.03Z", "2026-01-01T00:00:00.037Z",
    "2026-01-01T00:00:00.0371Z", "2026-01-01T00:00:00.03712Z", "2026-01-01T00:00:00.037125Z",
    "2026-01-01T00:00:00.0371256Z", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00.5+00:00",
    "2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:00:00-00:00", "2026-01-01T00:00:00+01:00",
    "2026-01-01T00:00:00.5-08:30", "2026-01-01T00:00:00z", "2026-01-01 00:00:00Z", "2026-01-01t00:00:00Z",
    "2026-01-01T00:00Z", "2026-01-01T00Z", "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00.Z",
    "2026-01-01T00:00:00", "2026-01-01", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z ",
    "2026-01-01T00:00:00Z\n", "2026-01-01T00:00:00ZZ", "2026-01-01T00:00:00+00:00Z",
    "2024-02-29T10:00:00Z", "2026-02-29T10:00:00Z", "2000-02-29T10:00:00Z", "2100-02-29T10:00:00Z",
    "2026-04-31T10:00:00Z", "2026-04-30T10:00:00Z", "2026-12-31T23:59:59.999999Z", "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-01T23:59:60Z",
    "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999Z", "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",
    "2026-01-01T00:00:00\u0661Z", "20260101T000000Z", "2026-1-1T00:00:00Z", "+2026-01-01T00:00:00Z",
    "2026-03-01T12:04:59.250000Z", "2026-03-01T12:05:00.250000Z", "2026-03-01T12:05:00.250001Z",
    "2026-03-01T12:05:00.25Z", "2026-03-01T12:06:00Z", "2026-03-01T13:04:00+01:00", "2027-01-01T00:00:00Z",
    "", 0, 1.5, None, True, [], {},
]
IDS = [
    ID, ID.upper(), ID[:9] + ID[9:].upper(), "{" + ID + "}", "urn:uuid:" + ID, ID.replace("-", ""),
    ID.replace("-", "", 1), ID + "\n", " " + ID, ID[:-1], ID + "0", ID[:-1] + "g", ID[:-1] + "\uff41",
    ID[:-1] + "\u0661", "{" + ID, "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ID.replace("-", "+"), "", 5, None,
]
MESSAGES = ["plain", "caf\u00e9", "\U0001f600 grin", "lone \ud800 surrogate", "\udfff", " ", "\u2028", "a\x00b",
            "\ud83d\ude00", "x" * 2000]


def outcome(raw, now=NOW):
    try:
        return "ok", normalise(raw, now=now, lenient_severity=True, make_id=lambda: ID)
    except EntryError as exc:
        return "error", exc.problems, exc.too_large


def full_path(raw, now=NOW):
    """normalise with its shortcuts switched off: what the full parse alone makes of an entry."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(entry_module, "_canonical_utc", lambda value, current: None)
        patch.setattr(entry_module, "_CANONICAL_UUID", re.compile(r"(?!)"))
        patch.setattr(entry_module, "_valid_text", _valid_text_by_encoding)
        return outcome(raw, now)


def _valid_text_by_encoding(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("value", TIMES, ids=repr)
def test_times_agree_with_the_full_parse(value):
    raw = {"severity": "info", "message": "m", "dateTime": value}
    assert outcome(raw) == full_path(raw)


@pytest.mark.parametrize("value", IDS, ids=repr)
def test_ids_agree_with_the_full_parse(value):
    raw = {"id": value, "severity": "info", "message": "m"}
    assert outcome(raw) == full_path(raw)


@pytest.mark.parametrize("value", MESSAGES, ids=repr)
def test_messages_and_sources_agree_with_the_full_check(value):
    for raw in ({"severity": "info", "message": value}, {"severity": "info", "message": "m", "source": value}):
        assert outcome(raw) == full_path(raw)


def test_the_shortcuts_are_taken_for_the_canonical_forms():
    # So the agreement above compares two different paths, not one path with itself.
    assert entry_module._canonical_utc("2026-01-01T00:00:00.037Z", NOW) == "2026-01-01T00:00:00.037000+00:00"
    assert entry_module._canonical_utc("2026-01-01T00:00:00+00:00", NOW) == "2026-01-01T00:00:00.000000+00:00"
    for refused in ("2026-02-29T00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-03-01T12:06:00Z", 5):
        assert entry_module._canonical_utc(refused, NOW) is None
    assert entry_module._CANONICAL_UUID.fullmatch(ID)
    assert not entry_module._CANONICAL_UUID.fullmatch(ID.upper())


def test_the_future_limit_follows_the_clock_both_ways():
    # The remembered limit is reused only for a clock at or after it was taken, within a second.
    at = "2026-03-01T12:05:00.250000Z"
    for now in (NOW, NOW - timedelta(microseconds=1), NOW + timedelta(milliseconds=500), NOW,
                NOW - timedelta(days=1), NOW + timedelta(seconds=3), NOW - timedelta(microseconds=1)):
        raw = {"severity": "info", "message": "m", "dateTime": at}
        assert outcome(raw, now) == full_path(raw, now)


canonical_times = st.from_regex(entry_module._UTC_TEXT, fullmatch=True)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(canonical_times, canonical_times.map(lambda t: t.replace("0", "9", 1)),
                      st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat().replace("+00:00", "Z"))),
       ahead=st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=2)))
def test_generated_times_agree_with_the_full_parse(text, ahead):
    raw = {"severity": "warning", "message": "m", "dateTime": text}
    assert outcome(raw, NOW + ahead) == full_path(raw, NOW + ahead)


def test_random_ids_are_canonical_version_4_and_distinct():
    ids = random_ids(batch=8)
    made = [next(ids) for _ in range(100)]  # across several refills
    assert len(set(made)) == 100
    for made_id in made:
        assert entry_module._CANONICAL_UUID.fullmatch(made_id)
        assert made_id[14] == "4" and made_id[19] in "89ab"


def test_the_clock_path_agrees_as_the_clock_moves_both_ways(monkeypatch):
    # Without `now`, freshness is judged on the float clock; the limit still comes from now_utc().
    clock = [NOW.timestamp()]
    monkeypatch.setattr(entry_module, "_clock", lambda: clock[0])
    monkeypatch.setattr(entry_module, "now_utc", lambda: datetime.fromtimestamp(clock[0], timezone.utc))
    times = ["2026-03-01T12:04:59Z", "2026-03-01T12:05:00.250000Z", "2026-03-01T12:05:00.250001Z",
             "2026-03-01T12:05:00.750001Z", "2026-03-01T12:05:01.5Z", "2026-03-01T12:05:04Z", "2026-02-28T12:05:04Z"]
    for step in (0, -1e-6, 0.5, 0.25, -86_400, 86_400, 3, 1.0, -1e-6, 0.999_999, 1e-6):
        clock[0] += step
        current = datetime.fromtimestamp(clock[0], timezone.utc)
        for at in times:
            raw = {"severity": "info", "message": "m", "dateTime": at}
            assert outcome(raw, None) == full_path(raw, current), (step, at)
