"""The local spool: entries that could not be delivered wait here for `logsvc flush`.

One JSON Lines file per target, appended and fsynced before `send` returns, so an entry that
was accepted on the command line is never lost: either every entry of an append is written and
fsynced, or none is kept and `SpoolWriteError` says so (a short write is continued, a full disk
undoes the append). Files are created and replaced with their folder fsynced too. Appends and
flushes take an exclusive lock on the file, so a flush never races a send: what flush removes
is exactly what it delivered, or what it set aside in the quarantine file (a torn or undecodable
line, e.g. half a line left by a crash), so one bad line never blocks the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Callable, Iterable, Iterator

from logsvc.config import data_dir
from logsvc.entry import batches, serialise
from logsvc.errors import StoreError, UsageError

_CHUNK_BYTES = 1024 * 1024  # an append writes this much at a time, so a huge one costs no more memory
# Mutation testing (scripts/mutation.sh): "utf-8" spelled "UTF-8" is equivalent (codec names ignore
# case), and so is encoding=None for the labels (the locale's codec: UTF-8 on the POSIX systems fcntl
# limits us to, C locale included, by Python's locale coercion).


class SpoolWriteError(StoreError):
    """The spool could not be written (a full disk, ...): the entries of that append were not kept."""


def spool_dir() -> Path:
    return data_dir() / "spool"


class Spool:
    """The spool of one target, named by a description such as `url https://...`.

    `write` is the low-level writer (`os.write`), a seam for tests to simulate short writes.
    """

    def __init__(self, target: str, directory: Path | None = None, *,
                 write: Callable[[int, bytes], int] = os.write) -> None:
        self.target = target
        directory = directory or spool_dir()
        self.key = hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
        self.path = directory / f"{self.key}.jsonl"
        self.quarantine_path = directory / f"{self.key}.quarantine.jsonl"
        self._label = directory / f"{self.key}.target"
        self._write = write

    @contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, entries: Iterable[dict]) -> int:
        """Add entries durably: all written and fsynced before this returns, or SpoolWriteError
        and none kept. Returns how many were added."""
        items = iter(entries)
        first = next(items, None)
        if first is None:
            return 0
        with self._locked():
            created = not self.path.exists()  # `created` only decides whether the folder is fsynced
            try:
                created = self._write_label() or created
                count = self._append_lines(self.path, (serialise(entry).encode("utf-8") for entry in chain([first], items)))
            except OSError as exc:
                raise SpoolWriteError(f"cannot write the spool {self.path}: {exc.strerror or exc}; "
                                      "the entries were not kept",
                                      hint=f"free space in {self.path.parent}, then send them again") from exc
            if created:
                _fsync_dir(self.path.parent)
            return count

    def _write_label(self) -> bool:
        """Name the target beside its spool (for `status` and `flush --spool`); True if created now."""
        if self._label.exists():
            return False
        fd = os.open(self._label, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self._write_all(fd, (self.target + "\n").encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            self._label.unlink()  # an empty label would hide this spool from `status` for good
            raise
        finally:
            os.close(fd)
        return True

    def _append_lines(self, path: Path, lines: Iterable[bytes]) -> int:
        """Append lines (without their newline) to `path`, all or nothing (truncated back on
        failure); how many."""
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            # A crash may have left a torn last line: start on a line of our own, never glued to it.
            parts = [b"\n"] if size and os.pread(fd, 1, size - 1) != b"\n" else []  # (2 bytes at size-1: 1 read)
            pending, count = sum(map(len, parts)), 0
            try:
                for line in lines:
                    data = line + b"\n"
                    parts.append(data)
                    pending, count = pending + len(data), count + 1
                    if pending >= _CHUNK_BYTES:
                        self._write_all(fd, b"".join(parts))
                        parts, pending = [], 0  # (pending = 1: chunks a byte smaller, the same bytes written)
                if parts:
                    self._write_all(fd, b"".join(parts))
                os.fsync(fd)
            except BaseException:
                try:
                    os.ftruncate(fd, size)  # nothing of this append stays: no torn line, no claim
                    os.fsync(fd)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)
        return count

    def _write_all(self, fd: int, data: bytes) -> None:
        """Write all of `data`: a short write (a nearly full disk) is continued, no progress is an error."""
        view = memoryview(data)
        while view:
            written = self._write(fd, view)
            if written <= 0:
                import errno

                raise OSError(errno.ENOSPC, "no space left on device (a write made no progress)")
            view = view[written:]

    def reject(self, entries: list[dict]) -> Path:
        """Keep entries the target refused for good (an id stored with other content) out of the way."""
        rejected = self.path.with_suffix(".rejected.jsonl")
        created = not rejected.exists()
        self._append_lines(rejected, (serialise(entry).encode("utf-8") for entry in entries))
        if created:
            _fsync_dir(rejected.parent)
        return rejected

    def count(self) -> int:
        try:
            with open(self.path, "rb") as spooled:
                return sum(1 for line in spooled if line.strip())
        except FileNotFoundError:
            return 0

    def flush(self, deliver: Callable[[list[dict]], None],
              on_quarantine: Callable[[int], None] | None = None) -> int:
        """Deliver the spooled entries a batch at a time; keep exactly those not delivered.

        Streams the file, so a large spool costs one batch of memory. `deliver` raises to stop:
        what it delivered before that is removed, the rest stays. A line that is not an entry
        (torn, undecodable) is moved to `quarantine_path` and `on_quarantine(1)` is called; the
        flush carries on. Returns how many were delivered.
        """
        with self._locked():
            try:
                spooled = open(self.path, "rb")
            except FileNotFoundError:
                return 0
            with spooled:
                pending: deque[bytes] = deque()  # lines read and not yet delivered, in file order

                def intact() -> Iterator[tuple[int, dict]]:
                    for line in spooled:
                        if not line.strip():
                            continue
                        entry = _decode(line)
                        if entry is None:
                            try:
                                self._set_aside(line)
                            except OSError as exc:
                                pending.append(line)  # not set aside: it stays in the spool
                                raise SpoolWriteError(
                                    f"cannot write the quarantine file {self.quarantine_path}: {exc.strerror or exc}",
                                    hint=f"free space in {self.path.parent} and flush again") from exc
                            if on_quarantine:
                                on_quarantine(1)
                            continue
                        pending.append(line)
                        # The line's length bounds its compact form (it was written compact or roomier).
                        yield len(line.strip()), entry

                delivered = 0
                try:
                    for batch in batches(intact(), lambda item: item[0]):
                        deliver([entry for _, entry in batch])
                        for _ in batch:
                            pending.popleft()
                        delivered += len(batch)
                finally:
                    self._keep(pending, spooled)
            return delivered

    def _set_aside(self, line: bytes) -> None:
        """Move a bad line, byte for byte, to the quarantine file (before the spool forgets it)."""
        created = not self.quarantine_path.exists()
        self._append_lines(self.quarantine_path, [line.rstrip(b"\r\n")])
        if created:
            _fsync_dir(self.quarantine_path.parent)

    def _keep(self, lines: Iterable[bytes], rest) -> None:
        """Replace the spool with `lines` and what is left unread of `rest`."""
        import shutil

        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as out:
                out.writelines(line if line.endswith(b"\n") else line + b"\n" for line in lines)
                shutil.copyfileobj(rest, out)
                out.flush()
                os.fsync(out.fileno())
                empty = out.tell() == 0
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # the spool itself is untouched: at worst entries are replayed
            raise SpoolWriteError(f"cannot rewrite the spool {self.path}: {exc.strerror or exc}",
                                  hint=f"free space in {self.path.parent}; delivered entries are replayed harmlessly") from exc
        if empty:
            tmp.unlink()
            # (missing_ok=False: equivalent while every remover takes the lock, as flush holds it)
            self.path.unlink(missing_ok=True)
            self._label.unlink(missing_ok=True)
        else:
            os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def discard(self) -> int:
        """Delete the spooled entries (set-aside files stay); how many there were."""
        with self._locked():
            dropped = self.count()
            self.path.unlink(missing_ok=True)
            self._label.unlink(missing_ok=True)
            _fsync_dir(self.path.parent)
        return dropped


def _decode(line: bytes) -> dict | None:
    """The entry on a spool line, or None when the line is torn or not an entry."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):  # ValueError covers bad JSON and bad UTF-8
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    return entry


def _fsync_dir(directory: Path) -> None:
    """Make a file's creation, replacement or removal durable: fsync the folder that names it."""
    fd = os.open(directory, os.O_RDONLY)  # a folder opens read-only on POSIX (as fcntl needs)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def all_spools(directory: Path | None = None) -> list[tuple[str, int]]:
    """Every target with spooled entries, and how many wait: for `logsvc status`."""
    return [(spool.target, count) for spool, count in spools(directory)]


def spools(directory: Path | None = None) -> list[tuple[Spool, int]]:
    """Every spool holding entries, and how many wait."""
    directory = directory or spool_dir()
    found = []
    for label in sorted(directory.glob("*.target")):  # none in a folder that does not exist
        spool = Spool(label.read_text(encoding="utf-8").strip(), directory)
        count = spool.count()
        if count:
            found.append((spool, count))
    return found


def named_spool(name: str, directory: Path | None = None) -> Spool:
    """The spool named by its target description (as `status` shows it) or its key (or a prefix of 4+)."""
    directory = directory or spool_dir()
    labels = sorted(directory.glob("*.target"))
    known = [Spool(label.read_text(encoding="utf-8").strip(), directory) for label in labels]
    exact = [spool for spool in known if name.strip() == spool.target]
    matches = exact or [spool for spool in known if len(name) >= 4 and spool.key.startswith(name.lower())]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no spool named {name!r}", hint="`logsvc status` lists the spools and their keys")
    raise UsageError(f"{name!r} names {len(matches)} spools", hint="give more characters of the key")
