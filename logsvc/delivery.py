"""Delivery that loses nothing: what a remote target cannot take now is spooled, durably.

Retries with backoff happen inside each store; when a store still gives up
(`StoreUnavailable`), the entries it did not store go to the target's spool and `SpooledError`
tells the user (exit code 5). Validation errors are never spooled: they are reported.
"""

from __future__ import annotations

import json
import tempfile
from collections import deque
from contextlib import contextmanager
from itertools import chain
from typing import Iterable, Iterator

from logsvc.entry import batches, serialise
from logsvc.errors import Interrupted, InvalidInputError, SpooledError, UsageError
from logsvc.spool import Spool, SpoolWriteError
from logsvc.store import ConflictError, PutResult, StoreUnavailable


def spool_for(settings) -> Spool | None:
    """The spool of the target in `settings`; None for the local store, which needs none."""
    target = settings["target"]
    if target == "url":
        return Spool(f"url {settings['ingest_url']} auth={settings['auth']}")
    if target == "dynamodb":
        return Spool(f"dynamodb {settings['table']} region={settings['region'] or ''} "
                     f"endpoint={settings['endpoint_url'] or ''}")
    return None


def target_flags(spool: Spool) -> dict[str, str | None]:
    """The settings naming a spool's target (the inverse of `spool_for`), to deliver a spool
    whose target is no longer the configured one."""
    kind, _, rest = spool.target.partition(" ")
    name, *fields = rest.split(" ")
    options = dict(field.partition("=")[::2] for field in fields)
    if kind == "url":
        return {"target": "url", "ingest_url": name, "auth": options.get("auth") or None}
    if kind == "dynamodb":
        return {"target": "dynamodb", "table": name, "region": options.get("region") or None,
                "endpoint_url": options.get("endpoint") or None}
    raise UsageError(f"the spool {spool.key} names an unknown target {spool.target!r}",
                     hint=f"look at {spool.path}, then discard it with `logsvc flush --spool {spool.key} --discard`")


def put(backend, entries: list[dict], spool: Spool | None) -> PutResult:
    """Store entries; if the target stays unavailable, spool those not stored and raise SpooledError."""
    try:
        return backend.put(entries)
    except StoreUnavailable as exc:
        if spool is None:
            raise
        raise _spooled(spool, entries, set(exc.stored), exc) from exc
    except KeyboardInterrupt:
        if spool is None:
            raise
        raise _interrupted(spool, entries) from None


def _interrupted(spool: Spool, entries: Iterable[dict], stored_before: int = 0) -> Interrupted:
    """Ctrl-C while a remote target was slow or being retried: whether the entries in flight
    arrived is unknown, so keep them all (the ids are the client's: a replay stores nothing twice)
    rather than drop them unsaid."""
    count = spool.append(entries)
    before = f"the {stored_before} sent before are stored; " if stored_before else ""
    return Interrupted(f"interrupted; {before}{count} entr{'y' if count == 1 else 'ies'} not known to be "
                       "delivered kept in the spool",
                       hint="`logsvc flush` delivers them (any that did arrive are replayed harmlessly)")


def _spooled(spool: Spool, entries: Iterable[dict], stored: set[str], exc: StoreUnavailable) -> SpooledError:
    """Spool the entries not in `stored` in one append; the error that says so.

    If the spool cannot be written either, SpoolWriteError (exit 4) says that nothing was kept.
    """
    try:
        count = spool.append(entry for entry in entries if entry["id"] not in stored)
    except SpoolWriteError as error:
        raise SpoolWriteError(f"{exc}; and {error.message}", hint=error.hint()) from exc
    return SpooledError(
        f"{exc}; {count} entr{'y' if count == 1 else 'ies'} kept in the spool",
        hint="`logsvc flush` delivers them when the target is back; `logsvc status` shows what waits",
    )


class FlushReport:
    """What `flush` did: entries delivered, and those set aside because their id clashes."""

    def __init__(self) -> None:
        self.delivered = 0
        self.rejected: list[str] = []
        self.rejected_file = None
        self.quarantined = 0  # spool lines that were not entries (torn, undecodable), set aside
        self.quarantine_file = None


def flush(backend, spool: Spool, report: FlushReport) -> None:
    """Deliver the spool, counting in `report` (also when it stops part-way by raising).

    An entry whose id the target holds with other content can never be delivered: it goes to a
    `.rejected.jsonl` file beside the spool and the rest carries on. So does a line that is not
    an entry (torn by a crash, undecodable): it goes to the spool's quarantine file.
    """

    def deliver(batch: list[dict]) -> None:
        while batch:
            try:
                backend.put(batch)
            except ConflictError as exc:
                clashing = set(exc.ids) & {entry["id"] for entry in batch}
                if not clashing:
                    raise  # a conflict naming none of these ids: nothing to set aside, stop here
                report.rejected_file = spool.reject([entry for entry in batch if entry["id"] in clashing])
                report.rejected.extend(entry["id"] for entry in batch if entry["id"] in clashing)
                batch = [entry for entry in batch if entry["id"] not in clashing]
                continue
            report.delivered += len(batch)
            return

    def quarantined(count: int) -> None:
        report.quarantined += count
        report.quarantine_file = spool.quarantine_path

    spool.flush(deliver, on_quarantine=quarantined)


class RemoteBulk:
    """Bulk writes for remote targets: stage to a temporary file, send in batches at the end
    (`entry.batches`: what one ingest request takes, by count and by size).

    Nothing is sent until the whole input has been validated, so an invalid batch stores
    nothing; memory stays at one batch. If the target gives up part-way, the rest is spooled.
    """

    def __init__(self, backend, spool: Spool | None) -> None:
        self._backend = backend
        self._spool = spool
        self._staged = tempfile.TemporaryFile()
        self.stored = 0
        self.replayed = 0

    def write(self, entries: list[dict]) -> None:
        self._staged.write("".join(serialise(entry) + "\n" for entry in entries).encode("utf-8"))

    def send(self) -> None:
        self._staged.seek(0)
        read: deque[bytes] = deque()  # lines read from the file and not sent yet

        def staged() -> Iterator[tuple[int, bytes]]:
            for line in self._staged:
                read.append(line)
                # Lines hold the compact form: a line's length is the entry's size in a request body.
                yield len(line) - 1, line

        for batch in batches(staged(), lambda item: item[0]):
            for _ in batch:
                read.popleft()
            # What was never tried: the line the batcher read ahead, and the rest of the file.
            self._send([json.loads(line) for _, line in batch], untried=chain(read, self._staged))

    def _send(self, batch: list[dict], untried: Iterable[bytes] = ()) -> None:
        try:
            result = self._backend.put(batch)
        except ConflictError as exc:
            if not self.stored and not self.replayed:
                raise
            # Earlier batches are in: say so, since the local store's "nothing stored" does not hold.
            raise InvalidInputError(
                f"{exc}; the {self.stored + self.replayed} entries sent before it are stored, the rest are not",
                hint="fix or drop the conflicting lines and send the file again: stored entries are replayed harmlessly",
            ) from exc
        except StoreUnavailable as exc:
            if self._spool is None:
                raise
            # This batch's entries not stored and everything never tried, in one append.
            rest = (json.loads(line) for line in untried)
            raise _spooled(self._spool, chain(batch, rest), set(exc.stored), exc) from exc
        except KeyboardInterrupt:
            if self._spool is None:
                raise
            rest = (json.loads(line) for line in untried)
            raise _interrupted(self._spool, chain(batch, rest), self.stored + self.replayed) from None
        self.stored += len(result.stored)
        self.replayed += len(result.replayed)

    def close(self) -> None:
        self._staged.close()


@contextmanager
def bulk(backend, spool: Spool | None) -> Iterator:
    """The target's own bulk writer (the local store's transaction) or a RemoteBulk."""
    own = getattr(backend, "bulk", None)
    if own is not None:
        with own() as writer:
            yield writer
        return
    writer = RemoteBulk(backend, spool)
    try:
        yield writer
        writer.send()
    finally:
        writer.close()
