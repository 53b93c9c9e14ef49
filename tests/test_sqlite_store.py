"""The local SQLite store, against real files in tmp_path (`logsvc.store.sqlite`)."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from logsvc.entry import normalise
from logsvc.errors import StoreError
from logsvc.store import BadCursor, ConflictError, Query
from logsvc.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)  # `now` for normalise, so no test instant is "in the future"
ALL = 10**9


def make(i: int = 0, *, at: datetime | None = None, severity: str = "info", message: str | None = None,
         source: str | None = None, id: str | None = None) -> dict:
    """A normalised entry; by default at T0 + i seconds."""
    raw = {
        "dateTime": (at if at is not None else T0 + timedelta(seconds=i)).isoformat(),
        "severity": severity,
        "message": message if message is not None else f"message {i}",
    }
    if source is not None:
        raw["source"] = source
    if id is not None:
        raw["id"] = id
    return normalise(raw, now=FAR)


def ids(entries: list[dict]) -> list[str]:
    return [entry["id"] for entry in entries]


def stamp(seconds: float) -> str:
    """The stored form of T0 + seconds, for since/until."""
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "store.db")
    yield s
    s.close()


def everything(store: SQLiteStore) -> list[dict]:
    return store.recent(Query(limit=ALL)).entries


def follow_all(store: SQLiteStore, cursor: str, query: Query) -> tuple[list[dict], str, int]:
    """Follow until an empty page; the entries, the last cursor and the number of calls."""
    got: list[dict] = []
    calls = 0
    while True:
        page = store.follow(cursor, query)
        calls += 1
        assert len(page.entries) <= query.limit
        cursor = page.cursor
        if not page.entries:
            return got, cursor, calls
        got.extend(page.entries)
        assert calls < 1000, "follow never drained"


# -- recent -------------------------------------------------------------------------------------


def test_recent_newest_first_and_entries_round_trip(store):
    entries = [make(i, source=f"src-{i}" if i % 2 else None, message=f"message {i} é \U0001f600\n\x00")
               for i in range(10)]
    shuffled = entries[:]
    random.Random(3).shuffle(shuffled)
    result = store.put(shuffled)
    assert sorted(result.stored) == sorted(ids(entries))
    assert result.replayed == []
    page = store.recent(Query(limit=100))
    assert page.entries == entries[::-1]  # whole dicts: content intact, no "source" key when absent
    assert isinstance(page.cursor, str)


def test_recent_on_empty_store(store):
    page = store.recent(Query())
    assert page.entries == []
    assert isinstance(page.cursor, str)


def test_recent_ties_on_datetime_broken_by_id_descending(store):
    same = T0 + timedelta(seconds=5)
    tied = [make(at=same, message=f"tied {n}") for n in range(8)]
    before = make(at=same - timedelta(microseconds=1), message="before")
    after = make(at=same + timedelta(microseconds=1), message="after")
    batch = tied + [before, after]
    random.Random(7).shuffle(batch)
    for entry in batch:  # one put each, so arrival order is the shuffled order
        store.put([entry])
    got = ids(store.recent(Query(limit=100)).entries)
    assert got == [after["id"], *sorted(ids(tied), reverse=True), before["id"]]


def test_recent_order_is_by_instant_not_by_written_offset(store):
    # 23:00 on Jan 1 at -05:00 is 04:00Z on Jan 2: later than 01:00Z on Jan 2, though it reads earlier.
    late = make(message="late", at=datetime(2026, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5))))
    early = make(message="early", at=datetime(2026, 1, 2, 1, 0, tzinfo=UTC))
    store.put([early, late])
    assert [e["message"] for e in everything(store)] == ["late", "early"]


@pytest.mark.parametrize("limit", [1, 3, 9, 10, 11, 1000])
def test_recent_limit(store, limit):
    entries = [make(i) for i in range(10)]
    store.put(entries)
    assert store.recent(Query(limit=limit)).entries == entries[::-1][:limit]


@pytest.fixture
def mixed(store):
    severities = ["info", "warning", "error", "info", "info", "error", "warning", "info", "error", "info"]
    entries = [make(i, severity=s) for i, s in enumerate(severities)]
    store.put(entries)
    return entries


@pytest.mark.parametrize(
    "minimum, allowed",
    [(None, {"info", "warning", "error"}), ("info", {"info", "warning", "error"}),
     ("warning", {"warning", "error"}), ("error", {"error"})],
)
def test_recent_min_severity(store, mixed, minimum, allowed):
    got = store.recent(Query(limit=100, min_severity=minimum)).entries
    assert got == [e for e in mixed[::-1] if e["severity"] in allowed]
    assert got  # every case matches something


def test_recent_limit_applies_after_the_filter(store, mixed):
    got = store.recent(Query(limit=2, min_severity="error")).entries
    assert got == [mixed[8], mixed[5]]


def test_recent_since_until_half_open(store):
    entries = [make(i) for i in range(10)]
    store.put(entries)
    got = store.recent(Query(limit=100, since=stamp(3), until=stamp(7))).entries
    assert got == [entries[6], entries[5], entries[4], entries[3]]  # 3 included, 7 excluded
    assert store.recent(Query(limit=100, since=stamp(7))).entries == entries[7:][::-1]
    assert store.recent(Query(limit=100, until=stamp(3))).entries == entries[:3][::-1]
    assert store.recent(Query(limit=100, since=stamp(3), until=stamp(3))).entries == []


def test_recent_since_until_microsecond_boundaries(store):
    at = T0 + timedelta(seconds=1)
    entry = make(at=at)
    store.put([entry])
    one_us = timedelta(microseconds=1)
    assert store.recent(Query(since=(at + one_us).isoformat())).entries == []
    assert store.recent(Query(since=at.isoformat(timespec="microseconds"))).entries == [entry]
    assert store.recent(Query(until=at.isoformat(timespec="microseconds"))).entries == []
    assert store.recent(Query(until=(at + one_us).isoformat())).entries == [entry]


def test_recent_grep_is_a_literal_case_sensitive_substring(store):
    messages = ["disk full", "Disk ok", "network down", "100% done", "100 done", "a_b", "axb", "it's 'quoted'"]
    entries = [make(i, message=m) for i, m in enumerate(messages)]
    store.put(entries)

    def grep(text):
        return sorted(e["message"] for e in store.recent(Query(limit=100, grep=text)).entries)

    assert grep("isk") == ["Disk ok", "disk full"]
    assert grep("Disk") == ["Disk ok"]
    assert grep("%") == ["100% done"]  # not a LIKE wildcard
    assert grep("a_b") == ["a_b"]
    assert grep("'quoted'") == ["it's 'quoted'"]
    assert grep("nothing like this") == []


def test_recent_regex(store):
    messages = ["network down", "network up", "networking", "disk down", "Network down", "net down"]
    store.put([make(i, message=m) for i, m in enumerate(messages)])

    def regex(pattern):
        return sorted(e["message"] for e in store.recent(Query(limit=100, regex=re.compile(pattern))).entries)

    assert regex(r"^network (down|up)$") == ["network down", "network up"]
    assert regex(r"down") == ["Network down", "disk down", "net down", "network down"]
    assert regex(r"(?i)^network down$") == ["Network down", "network down"]
    assert regex(r"\bnet\b") == ["net down"]
    assert regex(r"^x") == []


def test_regex_honours_compiled_flags(store):
    cursor = store.recent(Query()).cursor
    entries = [make(0, message="Network down"), make(1, message="disk full"), make(2, message="net\ndisk slow")]
    store.put(entries)
    for pattern, expected in [
        (re.compile("network", re.IGNORECASE), ["Network down"]),
        (re.compile("^disk", re.MULTILINE), ["net\ndisk slow", "disk full"]),
        (re.compile("^disk"), ["disk full"]),
        (re.compile("net.disk", re.DOTALL), ["net\ndisk slow"]),
    ]:
        assert [e["message"] for e in store.recent(Query(regex=pattern)).entries] == expected, pattern
        followed = follow_all(store, cursor, Query(limit=1, regex=pattern))[0]
        assert [e["message"] for e in followed] == expected[::-1], pattern


def test_recent_filters_combine(store):
    entries = [
        make(0, severity="error", message="db timeout"),
        make(1, severity="info", message="db timeout"),
        make(2, severity="error", message="db ok"),
        make(3, severity="warning", message="db timeout again"),
        make(4, severity="error", message="db timeout"),
        make(5, severity="error", message="db timeout"),
    ]
    store.put(entries)
    query = Query(limit=100, min_severity="warning", since=stamp(1), until=stamp(5), grep="timeout",
                  regex=re.compile(r"timeout$"))
    assert store.recent(query).entries == [entries[4]]


def test_recent_filters_agree_with_query_matches(store):
    rnd = random.Random(11)
    words = ["alpha", "beta", "gamma", "delta"]
    entries = [make(i, severity=rnd.choice(["info", "warning", "error"]),
                    message=" ".join(rnd.choice(words) for _ in range(3))) for i in range(60)]
    store.put(entries)
    for _ in range(30):
        query = Query(limit=rnd.randint(1, 70), min_severity=rnd.choice([None, "info", "warning", "error"]),
                      since=rnd.choice([None, stamp(rnd.randint(0, 60))]),
                      until=rnd.choice([None, stamp(rnd.randint(0, 60))]),
                      grep=rnd.choice([None, *words]), regex=rnd.choice([None, re.compile(r"a \w+a$")]))
        expected = [e for e in entries[::-1] if query.matches(e)][: query.limit]
        assert store.recent(query).entries == expected


# -- put: replay and conflict --------------------------------------------------------------------


def test_idempotent_replay_stored_once(store):
    entry = make(1)
    first = store.put([entry])
    assert first.stored == [entry["id"]] and first.replayed == []
    again = store.put([dict(entry)])
    assert again.stored == [] and again.replayed == [entry["id"]]
    assert everything(store) == [entry]


def test_replay_of_the_same_entry_written_differently(store):
    # Same id in upper case and the same instant at another offset: the same entry once normalised.
    entry = make(1, source="web")
    store.put([entry])
    instant = datetime.fromisoformat(entry["dateTime"]).astimezone(timezone(timedelta(hours=9)))
    rewritten = normalise({"id": entry["id"].upper(), "dateTime": instant.isoformat(), "severity": "info",
                           "message": entry["message"], "source": "web"}, now=FAR)
    assert store.put([rewritten]).replayed == [entry["id"]]
    assert everything(store) == [entry]


def test_replay_mixed_with_new_entries(store):
    old, new = make(1), make(2)
    store.put([old])
    result = store.put([old, new])
    assert result.stored == [new["id"]]
    assert result.replayed == [old["id"]]
    assert everything(store) == [new, old]


@pytest.mark.parametrize(
    "change",
    [
        {"message": "different"},
        {"severity": "error"},
        {"dateTime": "2026-01-01T00:00:01.000001+00:00"},
        {"source": "added"},
    ],
)
def test_conflict_stores_nothing_of_the_call(store, change):
    original = make(1)
    store.put([original])
    before, after = make(0), make(2)
    changed = {**original, **change}
    with pytest.raises(ConflictError) as info:
        store.put([before, changed, after])
    assert info.value.ids == [original["id"]]
    assert everything(store) == [original]  # neither `before` nor `after`, original untouched
    # The store is still usable after the rolled-back call.
    assert store.put([before, after]).stored == [before["id"], after["id"]]
    assert len(everything(store)) == 3


def test_conflict_removing_source(store):
    original = make(1, source="web")
    store.put([original])
    changed = {key: value for key, value in original.items() if key != "source"}
    with pytest.raises(ConflictError):
        store.put([changed])
    assert everything(store) == [original]


def test_conflict_late_in_a_large_batch_stores_nothing(store):
    original = make(0, message="original")
    store.put([original])
    batch = [make(i) for i in range(1, 1201)]  # spans several internal chunks
    batch.insert(1100, {**original, "message": "changed"})
    with pytest.raises(ConflictError) as info:
        store.put(batch)
    assert info.value.ids == [original["id"]]
    assert everything(store) == [original]


def test_duplicate_ids_inside_one_batch_same_content(store):
    entry, other = make(1), make(2)
    result = store.put([entry, other, dict(entry)])
    assert sorted(result.stored) == sorted([entry["id"], other["id"]])
    assert result.replayed == []  # one entry, stored and reported once (as the DynamoDB store does)
    assert sorted(ids(everything(store))) == sorted([entry["id"], other["id"]])


def test_duplicate_ids_inside_one_batch_different_content(store):
    entry, other = make(1), make(2)
    with pytest.raises(ConflictError) as info:
        store.put([entry, other, {**entry, "message": "changed"}])
    assert info.value.ids == [entry["id"]]
    assert everything(store) == []


def test_duplicate_ids_far_apart_in_a_large_batch(store):
    batch = [make(i) for i in range(1200)]
    repeat = dict(batch[3])
    result = store.put(batch[:1100] + [repeat] + batch[1100:])
    assert result.replayed == []
    assert len(result.stored) == 1200
    assert len(everything(store)) == 1200

    fresh = [make(i, message=f"second {i}") for i in range(1200)]
    conflicting = {**fresh[3], "message": "changed"}
    with pytest.raises(ConflictError):
        store.put(fresh[:1100] + [conflicting] + fresh[1100:])
    assert len(everything(store)) == 1200


def test_put_nothing(store):
    result = store.put([])
    assert result.stored == [] and result.replayed == []
    assert everything(store) == []


# -- follow -------------------------------------------------------------------------------------


def test_follow_returns_later_entries_in_arrival_order_exactly_once(store):
    old = [make(i) for i in range(5)]
    store.put(old)
    cursor = store.recent(Query(limit=2)).cursor
    # Arrival order deliberately differs from time order.
    later = [make(100 - i, message=f"later {i}") for i in range(10)]
    for n in range(0, 10, 4):
        store.put(later[n : n + 4])
    got, cursor, calls = follow_all(store, cursor, Query(limit=3))
    assert got == later
    assert calls == 5  # 3 + 3 + 3 + 1, then the empty page
    # Nothing more until something new arrives, then only that.
    assert store.follow(cursor, Query(limit=3)).entries == []
    newest = [make(200), make(201)]
    store.put(newest)
    assert follow_all(store, cursor, Query(limit=3))[0] == newest


def test_follow_interleaved_with_puts(store):
    cursor = store.recent(Query()).cursor
    expected, seen = [], []
    rnd = random.Random(5)
    for round_ in range(30):
        batch = [make(round_ * 10 + k) for k in range(rnd.randint(0, 5))]
        if batch:
            store.put(batch)
        expected.extend(batch)
        page = store.follow(cursor, Query(limit=rnd.randint(1, 4)))
        seen.extend(page.entries)
        cursor = page.cursor
    rest, _, _ = follow_all(store, cursor, Query(limit=2))
    seen.extend(rest)
    assert seen == expected


def test_follow_skips_replays_and_rolled_back_calls(store):
    cursor = store.recent(Query()).cursor
    a, b, c = make(1), make(2), make(3)
    store.put([a])
    store.put([a, b])  # a replayed, b new
    with pytest.raises(ConflictError):
        store.put([c, {**a, "message": "changed"}])
    store.put([c])
    assert follow_all(store, cursor, Query(limit=2))[0] == [a, b, c]


def test_follow_cursor_from_another_instance(tmp_path):
    path = tmp_path / "shared.db"
    reader, writer = SQLiteStore(path), SQLiteStore(path)
    try:
        cursor = reader.recent(Query()).cursor
        entries = [make(i) for i in range(7)]
        writer.put(entries)
        assert follow_all(reader, cursor, Query(limit=3))[0] == entries
    finally:
        reader.close()
        writer.close()


def test_follow_applies_filters(store):
    cursor = store.recent(Query()).cursor
    entries = [make(i, severity=["info", "warning", "error"][i % 3], message=f"{'disk' if i % 2 else 'net'} {i}")
               for i in range(30)]
    store.put(entries)

    def follow(**filters):
        return follow_all(store, cursor, Query(limit=2, **filters))[0]

    assert follow(min_severity="warning") == [e for e in entries if e["severity"] != "info"]
    assert follow(min_severity="error") == [e for e in entries if e["severity"] == "error"]
    assert follow(grep="disk") == [e for e in entries if "disk" in e["message"]]
    assert follow(regex=re.compile(r"^net 1\d$")) == [entries[i] for i in (10, 12, 14, 16, 18)]
    assert follow(since=stamp(10), until=stamp(15)) == entries[10:15]
    assert follow(min_severity="error", grep="net") == [e for e in entries if e["severity"] == "error"
                                                        and "net" in e["message"]]


def test_follow_with_filter_matching_nothing(store):
    cursor = store.recent(Query()).cursor
    store.put([make(i) for i in range(5)])
    page = store.follow(cursor, Query(limit=3, grep="needle"))
    assert page.entries == []
    filler, match = make(11), make(10, message="needle")
    store.put([filler, match])
    got, cursor, _ = follow_all(store, page.cursor, Query(limit=3, grep="needle"))
    assert got == [match]
    assert store.follow(cursor, Query(limit=3, grep="needle")).entries == []


@pytest.mark.parametrize("bad", ["", "s", "x12", "12", "s-1", "s1.5", "s 1", "S1", "s12a", None, 12, ["s1"]])
def test_bad_cursor(store, bad):
    with pytest.raises(BadCursor):
        store.follow(bad, Query())


@pytest.mark.parametrize("bad", ["s\u00b2", "s\u0661\u0662", "s" + "9" * 30, "s" + "9" * 20])
def test_corrupt_cursor_is_bad_cursor(store, bad):
    # Non-ASCII digits that str.isdigit() accepts, and a number beyond SQLite's 64-bit integers.
    with pytest.raises(BadCursor):
        store.follow(bad, Query())


# -- bulk ---------------------------------------------------------------------------------------


def test_bulk_writes_visible_after_the_block(tmp_path, store):
    chunks = [[make(c * 100 + i) for i in range(50)] for c in range(4)]
    other = SQLiteStore(tmp_path / "store.db")
    try:
        with store.bulk() as writer:
            for chunk in chunks:
                writer.write(chunk)
            writer.write(chunks[0][:5])  # repeats within the input: stored once, not replays
            # One transaction: another connection sees nothing yet (and is not blocked reading).
            assert other.recent(Query(limit=ALL)).entries == []
        assert writer.stored == 200
        assert writer.replayed == 0
        expected = sorted((e for chunk in chunks for e in chunk), key=lambda e: e["dateTime"], reverse=True)
        assert everything(store) == expected
        assert other.recent(Query(limit=ALL)).entries == expected
    finally:
        other.close()


def test_bulk_raising_inside_stores_nothing(store):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with store.bulk() as writer:
            writer.write([make(i) for i in range(20)])
            writer.write([make(i) for i in range(20, 40)])
            raise Boom()
    assert everything(store) == []
    # Usable afterwards.
    store.put([make(1)])
    assert len(everything(store)) == 1


def test_bulk_conflict_stores_nothing(store):
    original = make(0)
    store.put([original])
    with pytest.raises(ConflictError):
        with store.bulk() as writer:
            writer.write([make(i) for i in range(1, 30)])
            writer.write([{**original, "message": "changed"}])
    assert everything(store) == [original]


def test_bulk_replays_and_duplicates_across_writes(store):
    existing = make(0, source="web")
    store.put([existing])
    fresh = [make(i) for i in range(1, 11)]
    with store.bulk() as writer:
        writer.write([dict(existing)] + fresh[:6])
        writer.write(fresh[4:])  # fresh[4] and fresh[5] a second time, identical
    assert writer.stored == 10
    assert writer.replayed == 1  # `existing`; fresh[4] and fresh[5] are repeats within the input
    assert sorted(ids(everything(store))) == sorted(ids([existing, *fresh]))


@pytest.mark.parametrize(
    "change",
    [{"message": "changed"}, {"severity": "error"}, {"dateTime": "2026-01-01T00:00:00.000001+00:00"},
     {"source": "added"}, {"source": None}],
    ids=["message", "severity", "dateTime", "source-added", "source-removed"],
)
def test_bulk_conflict_with_stored_entry_in_any_field(store, change):
    original = make(0, source=None if change.get("source") == "added" else "web")
    store.put([original])
    changed = {key: value for key, value in {**original, **change}.items() if value is not None}
    with pytest.raises(ConflictError) as info:
        with store.bulk() as writer:
            writer.write([make(i) for i in range(1, 5)])
            writer.write([changed])
    assert info.value.ids == [original["id"]]
    assert everything(store) == [original]


def test_bulk_conflict_between_two_writes(store):
    entry = make(1)
    with pytest.raises(ConflictError):
        with store.bulk() as writer:
            writer.write([entry, make(2)])
            writer.write([{**entry, "message": "changed"}])
    assert everything(store) == []


def test_bulk_entries_follow_in_write_order(store):
    cursor = store.recent(Query()).cursor
    entries = [make(100 - i) for i in range(12)]  # arrival order opposite to time order
    with store.bulk() as writer:
        writer.write(entries[:5])
        writer.write(entries[5:])
    assert follow_all(store, cursor, Query(limit=5))[0] == entries


def test_bulk_twice_in_a_row(store):
    for round_ in range(2):
        with store.bulk() as writer:
            writer.write([make(round_ * 10 + i) for i in range(3)])
    assert len(everything(store)) == 6


# -- concurrency --------------------------------------------------------------------------------

WRITER = r"""
import json, os, random, sys, time
from logsvc.store.sqlite import SQLiteStore
path, entries_file, go = sys.argv[1:4]
entries = json.load(open(entries_file))
rnd = random.Random(entries_file)
store = SQLiteStore(path)
open(entries_file + ".ready", "w").close()
deadline = time.time() + 30
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("never started")
    time.sleep(0.001)
i = 0
while i < len(entries):
    n = rnd.randint(1, 5)
    store.put(entries[i:i + n])
    i += n
    time.sleep(rnd.random() / 500)  # up to 2 ms: let the writers take turns, not run one after another
store.close()
print("done", len(entries))
"""


def spawn_writers(tmp_path: Path, path: Path, batches: list[list[dict]]) -> tuple[list[subprocess.Popen], Path]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = []
    for n, batch in enumerate(batches):
        entries_file = tmp_path / f"entries-{n}.json"
        entries_file.write_text(json.dumps(batch))
        procs.append(subprocess.Popen([sys.executable, str(script), str(path), str(entries_file), str(go)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT))
    return procs, go


def release_when_ready(tmp_path: Path, procs: list[subprocess.Popen], go: Path) -> None:
    """Touch `go` once every writer has started and opened the store, so they write at once."""
    deadline = time.time() + 30
    while len(list(tmp_path.glob("entries-*.json.ready"))) < len(procs):
        assert all(proc.poll() is None for proc in procs), "a writer exited early"
        assert time.time() < deadline, "writers never got ready"
        time.sleep(0.005)
    go.touch()


def wait_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode(errors="replace")
        assert out.startswith(b"done")


@pytest.mark.timeout(90)
def test_concurrent_writers_and_follower(tmp_path):
    path = tmp_path / "shared.db"
    store = SQLiteStore(path)
    cursor = store.recent(Query()).cursor  # creates the store before the race
    writers, per_writer = 4, 300
    batches = [[make(w * per_writer + i, severity=["info", "warning", "error"][i % 3], message=f"w{w} #{i}")
                for i in range(per_writer)] for w in range(writers)]
    expected = {e["id"] for batch in batches for e in batch}
    total = writers * per_writer

    seen: list[dict] = []
    failure: list[BaseException] = []
    stop = threading.Event()

    def follower():
        reader = SQLiteStore(path)
        position = cursor
        try:
            deadline = time.time() + 60
            while len(seen) < total and time.time() < deadline and not stop.is_set():
                page = reader.follow(position, Query(limit=25))
                seen.extend(page.entries)
                position = page.cursor
                if not page.entries:
                    time.sleep(0.005)
            time.sleep(0.05)  # anything beyond `total` would be a duplicate: look once more
            seen.extend(reader.follow(position, Query(limit=ALL)).entries)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failure.append(exc)
        finally:
            reader.close()

    thread = threading.Thread(target=follower)
    procs, go = spawn_writers(tmp_path, path, batches)
    thread.start()
    try:
        release_when_ready(tmp_path, procs, go)
        wait_all(procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        thread.join(timeout=10)  # the writers are done: draining what is left takes milliseconds
        stop.set()
        thread.join(timeout=5)
    assert not failure, failure
    assert not thread.is_alive()

    stored = everything(store)
    assert len(stored) == total
    assert {e["id"] for e in stored} == expected

    seen_ids = ids(seen)
    assert len(seen_ids) == total, f"follower saw {len(seen_ids)} entries, {len(set(seen_ids))} distinct"
    assert set(seen_ids) == expected
    # Each writer's entries arrive in the order that writer put them.
    for w, batch in enumerate(batches):
        mine = [e for e in seen if e["message"].startswith(f"w{w} #")]
        assert mine == batch
    store.close()


def hold_write_lock(path: Path, seconds: float,
                    releasing: threading.Event | None = None) -> tuple[sqlite3.Connection, threading.Timer]:
    """Another connection writing the file in rollback-journal mode, as while it initialises it.

    After `seconds` it commits, setting `releasing` (if given) just before.
    """
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE scratch (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO scratch VALUES (1)")

    def commit() -> None:
        if releasing is not None:
            releasing.set()
        holder.execute("COMMIT")

    release = threading.Timer(seconds, commit)
    release.start()
    return holder, release


def test_first_use_waits_for_a_writer_initialising_the_file(tmp_path):
    path = tmp_path / "fresh.db"
    releasing = threading.Event()
    holder, release = hold_write_lock(path, 0.3, releasing)
    store = SQLiteStore(path, busy_timeout=10)
    try:
        entry = make(1)
        assert store.put([entry]).stored == [entry["id"]]
        # Ordered, not timed: the put returned only after the holder began to commit, so it waited
        # for the lock rather than sneaking past (however slowly either thread ran).
        assert releasing.is_set()
        assert everything(store) == [entry]
    finally:
        release.join()
        holder.close()
        store.close()


def test_first_use_gives_up_after_busy_timeout_with_store_error(tmp_path):
    path = tmp_path / "fresh.db"
    holder, release = hold_write_lock(path, 3.0)
    store = SQLiteStore(path, busy_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.put([make(1)])
        assert time.monotonic() - started < 2.5
        assert str(path) in info.value.message
    finally:
        release.cancel()
        holder.execute("COMMIT")
        holder.close()
        store.close()


@pytest.mark.timeout(60)
def test_concurrent_first_use_of_a_fresh_file(tmp_path):
    # No one creates the store first: every writer's first put races to initialise the file.
    path = tmp_path / "fresh.db"
    batches = [[make(w * 100 + i, message=f"w{w} #{i}") for i in range(20)] for w in range(8)]
    procs, go = spawn_writers(tmp_path, path, batches)
    try:
        release_when_ready(tmp_path, procs, go)
        wait_all(procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    store = SQLiteStore(path)
    try:
        stored = everything(store)
        assert len(stored) == 160
        assert {e["id"] for e in stored} == {e["id"] for batch in batches for e in batch}
    finally:
        store.close()


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["recent", "put", "follow"])
def test_file_that_is_not_a_database(tmp_path, operation):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is certainly not an SQLite database file\x00\xff" * 200)
    store = SQLiteStore(path)
    with pytest.raises(StoreError) as info:
        if operation == "recent":
            store.recent(Query())
        elif operation == "put":
            store.put([make(1)])
        else:
            store.follow("s0", Query())
    assert str(path) in info.value.message
    assert path.read_bytes().startswith(b"this is certainly not")  # left as it was
    store.close()


@pytest.mark.parametrize("operation", ["recent", "put"])
def test_unwritable_location(tmp_path, operation):
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a directory")
    path = blocker / "store.db"
    store = SQLiteStore(path)
    with pytest.raises(StoreError) as info:
        if operation == "recent":
            store.recent(Query())
        else:
            store.put([make(1)])
    assert str(path) in info.value.message
    store.close()


def test_path_that_is_a_directory(tmp_path):
    path = tmp_path / "a-directory"
    path.mkdir()
    store = SQLiteStore(path)
    with pytest.raises(StoreError) as info:
        store.recent(Query())
    assert str(path) in info.value.message
    store.close()


# -- scale --------------------------------------------------------------------------------------

BIG = 200_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.db"
    store = SQLiteStore(path)
    rnd = random.Random(2026)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    severities = ("info", "warning", "error")
    rows = []
    for i in range(BIG):
        h = f"{rnd.getrandbits(128):032x}"
        rows.append({
            "id": f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}",
            # Every 1000th instant shared by two entries, to exercise the id tie-break at scale.
            "dateTime": (base + timedelta(seconds=7 * (i - (i % 1000 == 1)))).isoformat(timespec="microseconds"),
            "severity": severities[i % 3],
            "message": f"message {i}",
        })
    with store.bulk() as writer:
        for start in range(0, BIG, 20_000):
            writer.write(rows[start : start + 20_000])
    yield store, rows
    store.close()


def recent_sql(store: SQLiteStore, query: Query) -> list[str]:
    """The SQL statements recent() really runs (bound values inlined), captured by a trace callback."""
    conn = store._connect()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        store.recent(query)
    finally:
        conn.set_trace_callback(None)
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and "ORDER BY" in s.upper()]


@pytest.mark.parametrize(
    "query",
    [
        Query(limit=50),
        Query(limit=50, min_severity="warning"),
        Query(limit=50, min_severity="error"),
        Query(limit=50, since="2025-02-01T00:00:00.000000+00:00", until="2025-03-01T00:00:00.000000+00:00"),
        Query(limit=50, since="2025-02-01T00:00:00.000000+00:00"),
        Query(limit=50, grep="99"),
        Query(limit=50, regex=re.compile(r"9$")),
    ],
    ids=["plain", "warning", "error", "since-until", "since", "grep", "regex"],
)
def test_recent_uses_the_time_index_at_scale(big_store, query):
    store, _ = big_store
    statements = recent_sql(store, query)
    assert len(statements) == 1, statements
    conn = store._connect()
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statements[0]))
    assert "USING INDEX entries_by_time" in plan or "USING COVERING INDEX entries_by_time" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_recent_results_at_scale(big_store):
    store, rows = big_store
    assert store.count() == BIG
    newest = sorted(rows, key=lambda r: (r["dateTime"], r["id"]), reverse=True)
    assert store.recent(Query(limit=5)).entries == newest[:5]
    errors = [r for r in newest if r["severity"] == "error"]
    assert store.recent(Query(limit=5, min_severity="error")).entries == errors[:5]
    since, until = "2025-02-01T00:00:00.000000+00:00", "2025-03-01T00:00:00.000000+00:00"
    window = [r for r in newest if since <= r["dateTime"] < until]
    assert store.recent(Query(limit=20, since=since, until=until)).entries == window[:20]
    # A tie at scale (instants shared at i = 1000k and 1000k + 1), ordered by id descending.
    tie_time = rows[1001]["dateTime"]
    tied = [r for r in newest if r["dateTime"] == tie_time]
    assert len(tied) == 2
    just_after = (datetime.fromisoformat(tie_time) + timedelta(microseconds=1)).isoformat(timespec="microseconds")
    got = store.recent(Query(limit=2, until=just_after)).entries
    assert got == tied
