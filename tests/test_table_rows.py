"""The table written row by row (`logsvc.tabular`) is byte for byte the table Rich draws whole."""

from __future__ import annotations

import io
import time
from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logsvc.output import Renderer, _clock
from logsvc.tabular import draw

WORDS = st.sampled_from(["disk", "full", "é", "日本語", "tab\there", "x" * 70, "", "  ", "[bold]no[/bold]",
                         "esc \x1b[2J", "emoji 🚀", "a-very-long-word-" * 6, "zero\u200bwidth", "new\nline"])
MESSAGES = st.lists(WORDS, max_size=12).map(" ".join)
ENTRY = st.fixed_dictionaries(
    {"id": st.uuids().map(str), "severity": st.sampled_from(["info", "warning", "error"]), "message": MESSAGES,
     "dateTime": st.sampled_from(["2026-03-29T00:59:59.123456+00:00", "2026-03-29T01:00:00.000001+00:00",
                                  "2026-11-28T12:00:00.000000+00:00", "2026-07-01T23:30:00.500000+00:00"])},
    optional={"source": st.sampled_from(["web-1", "a-source-name-longer-than-twenty", "é-host", "", "tab\there"])},
)


def both(entries: list[dict], columns: int, color: str, utc: bool, monkeypatch) -> tuple[str, str, bool]:
    monkeypatch.setenv("COLUMNS", str(columns))
    whole, rows = io.StringIO(), io.StringIO()
    Renderer("table", color=color, utc=utc, stream=whole)._table(entries)
    drawn = draw(Renderer("table", color=color, utc=utc, stream=rows), entries)
    return whole.getvalue(), rows.getvalue(), drawn


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(ENTRY, min_size=1, max_size=12), columns=st.sampled_from([40, 72, 80, 99, 100, 120, 200]),
       color=st.sampled_from(["always", "never", "auto"]), utc=st.booleans(),
       zone=st.sampled_from(["UTC", "Europe/Berlin"]))
def test_rows_written_one_by_one_match_the_whole_table(entries, columns, color, utc, zone):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("TZ", zone)  # Berlin: the sampled times straddle a daylight-saving change
        time.tzset()
        try:
            whole, rows, drawn = both(entries, columns, color, utc, monkeypatch)
        finally:
            monkeypatch.undo()
            time.tzset()
    if drawn:
        assert rows == whole
    else:
        assert rows == ""  # too narrow: left to Rich's whole table


def test_a_usual_terminal_gets_the_rows_and_a_narrow_one_the_whole_table(monkeypatch):
    entries = [{"id": "1", "severity": "info", "message": "hello", "dateTime": "2026-11-28T12:00:00.000000+00:00",
                "source": "web-1"}]
    whole, rows, drawn = both(entries, 120, "never", True, monkeypatch)
    assert drawn and rows == whole and "hello" in rows
    assert both(entries, 20, "never", True, monkeypatch)[2] is False


@settings(max_examples=500, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(-timedelta(hours=3, seconds=17))])))
def test_the_clock_shown_is_strftimes_to_the_millisecond(instant):
    assert _clock(instant) == instant.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def test_an_empty_listing_reads_as_rich_writes_it(monkeypatch):
    for color in ("auto", "never", "always"):
        whole, rows, drawn = both([], 80, color, True, monkeypatch)
        assert "No entries." in whole
        assert rows == (whole if drawn else "")
    assert both([], 80, "auto", True, monkeypatch)[2] is True  # a pipe: written without Rich


ENVIRONMENTS = st.fixed_dictionaries({
    "FORCE_COLOR": st.sampled_from([None, "", "1", "0"]), "TTY_COMPATIBLE": st.sampled_from([None, "", "0", "1"]),
    "COLUMNS": st.sampled_from([None, "", "0", "57", "131", "wide", "-3"]), "TERM": st.sampled_from([None, "dumb", "xterm"]),
    "NO_COLOR": st.sampled_from([None, "1"]),
})


@settings(max_examples=200, deadline=None)
@given(environment=ENVIRONMENTS, color=st.sampled_from(["auto", "never", "always"]), tty=st.booleans())
def test_a_plain_width_is_given_only_where_rich_writes_no_escapes_and_is_richs_width(environment, color, tty):
    """`plain_width` mirrors Rich's rules without importing Rich: wherever it answers, Rich's own
    console on that stream is not a terminal, has no colours, and is exactly that wide."""
    import os
    import pty

    from rich.console import Console

    from logsvc.output import resolve_color
    from logsvc.tabular import plain_width

    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in environment.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        if tty:
            leader, follower = pty.openpty()
            stream = open(follower, "w")
        else:
            stream = io.StringIO()
        try:
            width = plain_width(Renderer("table", color=color, stream=stream))
            console = Console(file=stream, highlight=False, emoji=False, markup=False, **resolve_color(color))
            if width is not None:
                assert not tty and not console.is_terminal and console.color_system is None
                assert width == console.width
            elif not tty and color != "always":
                assert environment["FORCE_COLOR"] is not None or environment["TTY_COMPATIBLE"] is not None
        finally:
            stream.close()
            if tty:
                os.close(leader)
