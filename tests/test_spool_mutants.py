"""The spool's promises one at a time, on real files (gaps found by mutation testing of spool.py).

File names and modes, exact bytes written and kept, the lock, every error message, no file
descriptor left open, and naming a spool by target or key. A full disk is the real /dev/full
behind a symlink where the spool writes; a short or stalled write is the spool's own `write` seam.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import itertools
import json
import os
import resource
import stat

import pytest

from logsvc.entry import MAX_BATCH_BYTES, normalise, serialise
from logsvc.errors import UsageError
from logsvc.spool import _CHUNK_BYTES, Spool, SpoolWriteError, all_spools, named_spool, spools
from logsvc.store import StoreUnavailable

TARGET = "url http://127.0.0.1:1/ingest auth=none"
FULL = "/dev/full"  # every write to it fails with ENOSPC: a real full disk


def entries(count: int, prefix: str = "m") -> list[dict]:
    return [normalise({"severity": "info", "message": f"{prefix}{i}"}) for i in range(count)]


def lines(items: list[dict]) -> bytes:
    return b"".join(serialise(entry).encode("utf-8") + b"\n" for entry in items)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def key_of(target: str) -> str:
    return hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]


def locked_elsewhere(spool: Spool) -> bool:
    """Whether another open file description holds the spool's lock (flock locks are per description)."""
    with open(spool.path.with_suffix(".lock"), "a") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(other, fcntl.LOCK_UN)
        return False


# -- files: names, modes, contents ------------------------------------------------------------------


def test_the_spool_files_are_named_by_the_targets_key_and_private(tmp_path):
    """Spools written by earlier versions must still be found: the layout on disk is a contract."""
    directory = tmp_path / "a" / "b" / "spool"  # folders made as needed
    spool = Spool(TARGET, directory)
    key = key_of(TARGET)
    assert spool.key == key and len(key) == 16
    assert spool.path == directory / f"{key}.jsonl"
    assert spool.quarantine_path == directory / f"{key}.quarantine.jsonl"
    assert spool.append(entries(2)) == 2
    assert (directory / f"{key}.target").read_bytes() == TARGET.encode() + b"\n"
    assert mode(spool.path) == 0o600 and mode(directory / f"{key}.target") == 0o600
    rejected = spool.reject(entries(1, "r"))
    assert rejected == directory / f"{key}.rejected.jsonl"
    assert mode(rejected) == 0o600


def test_without_a_folder_the_spool_lives_in_the_data_folder(isolated):
    spool = Spool(TARGET)
    assert spool.path == isolated / "logsvc" / "spool" / f"{key_of(TARGET)}.jsonl"
    spool.append(entries(1))
    assert all_spools() == [(TARGET, 1)]
    assert named_spool(TARGET).path == spool.path


def test_appending_nothing_adds_and_creates_nothing(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    assert spool.append([]) == 0
    assert spool.append(iter(())) == 0
    assert not (tmp_path / "spool").exists()


def test_append_writes_one_compact_line_an_entry_and_returns_how_many(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    first, second = entries(3, "a"), entries(2, "b")
    assert spool.append(first) == 3
    assert spool.append(iter(second)) == 2  # a generator, its first item read ahead
    assert spool.path.read_bytes() == lines(first + second)  # no blank line between appends
    assert spool.count() == 5


def test_an_append_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    spool.append(entries(1, "a"))
    with open(spool.path, "ab") as handle:
        handle.write(b'{"id": "torn')
    later = entries(1, "b")
    spool.append(later)
    assert spool.path.read_bytes().endswith(b'{"id": "torn\n' + lines(later))
    assert spool.count() == 3


def test_rejected_entries_are_appended_to_their_own_file(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    spooled = entries(1, "s")
    spool.append(spooled)  # refusals come from a flush: the folder is there
    first, second = entries(2, "a"), entries(1, "b")
    path = spool.reject(first)
    assert spool.reject(second) == path
    assert path.read_bytes() == lines(first + second)
    assert spool.path.read_bytes() == lines(spooled)


def test_count_ignores_blank_lines_and_counts_bad_ones_until_a_flush_sets_them_aside(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    assert spool.count() == 0
    spool.append(entries(2))
    with open(spool.path, "ab") as handle:
        handle.write(b"\n   \n\xff\xfe not utf-8\n")
    assert spool.count() == 3


def test_a_huge_append_is_written_a_mebibyte_at_a_time(tmp_path):
    directory = tmp_path / "spool"
    Spool(TARGET, directory).append(entries(1))  # the label exists: every write below is the spool's
    base = len(serialise(normalise({"severity": "info", "message": "x"}))) - 1
    items = [normalise({"severity": "info", "message": "x" * (1023 - base)}) for _ in range(3 * 1024 + 5)]
    assert {len(serialise(entry)) + 1 for entry in items} == {1024}  # a line is 1 KiB with its newline
    sizes = []

    def write(fd, data):
        sizes.append(len(data))
        return os.write(fd, data)

    assert Spool(TARGET, directory, write=write).append(items) == len(items)
    assert sizes == [_CHUNK_BYTES] * 3 + [5 * 1024]
    assert Spool(TARGET, directory).count() == len(items) + 1


def test_a_new_file_has_its_folder_fsynced_too(tmp_path, monkeypatch):
    """A file's name is durable only once its folder is fsynced; an append to an existing file needs
    only the file's. (A spy on os.fsync that calls through: the files are real.)"""
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    spool = Spool(TARGET, tmp_path / "spool")

    def after(action) -> list[str]:
        synced.clear()
        action()
        return list(synced)

    assert after(lambda: spool.append(entries(1))) == ["file", "file", "folder"]  # label, spool, folder
    assert after(lambda: spool.append(entries(1))) == ["file"]
    spool.path.unlink()  # the spool emptied by hand, its label left
    assert after(lambda: spool.append(entries(1))) == ["file", "folder"]
    (tmp_path / "spool" / f"{spool.key}.target").unlink()  # a spool without a label (an older version's)
    assert after(lambda: spool.append(entries(1))) == ["file", "file", "folder"]
    assert after(lambda: spool.reject(entries(1))) == ["file", "folder"]
    assert after(lambda: spool.reject(entries(1))) == ["file"]
    with open(spool.path, "ab") as handle:
        handle.write(b"bad\nworse\n")
    assert after(lambda: spool.flush(lambda batch: None)) == ["file", "folder", "file", "file", "folder"]


# -- short, stalled and failing writes ------------------------------------------------------------------


def test_writes_of_one_byte_at_a_time_still_write_every_byte(tmp_path):
    calls = []

    def one_byte(fd, data):
        calls.append(len(data))
        return os.write(fd, bytes(data[:1]))

    spool = Spool(TARGET, tmp_path / "spool", write=one_byte)
    items = entries(2)
    assert spool.append(items) == 2
    assert spool.path.read_bytes() == lines(items)
    assert len(calls) == len(lines(items)) + len(TARGET) + 1  # the label too, byte by byte
    assert Spool(TARGET, tmp_path / "spool").flush(lambda batch: None) == 2


def test_a_write_that_makes_no_progress_is_a_full_disk_and_the_append_is_undone(tmp_path):
    directory = tmp_path / "spool"
    earlier = entries(2, "earlier")
    Spool(TARGET, directory).append(earlier)
    stalled = Spool(TARGET, directory, write=lambda fd, data: 0)
    before = open_fds()
    with pytest.raises(SpoolWriteError) as raised:
        stalled.append(entries(3))
    assert raised.value.message == (f"cannot write the spool {stalled.path}: no space left on device "
                                    "(a write made no progress); the entries were not kept")
    assert raised.value.hint() == f"free space in {directory}, then send them again"
    assert raised.value.__cause__.errno == errno.ENOSPC  # a full disk, as the OS would say it
    assert stalled.path.read_bytes() == lines(earlier)
    assert open_fds() == before


def test_a_first_append_on_a_full_disk_leaves_no_label_that_would_hide_the_spool_later(tmp_path):
    directory = tmp_path / "spool"
    with pytest.raises(SpoolWriteError):
        Spool(TARGET, directory, write=lambda fd, data: 0).append(entries(1))
    assert not (directory / f"{key_of(TARGET)}.target").exists()
    assert Spool(TARGET, directory).append(entries(2)) == 2  # the disk has room again
    assert all_spools(directory) == [(TARGET, 2)]


def test_appends_and_flushes_hold_the_spools_lock_and_release_it(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    seen = []

    def write(fd, data):
        seen.append(locked_elsewhere(spool))
        return os.write(fd, data)

    Spool(TARGET, tmp_path / "spool", write=write).append(entries(1))
    assert seen and all(seen)
    assert spool.flush(lambda batch: seen.append(locked_elsewhere(spool))) == 1
    assert seen[-1] is True
    assert locked_elsewhere(spool) is False


def test_no_file_descriptor_is_left_open(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    before = open_fds()
    spool.append(entries(3))
    spool.reject(entries(1))
    with open(spool.path, "ab") as handle:
        handle.write(b"not json\n")

    def fail(batch):
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        spool.flush(fail)
    spool.flush(lambda batch: None)
    spool.append(entries(1))
    spool.discard()
    assert open_fds() == before


# -- flush: what it delivers, keeps and sets aside ------------------------------------------------------


def test_a_fully_delivered_spool_is_removed_with_its_label(tmp_path):
    directory = tmp_path / "spool"
    spool = Spool(TARGET, directory)
    spool.append(entries(3))
    assert spool.flush(lambda batch: None) == 3
    assert sorted(path.name for path in directory.iterdir()) == [f"{spool.key}.lock"]
    assert all_spools(directory) == []


def test_a_blank_line_in_the_middle_does_not_end_the_flush(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    first, second = entries(2, "a"), entries(2, "b")
    spool.append(first)
    with open(spool.path, "ab") as handle:
        handle.write(b"\n  \n")
    spool.append(second)
    delivered = []
    assert spool.flush(delivered.extend) == 4
    assert delivered == first + second
    assert not spool.path.exists()


def test_a_failed_flush_keeps_the_undelivered_lines_byte_for_byte_each_ending_its_line(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    items = entries(3)
    spool.path.parent.mkdir(parents=True)
    spool.path.write_bytes(lines(items).rstrip(b"\n"))  # the last line lost its newline

    def fail(batch):
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        spool.flush(fail)
    assert spool.path.read_bytes() == lines(items)
    assert not spool.path.with_suffix(".tmp").exists()


def test_flush_packs_a_batch_up_to_exactly_the_services_byte_limit(tmp_path):
    """Each line's length bounds its entry's size exactly (lines are compact): no byte is wasted."""
    base = len(serialise(normalise({"severity": "info", "message": "x"}))) - 1
    sizes = [2620] * 399
    sizes.append(MAX_BATCH_BYTES - 2 - 399 - sum(sizes))  # the brackets and the 399 commas
    items = [normalise({"severity": "info", "message": "x" * (size - base)}) for size in sizes]
    items += entries(1, "after")
    assert [len(serialise(entry)) for entry in items[:400]] == sizes
    spool = Spool(TARGET, tmp_path / "spool")
    spool.append(items)
    batches = []
    assert spool.flush(batches.append) == 401
    assert [len(batch) for batch in batches] == [400, 1]
    body = json.dumps(batches[0], ensure_ascii=False, separators=(",", ":"))
    assert len(body.encode("utf-8")) == MAX_BATCH_BYTES


@pytest.mark.parametrize("bad", [
    b"[1]",  # JSON, not an object
    b'{"id": 5, "message": "x"}',  # an id that is not a string
    b'{"message": "no id"}',
    b"[" * 100_000,  # too deep to decode
    b'{"id": "torn ',  # torn, ending in a space: set aside byte for byte
    b'{"message": "MAX',  # and ending in an X
])
def test_a_line_that_is_not_an_entry_is_set_aside_byte_for_byte(tmp_path, bad):
    spool = Spool(TARGET, tmp_path / "spool")
    first, second = entries(1, "a"), entries(1, "b")
    spool.append(first)
    with open(spool.path, "ab") as handle:
        handle.write(bad + b"\r\n")
    spool.append(second)
    delivered, quarantined = [], []
    assert spool.flush(delivered.extend, quarantined.append) == 2
    assert delivered == first + second
    assert quarantined == [1]
    assert spool.quarantine_path.read_bytes() == bad + b"\n"
    assert mode(spool.quarantine_path) == 0o600


def test_lines_are_set_aside_without_a_callback_too(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    spool.append(entries(1))
    with open(spool.path, "ab") as handle:
        handle.write(b"nope\nnor this\n")
    assert spool.flush(lambda batch: None) == 1
    assert spool.quarantine_path.read_bytes() == b"nope\nnor this\n"


def test_a_full_disk_for_the_quarantine_keeps_the_bad_line_and_the_rest_in_the_spool(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    items = entries(502)
    spool.append(items[:501])
    with open(spool.path, "ab") as handle:
        handle.write(b"bad line\n")
    spool.append(items[501:])
    spool.quarantine_path.symlink_to(FULL)
    delivered = []
    with pytest.raises(SpoolWriteError) as raised:
        spool.flush(delivered.extend)
    assert raised.value.message == f"cannot write the quarantine file {spool.quarantine_path}: No space left on device"
    assert raised.value.hint() == f"free space in {spool.path.parent} and flush again"
    assert delivered == items[:500]  # the first batch went before the bad line was read
    assert spool.path.read_bytes() == lines(items[500:501]) + b"bad line\n" + lines(items[501:])


def test_a_full_disk_while_rewriting_leaves_the_spool_untouched(tmp_path):
    spool = Spool(TARGET, tmp_path / "spool")
    items = entries(600)
    spool.append(items)
    before = spool.path.read_bytes()
    spool.path.with_suffix(".tmp").symlink_to(FULL)
    calls = []

    def deliver(batch):
        calls.append(batch)
        if len(calls) == 2:
            raise StoreUnavailable("down")

    fds = open_fds()
    with pytest.raises(SpoolWriteError) as raised:
        spool.flush(deliver)
    assert raised.value.message == f"cannot rewrite the spool {spool.path}: No space left on device"
    assert raised.value.hint() == f"free space in {spool.path.parent}; delivered entries are replayed harmlessly"
    assert spool.path.read_bytes() == before  # the first batch is replayed next time: harmless
    assert not os.path.lexists(spool.path.with_suffix(".tmp"))
    assert open_fds() == fds


def test_a_spool_without_a_label_flushes_completely(tmp_path):
    """Spools written before labels existed have none: delivering them all must not fail."""
    spool = Spool(TARGET, tmp_path / "spool")
    items = entries(3)
    spool.append(items)
    (tmp_path / "spool" / f"{spool.key}.target").unlink()
    delivered = []
    assert spool.flush(delivered.extend) == 3
    assert delivered == items and not spool.path.exists()


def test_a_rewrite_that_cannot_even_create_its_file_is_a_spool_write_error(tmp_path):
    """Out of file descriptors when the flush stops: the temporary file never exists."""
    spool = Spool(TARGET, tmp_path / "spool")
    spool.append(entries(3))
    before = spool.path.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hogs: list[int] = []

    def deliver(batch):
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(open_fds()) + 4, hard))
        with pytest.raises(OSError) as exhausted:
            while True:
                hogs.append(os.open("/dev/null", os.O_RDONLY))
        assert exhausted.value.errno == errno.EMFILE
        raise StoreUnavailable("down")

    try:
        with pytest.raises(SpoolWriteError) as raised:
            spool.flush(deliver)
    finally:
        for fd in hogs:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert raised.value.message.startswith(f"cannot rewrite the spool {spool.path}: Too many open files")
    assert spool.path.read_bytes() == before
    assert not spool.path.with_suffix(".tmp").exists()


# -- discard ---------------------------------------------------------------------------------------------


def test_discard_drops_the_entries_and_label_and_keeps_what_was_set_aside(tmp_path):
    directory = tmp_path / "spool"
    spool = Spool(TARGET, directory)
    assert spool.discard() == 0  # nothing spooled yet: nothing to remove, no error
    spool.append(entries(3))
    with open(spool.path, "ab") as handle:
        handle.write(b"bad\n")
    assert spool.flush(lambda batch: None) == 3  # the bad line set aside
    spool.append(entries(2))
    spool.reject(entries(1))
    assert spool.discard() == 2
    assert not spool.path.exists() and not (directory / f"{spool.key}.target").exists()
    assert spool.quarantine_path.read_bytes() == b"bad\n"
    assert spool.path.with_suffix(".rejected.jsonl").exists()
    assert spool.discard() == 0
    assert all_spools(directory) == []


# -- listing and naming spools ---------------------------------------------------------------------------


def colliding_targets(width: int = 4) -> tuple[str, str]:
    """Two targets whose keys share their first `width` characters."""
    seen: dict[str, str] = {}
    for n in itertools.count():
        target = f"url http://127.0.0.1:{n}/ingest auth=none"
        prefix = key_of(target)[:width]
        if prefix in seen:
            return seen[prefix], target
        seen[prefix] = target


def test_spools_lists_those_with_entries_in_key_order(tmp_path):
    directory = tmp_path / "spool"
    assert spools(directory) == [] and all_spools(directory) == []
    targets = [f"url http://127.0.0.1:{port}/ingest auth=none" for port in (1, 2, 3, 4)]
    for count, target in enumerate(targets, start=1):
        Spool(target, directory).append(entries(count))
    emptied = Spool(targets[0], directory)
    emptied.path.write_bytes(b"\n")  # a label whose spool holds nothing: not listed
    expected = sorted((key_of(target), target, count) for count, target in enumerate(targets, start=1) if count > 1)
    assert all_spools(directory) == [(target, count) for _, target, count in expected]
    assert [(spool.key, count) for spool, count in spools(directory)] == [(key, count) for key, _, count in expected]


def test_a_spool_is_named_by_its_target_even_with_spaces_around_it(tmp_path):
    directory = tmp_path / "elsewhere"  # not the data folder: the given folder is the one searched
    Spool(TARGET, directory).append(entries(1))
    Spool(TARGET + "x", directory).append(entries(1))
    assert named_spool(TARGET, directory).target == TARGET
    assert named_spool(TARGET, directory).path == Spool(TARGET, directory).path
    assert named_spool(f"  {TARGET}\n", directory).target == TARGET


def test_a_spool_is_named_by_four_or_more_characters_of_its_key_in_any_case(tmp_path):
    directory = tmp_path / "spool"
    Spool(TARGET, directory).append(entries(1))
    key = key_of(TARGET)
    assert named_spool(key, directory).key == key
    assert named_spool(key[:4], directory).key == key
    assert named_spool(key[:5].upper(), directory).key == key
    with pytest.raises(UsageError) as raised:
        named_spool(key[:3], directory)
    assert raised.value.message == f"no spool named {key[:3]!r}"
    assert raised.value.hint() == "`logsvc status` lists the spools and their keys"


def test_an_exact_target_wins_over_a_key_it_happens_to_begin(tmp_path):
    directory = tmp_path / "spool"
    other = TARGET
    name = key_of(other)[:4]  # a target spelled like the start of another spool's key
    Spool(other, directory).append(entries(1))
    Spool(name, directory).append(entries(1))
    assert named_spool(name, directory).target == name
    assert named_spool(name + " ", directory).target == name


def test_a_key_prefix_shared_by_two_spools_names_neither(tmp_path):
    directory = tmp_path / "spool"
    first, second = colliding_targets()
    for target in (first, second):
        Spool(target, directory).append(entries(1))
    prefix = key_of(first)[:4]
    with pytest.raises(UsageError) as raised:
        named_spool(prefix, directory)
    assert raised.value.message == f"{prefix!r} names 2 spools"
    assert raised.value.hint() == "give more characters of the key"
    assert named_spool(key_of(second), directory).target == second


def test_naming_a_spool_in_a_folder_that_does_not_exist_finds_none(tmp_path):
    with pytest.raises(UsageError) as raised:
        named_spool("abcd", tmp_path / "missing")
    assert raised.value.message == "no spool named 'abcd'"
