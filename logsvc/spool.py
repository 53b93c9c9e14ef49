"""The local spool: entries that could not be delivered wait here for `logsvc flush`.

One JSON Lines file per target, appended and fsynced before `send` returns, so an entry that
was accepted on the command line is never lost. Appends and flushes take an exclusive lock on
the file, so a flush never races a send: what flush removes is exactly what it delivered.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from logsvc.config import data_dir
from logsvc.entry import batches

def spool_dir() -> Path:
    return data_dir() / "spool"


class Spool:
    """The spool of one target, named by a description such as `url https://...`."""

    def __init__(self, target: str, directory: Path | None = None) -> None:
        self.target = target
        directory = directory or spool_dir()
        key = hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
        self.path = directory / f"{key}.jsonl"
        self._label = directory / f"{key}.target"

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

    def append(self, entries: list[dict]) -> None:
        """Add entries durably: written and fsynced before this returns."""
        if not entries:
            return
        data = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries).encode("utf-8")
        with self._locked():
            if not self._label.exists():
                self._label.write_text(self.target + "\n", encoding="utf-8")
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def reject(self, entries: list[dict]) -> Path:
        """Keep entries the target refused for good (an id stored with other content) out of the way."""
        rejected = self.path.with_suffix(".rejected.jsonl")
        with open(rejected, "a", encoding="utf-8") as out:
            out.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
            out.flush()
            os.fsync(out.fileno())
        return rejected

    def count(self) -> int:
        try:
            with open(self.path, "rb") as spooled:
                return sum(1 for line in spooled if line.strip())
        except FileNotFoundError:
            return 0

    def flush(self, deliver: Callable[[list[dict]], None]) -> int:
        """Deliver the spooled entries a batch at a time; keep exactly those not delivered.

        Streams the file, so a large spool costs one batch of memory. `deliver` raises to stop:
        what it delivered before that is removed, the rest stays. Returns how many were delivered.
        """
        with self._locked():
            try:
                spooled = open(self.path, "rb")
            except FileNotFoundError:
                return 0
            with spooled:
                pending: deque[bytes] = deque()  # lines read and not yet delivered, in file order

                def lines() -> Iterator[bytes]:
                    for line in spooled:
                        if line.strip():
                            pending.append(line)
                            yield line

                delivered = 0
                try:
                    # A line's length bounds its entry's compact form (it was written compact or roomier).
                    for batch in batches(lines(), lambda line: len(line.strip())):
                        deliver([json.loads(item) for item in batch])
                        for _ in batch:
                            pending.popleft()
                        delivered += len(batch)
                finally:
                    self._keep(pending, spooled)
            return delivered

    def _keep(self, batch: list[bytes], rest) -> None:
        """Replace the spool with `batch` and what is left unread of `rest`."""
        import shutil

        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.writelines(batch)
            shutil.copyfileobj(rest, out)
            out.flush()
            os.fsync(out.fileno())
            empty = out.tell() == 0
        if empty:
            tmp.unlink()
            self.path.unlink(missing_ok=True)
            self._label.unlink(missing_ok=True)
        else:
            os.replace(tmp, self.path)


def all_spools(directory: Path | None = None) -> list[tuple[str, int]]:
    """Every target with spooled entries, and how many wait: for `logsvc status`."""
    directory = directory or spool_dir()
    found = []
    for label in sorted(directory.glob("*.target")) if directory.exists() else []:
        target = label.read_text(encoding="utf-8").strip()
        count = Spool(target, directory).count()
        if count:
            found.append((target, count))
    return found
