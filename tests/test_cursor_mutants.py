"""`recent` and `follow` on DynamoDB against the cursor contract, exactly (gaps found by mutation testing of reads.py).

The contract is the module docstring of `logsvc.store.dynamodb.reads`. These tests read the cursor
a call returns (`_decode_cursor`, unit-tested in test_cursor_format.py) and check its watermark and
delivered set against it: ``max(W, min(now - settle, last delivered TimeId when the page was cut
short by limit))``, the budget's stop position in place of the last delivered entry, and the keys
above the watermark. Also the key ranges reads ask for (`scanned`: items examined), a page's
`truncated` and `resume`, and foreign items whose id holds a ``#``.

A moto server on loopback, one shard unless said otherwise, time moved by a clock.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from dynamo_fixtures import dynamo_client, make_store, make_table, moto_endpoint  # noqa: F401 - fixtures

from logsvc.entry import normalise
from logsvc.store import Query, position
from logsvc.store.dynamodb.reads import _decode_cursor, _key
from logsvc.times import format_utc

BASE = datetime(2026, 2, 9, 21, 0, 0, tzinfo=timezone.utc)
SETTLE = 5


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def entry(message: str, at: datetime, severity: str = "info") -> dict:
    return normalise({"severity": severity, "message": message, "dateTime": format_utc(at)})


def time_id(e: dict) -> str:
    return f"{e['dateTime']}#{e['id']}"


def ids(entries: list[dict]) -> list[str]:
    return [e["id"] for e in entries]


def keys(entries: list[dict]) -> set:
    return {_key(e) for e in entries}


def fresh_cursor(store, clock: Clock, at: datetime) -> str:
    """A tail cursor taken at `at` (watermark at - settle, nothing delivered), the clock put back."""
    now, clock.now = clock.now, at
    try:
        return store.recent(Query(limit=1, until=format_utc(at - timedelta(hours=1)))).cursor
    finally:
        clock.now = now


# -- recent --------------------------------------------------------------------------------------------


@pytest.fixture
def window_store(make_store):
    """20 entries below the settle window and 3 in it ("keep 0", "drop 1", "keep 2"), now = BASE + 10 s."""
    clock = Clock(BASE + timedelta(seconds=10))
    store = make_store(1, settle_seconds=SETTLE, clock=clock)
    old = [entry(f"old {i}", BASE + timedelta(seconds=1, milliseconds=100 * i)) for i in range(20)]
    window = [entry(f"{['keep', 'drop'][i % 2]} {i}", BASE + timedelta(seconds=6 + i)) for i in range(3)]
    store.put(old + window)
    return store, old, window


def test_recent_marks_the_whole_settle_window_delivered_whatever_its_limit(window_store):
    store, old, window = window_store
    page = store.recent(Query(limit=2))
    assert ids(page.entries) == ids([window[2], window[1]])  # newest first, exactly `limit`
    assert page.truncated is False and page.resume is None
    watermark, seen = _decode_cursor(page.cursor)
    assert watermark == format_utc(BASE + timedelta(seconds=10 - SETTLE))
    assert seen == keys(window)  # the third one too, though not shown
    # The window and a page more, not the 20 older entries: it stops once it has `limit` below the window.
    assert page.scanned < 12


def test_recent_reads_on_below_the_settle_window_for_its_limit(window_store):
    store, old, window = window_store
    page = store.recent(Query(limit=5))
    assert ids(page.entries) == ids([*reversed(window), old[19], old[18]])
    assert _decode_cursor(page.cursor)[1] == keys(window)
    everything = store.recent(Query(limit=100))
    assert ids(everything.entries) == ids([*reversed(window), *reversed(old)])
    assert everything.truncated is False and everything.resume is None and everything.scanned == 23


def test_recent_marks_only_matching_entries_delivered(window_store):
    store, _, window = window_store
    page = store.recent(Query(limit=100, regex=re.compile("^keep")))
    assert ids(page.entries) == ids([window[2], window[0]])
    assert _decode_cursor(page.cursor)[1] == keys([window[0], window[2]])


def test_recent_asks_only_for_the_key_range_of_since_until_and_before(window_store):
    store, old, window = window_store
    since = store.recent(Query(limit=100, since=old[10]["dateTime"]))
    assert ids(since.entries) == ids([*reversed(window), *reversed(old[10:])]) and since.scanned == 13
    until = store.recent(Query(limit=100, until=window[0]["dateTime"]))
    assert ids(until.entries) == ids(list(reversed(old))) and until.scanned == 20
    # With both, the lower of until and before bounds the range, whichever it is.
    both = store.recent(Query(limit=100, until=window[0]["dateTime"], before=position(window[2])))
    assert ids(both.entries) == ids(list(reversed(old))) and both.scanned == 20
    both = store.recent(Query(limit=100, until=window[2]["dateTime"], before=position(window[0])))
    assert ids(both.entries) == ids(list(reversed(old))) and both.scanned == 20


def test_recent_stopped_by_its_budget_is_truncated_with_where_to_resume(make_store):
    clock = Clock(BASE + timedelta(hours=1))
    store = make_store(1, settle_seconds=SETTLE, clock=clock, max_scan=4)
    old = [entry(f"old {i}", BASE + timedelta(seconds=i)) for i in range(10)]
    store.put(old)
    page = store.recent(Query(limit=100))
    assert ids(page.entries) == ids(old[:5:-1])  # the 4 newest, then the budget is spent
    assert page.truncated is True and page.resume == time_id(old[6]) and page.scanned == 4
    rest = store.recent(Query(limit=100, before=page.resume))
    assert ids(rest.entries) == ids(old[5:1:-1])


def test_recent_that_found_its_limit_is_not_truncated_when_the_budget_then_runs_out(make_store):
    clock = Clock(BASE + timedelta(seconds=2))
    store = make_store(1, settle_seconds=SETTLE, clock=clock, max_scan=4)
    window = [entry(f"w {i}", BASE + timedelta(seconds=1, milliseconds=i)) for i in range(10)]
    store.put(window)
    page = store.recent(Query(limit=2))  # reads on through the window until the budget stops it
    assert ids(page.entries) == ids(window[:7:-1])
    assert page.truncated is False and page.resume is None and page.scanned == 4


# -- follow: the new watermark -------------------------------------------------------------------------


def test_a_page_not_cut_short_moves_the_watermark_to_the_horizon_and_keeps_the_keys_above_it(make_store):
    clock = Clock(BASE + timedelta(seconds=10))
    store = make_store(1, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    horizon = BASE + timedelta(seconds=10 - SETTLE)
    below = entry("below", BASE + timedelta(seconds=1))
    at_horizon = entry("at the horizon", horizon)  # its microsecond is the watermark's
    above = [entry(f"above {i}", horizon + timedelta(seconds=1 + i)) for i in range(2)]
    store.put([below, at_horizon, *above])

    page = store.follow(cursor, Query(limit=100))
    assert ids(page.entries) == ids([below, at_horizon, *above]) and page.truncated is False
    assert _decode_cursor(page.cursor) == (format_utc(horizon), keys([at_horizon, *above]))
    again = store.follow(page.cursor, Query(limit=100))
    assert again.entries == [] and _decode_cursor(again.cursor) == _decode_cursor(page.cursor)


def test_a_page_cut_short_inside_the_settle_window_keeps_the_horizon(make_store):
    clock = Clock(BASE + timedelta(seconds=10))
    store = make_store(1, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    horizon = BASE + timedelta(seconds=10 - SETTLE)
    first = entry("below", BASE + timedelta(seconds=1))
    inside = [entry(f"inside {i}", horizon + timedelta(seconds=1 + i)) for i in range(3)]
    store.put([first, *inside])

    page = store.follow(cursor, Query(limit=2))
    assert ids(page.entries) == ids([first, inside[0]])
    assert _decode_cursor(page.cursor) == (format_utc(horizon), keys([inside[0]]))
    page = store.follow(page.cursor, Query(limit=2))
    assert ids(page.entries) == ids(inside[1:])
    assert _decode_cursor(page.cursor) == (format_utc(horizon), keys(inside))


def test_a_page_cut_short_below_the_horizon_moves_the_watermark_to_its_last_entry(make_store):
    clock = Clock(BASE + timedelta(minutes=10))  # far behind: everything is below the horizon
    store = make_store(1, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    backlog = [entry(f"b {i}", BASE + timedelta(seconds=1 + i)) for i in range(7)]
    store.put(backlog)

    page = store.follow(cursor, Query(limit=3))
    assert ids(page.entries) == ids(backlog[:3]) and page.truncated is False
    assert _decode_cursor(page.cursor) == (time_id(backlog[2]), keys([backlog[2]]))
    page = store.follow(page.cursor, Query(limit=3))
    assert ids(page.entries) == ids(backlog[3:6])
    assert _decode_cursor(page.cursor) == (time_id(backlog[5]), keys([backlog[5]]))
    page = store.follow(page.cursor, Query(limit=3))
    assert ids(page.entries) == ids(backlog[6:])
    assert _decode_cursor(page.cursor) == (format_utc(clock.now - timedelta(seconds=SETTLE)), set())


def test_a_read_stopped_by_its_budget_moves_the_watermark_to_where_it_stopped(make_store):
    clock = Clock(BASE + timedelta(hours=1))
    store = make_store(1, settle_seconds=SETTLE, clock=clock, max_scan=4)
    cursor = fresh_cursor(store, clock, BASE)
    backlog = [entry(f"b {i}", BASE + timedelta(seconds=1 + i)) for i in range(10)]
    store.put(backlog)

    page = store.follow(cursor, Query(limit=100))
    assert ids(page.entries) == ids(backlog[:4]) and page.scanned == 4
    assert page.truncated is True  # a backlog below the horizon: ask again at once
    assert _decode_cursor(page.cursor) == (time_id(backlog[3]), keys([backlog[3]]))
    page = store.follow(page.cursor, Query(limit=100))
    assert ids(page.entries) == ids(backlog[4:8]) and page.truncated is True
    page = store.follow(page.cursor, Query(limit=100))
    assert ids(page.entries) == ids(backlog[8:]) and page.truncated is False
    assert _decode_cursor(page.cursor)[0] == format_utc(clock.now - timedelta(seconds=SETTLE))


def test_a_budget_stop_inside_the_settle_window_is_no_backlog(make_store):
    clock = Clock(BASE + timedelta(seconds=3))
    store = make_store(1, settle_seconds=SETTLE, clock=clock, max_scan=4)
    cursor = fresh_cursor(store, clock, BASE - timedelta(seconds=10))
    window = [entry(f"w {i}", BASE + timedelta(seconds=1, milliseconds=i)) for i in range(6)]
    store.put(window)
    page = store.follow(cursor, Query(limit=100))
    assert ids(page.entries) == ids(window[:4])
    assert page.truncated is False  # stopped above the horizon: the next poll, not at once
    horizon = format_utc(clock.now - timedelta(seconds=SETTLE))
    assert _decode_cursor(page.cursor) == (horizon, keys(window[:4]))
    clock.now += timedelta(hours=1)  # the rest, once the horizon has passed them
    rest, cursor = [], page.cursor
    for _ in range(5):
        page = store.follow(cursor, Query(limit=100))
        rest += page.entries
        cursor = page.cursor
        if not page.truncated:
            break
    assert ids(rest) == ids(window[4:])


# -- follow: what it reads and delivers -------------------------------------------------------------------


def test_follow_reads_only_the_key_range_of_since_and_until(make_store):
    clock = Clock(BASE + timedelta(hours=1))
    store = make_store(1, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    backlog = [entry(f"b {i}", BASE + timedelta(seconds=1 + i)) for i in range(10)]
    store.put(backlog)
    page = store.follow(cursor, Query(limit=100, since=backlog[3]["dateTime"], until=backlog[7]["dateTime"]))
    assert ids(page.entries) == ids(backlog[3:7]) and page.scanned == 4


def test_follow_skips_entries_the_query_filters_out_and_delivers_the_rest(make_store):
    clock = Clock(BASE + timedelta(hours=1))
    store = make_store(1, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    mixed = [entry(f"{['drop', 'keep'][i % 2]} {i}", BASE + timedelta(seconds=1 + i)) for i in range(6)]
    store.put(mixed)
    keep = Query(limit=100, regex=re.compile("^keep"))  # a regex is matched here, not by DynamoDB
    page = store.follow(cursor, keep)
    assert ids(page.entries) == ids(mixed[1::2])
    assert store.follow(page.cursor, keep).entries == []


def test_follow_never_delivers_more_than_its_limit_nor_an_entry_twice(make_store):
    clock = Clock(BASE + timedelta(seconds=10))
    store = make_store(2, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    same = BASE + timedelta(seconds=7)  # 300 entries of one microsecond, inside the settle window
    burst = [entry(f"same {i}", same) for i in range(300)]
    store.put(burst)
    delivered, sizes, cursors = [], [], []
    for _ in range(5):
        page = store.follow(cursor, Query(limit=100))
        sizes.append(len(page.entries))
        delivered += page.entries
        cursor = page.cursor
        cursors.append(_decode_cursor(cursor))
    assert sizes == [100, 100, 100, 0, 0]
    assert sorted(ids(delivered)) == sorted(ids(burst))
    # Cut short by limit at that microsecond: every one of it is remembered, over the bound.
    assert cursors[2] == (format_utc(BASE + timedelta(seconds=10 - SETTLE)), keys(burst))
    # Not cut short: the bound moves the watermark past the whole microsecond instead.
    assert cursors[3] == cursors[4] == (format_utc(same + timedelta(microseconds=1)), set())


def test_a_foreign_item_whose_id_holds_a_hash_pages_like_any_other(make_store, make_table, dynamo_client):
    table = make_table(1)
    clock = Clock(BASE + timedelta(hours=1))
    store = make_store(table=table, settle_seconds=SETTLE, clock=clock)
    cursor = fresh_cursor(store, clock, BASE)
    at = [format_utc(BASE + timedelta(seconds=1 + i)) for i in range(3)]
    for n, when in enumerate(at):
        log_id = f"other#{n}"  # written by something else: not a UUID, and with a '#'
        dynamo_client.put_item(TableName=table, Item={
            "LogID": {"S": log_id}, "Shard": {"S": "LOG#0"}, "TimeId": {"S": f"{when}#{log_id}"},
            "DateTime": {"S": when}, "Message": {"S": f"m{n}"}, "Severity": {"S": "info"}})
    page = store.follow(cursor, Query(limit=2))
    assert ids(page.entries) == ["other#0", "other#1"]
    assert _decode_cursor(page.cursor)[0] == f"{at[1]}#other#1"
    page = store.follow(page.cursor, Query(limit=2))
    assert ids(page.entries) == ["other#2"]
    # And where a read's budget stops it: at such an item's TimeId.
    budgeted = make_store(table=table, settle_seconds=SETTLE, clock=clock, max_scan=2)
    page = budgeted.follow(cursor, Query(limit=100))
    assert ids(page.entries) == ["other#0", "other#1"] and page.truncated is True
    assert _decode_cursor(page.cursor)[0] == f"{at[1]}#other#1"


def test_recent_over_a_foreign_item_whose_time_sorts_above_the_watermark_but_is_below_it(
        make_store, make_table, dynamo_client):
    """Another writer's item with an offset: its TimeId ("21:30+01:00#…") sorts above the settle
    watermark (21:00:05Z) while its instant (20:30Z) is below it. recent answers, with a cursor that
    decodes, instead of encoding a negative distance (which never ended)."""
    import threading

    table = make_table(1)
    clock = Clock(BASE + timedelta(seconds=10))  # the watermark: BASE + 5 s
    store = make_store(table=table, settle_seconds=SETTLE, clock=clock)
    local = "2026-02-09T21:30:00.000000+01:00"
    dynamo_client.put_item(TableName=table, Item={
        "LogID": {"S": "foreign-1"}, "Shard": {"S": "LOG#0"}, "TimeId": {"S": f"{local}#foreign-1"},
        "DateTime": {"S": local}, "Message": {"S": "from elsewhere"}, "Severity": {"S": "info"}})
    pages = []
    reader = threading.Thread(target=lambda: pages.append(store.recent(Query(limit=10))), daemon=True)
    reader.start()
    reader.join(30)
    assert pages, "recent did not answer"
    assert ids(pages[0].entries) == ["foreign-1"]
    watermark, seen = _decode_cursor(pages[0].cursor)
    assert watermark == format_utc(BASE + timedelta(seconds=SETTLE)) and seen == set()
