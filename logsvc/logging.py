"""`LogsvcHandler`: a `logging.Handler` that ships an application's records to logsvc.

The application never waits on the network: `emit` turns the record into an entry and puts it
on a bounded in-memory queue. A background thread sends batches (up to 500 entries or 1 MiB,
after a short linger) through the same delivery path as `logsvc send`: the store's retries with
backoff, then the target's spool when it stays unreachable, so `logsvc flush` delivers later.
A full queue counts what it drops and says so in a warning entry of the next batch.
`flush()`, `close()` and interpreter exit deliver what is queued within a timeout; what is
still undelivered then goes to the spool. A forked child starts its own queue and thread.

Imports neither Typer, Rich nor boto3: httpx for the url target, botocore only to sign (iam).
Inside this module `import logging` is the standard library's (absolute imports).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
import time
import weakref

from logsvc.entry import MAX_BATCH_ENTRIES, MAX_ENTRY_BYTES, MAX_SOURCE_CHARS, serialise
from logsvc.errors import LogsvcError, UsageError
from logsvc.handler.common import MAX_BODY_BYTES
from logsvc.records import dropped_entry, hostname, record_entry
from logsvc.spool import SpoolWriteError
from logsvc.store import StoreFailure

__all__ = ["LogsvcHandler"]

_FIRST_RETRY = 1.0  # seconds a target that failed is skipped (batches go to the spool) ...
_MAX_RETRY = 30.0  # ... doubling up to this while it keeps failing


class _Marker:
    """Put on the queue by flush/close: the sender sends what came before it, then sets `done`."""

    __slots__ = ("done", "stop")

    def __init__(self, stop: bool = False) -> None:
        self.done = threading.Event()
        self.stop = stop


class LogsvcHandler(logging.Handler):
    """Send log records to logsvc without blocking the application, losing none of them.

    The target comes from the same settings as the CLI (`profile`, `LOGSVC_*` variables, the
    config file) unless `ingest_url` (and `auth`: none or iam) name it. `source` defaults to
    the host name. `queue_size` bounds the records waiting in memory; `timeout` bounds how long
    `flush()` and `close()` wait for delivery.
    """

    def __init__(self, level: int | str = logging.NOTSET, *, ingest_url: str | None = None,
                 auth: str | None = None, source: str | None = None, profile: str | None = None,
                 queue_size: int = 10_000, batch_entries: int = MAX_BATCH_ENTRIES,
                 batch_bytes: int = MAX_BODY_BYTES, linger: float = 0.2, timeout: float = 5.0) -> None:
        # logging.Handler.__init__ registers the handler for logging.shutdown at exit, so it comes
        # after every check: a handler refused here must not be flushed, half-built, at exit.
        from logsvc.config import resolve
        from logsvc.delivery import spool_for

        flags = {"target": "url" if ingest_url else None, "ingest_url": ingest_url, "auth": auth}
        self._settings = resolve(flags, profile=profile)
        if self._settings["target"] == "url" and not self._settings["ingest_url"]:
            raise UsageError("the url target needs ingest_url",
                             hint="pass ingest_url=..., set LOGSVC_INGEST_URL, or `logsvc config set ingest_url URL`")
        if source is not None and (not source.strip() or len(source) > MAX_SOURCE_CHARS):
            raise UsageError(f"source must be non-blank text of at most {MAX_SOURCE_CHARS} characters")
        self.source = source or hostname()
        # Room kept in every batch for the warning about dropped records that may join it.
        self._warning_room = len(serialise(dropped_entry(10**12, time.time(), queue_size, self.source))) * 2
        if queue_size < 1 or not 1 <= batch_entries <= MAX_BATCH_ENTRIES \
                or batch_bytes < MAX_ENTRY_BYTES + 2 + self._warning_room:
            raise UsageError(f"queue_size must be at least 1, batch_entries 1 to {MAX_BATCH_ENTRIES}, "
                             f"batch_bytes at least {MAX_ENTRY_BYTES + 2 + self._warning_room}")
        self.queue_size = queue_size
        self.batch_entries = batch_entries
        self.batch_bytes = batch_bytes
        self.linger = linger
        self.timeout = timeout
        self.spool = spool_for(self._settings)  # None for the local target, which needs none
        self._store = self._open()  # here, so that a bad configuration fails now, not in the thread
        try:
            super().__init__(level)
        except BaseException:  # a bad level: close what was opened for it
            self._store.close()
            raise
        self._fresh_state()
        _register(self)

    @property
    def target(self) -> str:
        """Where entries go: the target and its address, as the spool names it."""
        return self.spool.target if self.spool is not None else f"local {self._settings.store_path()}"

    @property
    def dropped(self) -> int:
        """Records dropped because the queue was full, not yet reported in an entry."""
        return self._dropped

    def _open(self):
        from logsvc.targets import open_store

        return open_store(self._settings)

    def _fresh_state(self) -> None:
        """A new queue and no sender: at construction and in a forked child."""
        self._queue: queue.Queue = queue.Queue(self.queue_size)
        self._dropped = 0
        self._dropped_since: float | None = None
        self._counter_lock = threading.Lock()
        self._wake = threading.Event()  # ends the sender's linger early
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._generation = 0  # a sender whose generation is past stops after its current batch
        self._in_flight: list[dict] = []
        self._retry_at = 0.0
        self._retry_delay = _FIRST_RETRY
        self._failing = False
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        # The parent's queue, thread, connections and locks are the parent's: the child sends its
        # own records through its own. Closing the parent's client here could disturb its sockets.
        self._store = None
        self._fresh_state()

    # -- the application's side -------------------------------------------------------------------

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler lock: the queue is thread-safe, and emit never waits."""
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+ filters may return a replacement
            record = rv
        if rv:
            self.emit(record)
        return rv

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's entry and return; a full queue counts a drop. Never raises."""
        if getattr(_sender, "active", False):
            return  # httpx and botocore log about our own requests: shipping those would never end
        try:
            entry = self.entry(record)
            if self._thread is None or self._pid != os.getpid():
                self._start()
            try:
                self._queue.put_nowait(entry)
                if self._queue.qsize() >= self.batch_entries:
                    self._wake.set()
            except queue.Full:
                with self._counter_lock:
                    self._dropped += 1
                    if self._dropped_since is None:
                        self._dropped_since = record.created
        except RecursionError:  # as logging's own handlers do
            raise
        except Exception:
            self.handleError(record)

    def entry(self, record: logging.LogRecord) -> dict:
        """The entry for a record: formatted message (and traceback), within the entry size limit."""
        return record_entry(record, self.format(record), self.source)

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver (or spool) everything queued so far; False if `timeout` ran out first."""
        return self._wait_for(_Marker(), self.timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, stop the sender and close the connection.

        If delivery does not finish within `timeout`, what is left goes to the spool (an entry
        both delivered and spooled is stored once: ids are the client's).
        """
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._start_lock:
            thread = self._thread
            if thread is not None and self._pid == os.getpid():
                if not self._wait_for(_Marker(stop=True), timeout):
                    self._generation += 1  # the stuck sender ends when its request does
                    self._rescue()
                thread.join(max(0.0, deadline - time.monotonic()))
                if not self._queue.empty():  # records other threads logged after the stop marker
                    self._rescue(in_flight=False)
            self._thread = None
            if self._store is not None:  # opened by the constructor, never handed to a sender
                self._store.close()
                self._store = None
        super().close()

    def _wait_for(self, marker: _Marker, timeout: float) -> bool:
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            return self._queue.empty()
        deadline = time.monotonic() + timeout
        try:
            self._queue.put(marker, timeout=max(0.0, timeout))
        except queue.Full:
            return False
        self._wake.set()
        return marker.done.wait(max(0.0, deadline - time.monotonic()))

    def _rescue(self, in_flight: bool = True) -> None:
        """Spool everything still queued, and the batch in flight when the sender is stuck."""
        entries = list(self._in_flight) if in_flight else []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Marker):
                item.done.set()
            else:
                entries.append(item)
        if self.spool is not None:
            self._keep(entries)
        elif entries:
            _report(f"{len(entries)} records not delivered to {self.target} before the timeout")

    def _start(self) -> None:
        with self._start_lock:
            if self._pid != os.getpid():
                self._after_fork()
            if self._thread is None:
                store, self._store = self._store, None  # the sender owns it from here on
                thread = threading.Thread(target=self._send_loop, args=(store, self._generation),
                                          name="logsvc-handler", daemon=True)
                thread.start()
                self._thread = thread

    # -- the sender thread ----------------------------------------------------------------------------

    def _send_loop(self, store, generation: int) -> None:
        _sender.active = True
        waiting = None  # an entry that did not fit in the last batch
        try:
            while True:
                batch, markers, waiting = self._next_batch(waiting)
                try:
                    if store is None:
                        store = self._open()  # in a forked child, or after close()
                    self._deliver(store, batch)
                except Exception:  # a bug or a full disk: say so with the traceback, as logging does; carry on
                    self._unexpected(batch)
                for marker in markers:
                    marker.done.set()
                if any(marker.stop for marker in markers) or generation != self._generation:
                    return
        finally:
            if store is not None:
                store.close()

    def _next_batch(self, item) -> tuple[list[dict], list[_Marker], dict | None]:
        """Entries up to the count and size limits or the linger time, stopping at a marker; and
        the entry that leads the next batch (one that did not fit), if any."""
        batch: list[dict] = []
        markers: list[_Marker] = []
        carried = None
        size = 1  # the opening bracket; each entry adds its size and a comma (or the closing bracket)
        if item is None:
            item = self._queue.get()
            if not isinstance(item, _Marker) and self._queue.qsize() < self.batch_entries:
                # Let a batch gather while the application runs undisturbed: one wake-up a batch,
                # not one a record. A full batch, flush() or close() cut the wait short.
                self._wake.wait(self.linger)
            self._wake.clear()
        while True:
            if isinstance(item, _Marker):
                markers.append(item)
                break
            item_size = len(serialise(item).encode("utf-8")) + 1
            if batch and size + item_size > self.batch_bytes - self._warning_room:
                carried = item
                break
            batch.append(item)
            size += item_size
            if len(batch) >= self.batch_entries:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        batch, bumped = self._with_drops(batch)
        return batch, markers, carried or bumped

    def _with_drops(self, batch: list[dict]) -> tuple[list[dict], dict | None]:
        """The batch, with a warning entry first if records were dropped since the last one.

        A batch already full when the warning joins it gives up its last entry, returned to lead
        the next batch. (Never put back on the queue: behind a flush or close marker it would be
        left out of what they deliver, and a full queue would drop it.)
        """
        with self._counter_lock:
            dropped, since = self._dropped, self._dropped_since
            self._dropped, self._dropped_since = 0, None
        if not dropped:
            return batch, None
        warning = dropped_entry(dropped, since, self.queue_size, self.source)
        if len(batch) >= self.batch_entries:  # (then no marker was taken: the loop stops at a full batch)
            return [warning, *batch[:-1]], batch[-1]
        return [warning, *batch], None

    def _deliver(self, store, batch: list[dict]) -> None:
        """Send through `logsvc.delivery.put`; while the target is failing, straight to the spool."""
        if not batch:
            return
        from logsvc import delivery
        from logsvc.errors import SpooledError

        self._in_flight = batch
        try:
            if self.spool is not None and time.monotonic() < self._retry_at:
                self._keep(batch)
                return
            try:
                delivery.put(store, batch, self.spool)
            except SpooledError as exc:
                self._failed(str(exc))
            except SpoolWriteError as exc:  # the target is down and the spool cannot be written
                self._drop(batch, exc)
            except (LogsvcError, StoreFailure) as exc:
                # Refused (credentials, URL, a clashing id) or, locally, unavailable: keep the entries
                # in the spool for `logsvc flush` once someone fixes it.
                if self.spool is not None:
                    if self._keep(batch):
                        self._failed(f"{_message(exc)}; {len(batch)} entries kept in the spool")
                else:
                    self._failed(f"{_message(exc)}; {len(batch)} entries not stored")
            else:
                if self._failing:
                    _report(f"delivering to {self.target} again")
                self._failing = False
                self._retry_delay = _FIRST_RETRY
        finally:
            self._in_flight = []

    def _failed(self, problem: str) -> None:
        if not self._failing:  # one line an outage, not one a batch
            _report(f"{problem} (`logsvc flush` delivers spooled entries later)")
        self._failing = True
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(_MAX_RETRY, self._retry_delay * 2)


    def _unexpected(self, batch: list[dict]) -> None:
        if logging.raiseExceptions and sys.stderr is not None:
            import traceback

            sys.stderr.write("--- logsvc handler: delivery failed ---\n")
            traceback.print_exc(file=sys.stderr)
        if self.spool is None:
            self._count_dropped(len(batch))
        else:
            self._keep(batch)

    def _keep(self, batch: list[dict]) -> bool:
        """Spool `batch`; if the spool cannot be written (a full disk), count it as dropped."""
        try:
            self.spool.append(batch)
        except (SpoolWriteError, OSError) as exc:  # OSError: the spool folder itself cannot be made
            self._drop(batch, exc)
            return False
        return True

    def _drop(self, batch: list[dict], exc: Exception) -> None:
        # Nowhere left to keep them: say so once, and report the count in the next batch that
        # gets through, as for a full queue. Never raise into the sender or the application.
        _report(f"{_message(exc)}; {len(batch)} records lost")
        self._count_dropped(len(batch))

    def _count_dropped(self, count: int) -> None:
        with self._counter_lock:  # reported as dropped in the next batch that gets through
            self._dropped += count
            self._dropped_since = self._dropped_since or time.time()


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, LogsvcError) else str(exc) or type(exc).__name__


def _report(text: str) -> None:
    """One line on stderr, under the same switch as logging's own error reports."""
    if logging.raiseExceptions and sys.stderr is not None:
        try:
            sys.stderr.write(f"logsvc handler: {text}\n")
        except (OSError, ValueError):  # stderr closed: nowhere left to say it
            pass


_sender = threading.local()  # `active` in the sender threads of every LogsvcHandler
_handlers: weakref.WeakSet[LogsvcHandler] = weakref.WeakSet()
_hooks_installed = False


def _register(handler: LogsvcHandler) -> None:
    global _hooks_installed
    _handlers.add(handler)
    if not _hooks_installed:
        _hooks_installed = True
        # Registered after `logging` itself, so this runs before logging.shutdown (last in, first out).
        atexit.register(_close_all)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_all)


def _close_all() -> None:
    for handler in list(_handlers):
        handler.close()


def _after_fork_all() -> None:
    for handler in list(_handlers):
        handler._after_fork()
