"""Bulk input: JSON Lines or plain text lines, streamed, validated, and stored all-or-nothing.

Nothing here holds more than one chunk of entries, so memory stays flat however long the input.
"""

from __future__ import annotations

import json
from typing import BinaryIO, Callable, Iterator

from logsvc.entry import DuplicateKeyError, EntryError, normalise, random_ids, unique_keys
from logsvc.errors import LogsvcError

CHUNK = 1000  # entries per write
MAX_REPORTED = 20  # invalid lines listed one by one; the rest are counted


class BulkReport:
    """What a bulk send did: counts, and the first invalid lines with their problems."""

    def __init__(self) -> None:
        self.stored = 0
        self.replayed = 0
        self.invalid = 0
        self.problems: list[tuple[int, list[str]]] = []

    def reject(self, lineno: int, error: EntryError) -> None:
        self.invalid += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append((lineno, error.problems))

    def describe_invalid(self) -> list[str]:
        lines = [f"line {lineno}: {'; '.join(problems)}" for lineno, problems in self.problems]
        if self.invalid > len(self.problems):
            lines.append(f"... and {self.invalid - len(self.problems)} more invalid lines")
        return lines


def read_entries(stream: BinaryIO, *, plain: bool = False, severity: str | None = "info",
                 source: str | None = None) -> Iterator[tuple[int, int, dict | EntryError]]:
    """Yield (line number, bytes consumed, normalised entry or the EntryError) for each non-blank line.

    `severity` is every plain line's level, and the level of a JSON line that has none (None:
    such a line is invalid). A UTF-8 byte order mark before the first line is skipped.
    """
    make_id = random_ids().__next__
    for lineno, line in enumerate(stream, 1):
        size = len(line)
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line or line.isspace():  # (bytes.isspace: ASCII whitespace, as bytes.strip strips)
            continue
        if plain:
            try:
                raw: object = {"severity": severity or "info", "message": line.decode("utf-8").rstrip("\r\n")}
            except UnicodeDecodeError:
                yield lineno, size, EntryError(["the line is not valid UTF-8"])
                continue
        else:
            try:
                raw = _decode(line.decode("utf-8"))
            except DuplicateKeyError as exc:
                yield lineno, size, EntryError([str(exc)])
                continue
            except (ValueError, RecursionError) as exc:
                # ValueError covers bad JSON, bad UTF-8 and integers too long to convert.
                yield lineno, size, EntryError([f"not a JSON object ({_short(exc)})"])
                continue
        if source and isinstance(raw, dict) and "source" not in raw:
            raw["source"] = source
        if severity and isinstance(raw, dict) and "severity" not in raw:
            raw["severity"] = severity
        try:
            yield lineno, size, normalise(raw, lenient_severity=True, make_id=make_id)
        except EntryError as exc:
            yield lineno, size, exc


class read_entries_aside:
    """`read_entries` in a forked process, on the other core, while this one stores what it hands over.

    The same items in the same order, a chunk at a time through a pipe (so memory stays flat); what
    the reader raises is raised here. For a regular file on a machine with a second core: reading,
    decoding and validating a line costs as much as storing it. Forked when made, before the store
    is opened, so the child holds no database connection.
    """

    def __init__(self, stream: BinaryIO, **options) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        _widen(sender)
        self._process = context.Process(target=_read_into, args=(stream, sender, options), daemon=True,
                                        name="logsvc-bulk-reader")
        self._process.start()
        sender.close()
        self._items = self._receive()

    def __iter__(self) -> Iterator[tuple[int, int, dict | EntryError]]:
        return self._items

    def __next__(self) -> tuple[int, int, dict | EntryError]:
        return next(self._items)

    def _receive(self) -> Iterator[tuple[int, int, dict | EntryError]]:
        while True:
            try:
                kind, payload = self._receiver.recv()
            except EOFError:  # killed (out of memory, a signal) before it said done or failed
                self.close()
                raise LogsvcError(f"the process reading the input ended unexpectedly (exit code "
                                  f"{self._process.exitcode}); nothing of this input was stored",
                                  hint="run the same command again") from None
            if kind != "items":
                break
            yield from payload
        self.close()
        if kind == "error":
            raise payload

    def close(self) -> None:
        self._receiver.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _widen(connection) -> None:
    """A pipe holding several chunks, not 64 KiB (less than one): the reader runs ahead of the
    writer instead of the two taking turns, which left each waiting a third of the time."""
    import fcntl

    try:
        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, 1024 * 1024)
    except (OSError, AttributeError):
        pass  # a smaller system limit: the default size works, only slower


def read_entries_usable_aside(size: int) -> bool:
    """Worth a second process: a file of some size, a second core, and fork (Linux)."""
    import os
    import sys

    return size >= 4 * 1024 * 1024 and sys.platform == "linux" and len(os.sched_getaffinity(0)) > 1


def _read_into(stream: BinaryIO, sender, options: dict) -> None:
    """The reading process: items to the pipe in chunks, then ("done", None) or ("error", exception)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the storing process's to handle
    chunk: list = []
    try:
        for item in read_entries(stream, **options):
            chunk.append(item)
            if len(chunk) == CHUNK:
                sender.send(("items", chunk))
                chunk = []
        if chunk:
            sender.send(("items", chunk))
        sender.send(("done", None))
    except BrokenPipeError:
        pass  # the storing process stopped listening: it has its own error to report
    except Exception as exc:  # handed over, after the items before it, as read_entries would raise it
        if chunk:
            sender.send(("items", chunk))
        sender.send(("error", exc))
    finally:
        sender.close()


_DECODER = json.JSONDecoder(object_pairs_hook=unique_keys)
_SCAN = _DECODER.scan_once
_LINE_ENDS = ("\n", "\r\n", "\r")


def _decode(text: str) -> object:
    """`json.loads(text, object_pairs_hook=unique_keys)`, errors included, without building a
    decoder for every line as json.loads does when given a hook (a sixth of a line's cost)."""
    if text[:1] == "{":  # the usual line: one object and its line end, read by the C scanner alone
        try:
            obj, end = _SCAN(text, 0)
        except (StopIteration, ValueError):
            pass  # the full decode below says what is wrong, exactly as json.loads does
        else:
            if end == len(text) or text[end:] in _LINE_ENDS:
                return obj
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def send_stream(items: Iterator[tuple[int, int, dict | EntryError]], write: Callable[[list[dict]], None],
                *, skip_invalid: bool, progress: Callable[[int], None] | None = None) -> BulkReport:
    """Validate everything; hand valid entries to `write` a chunk at a time.

    Without `skip_invalid`, writing stops at the first invalid line but reading goes on, so
    every invalid line is reported; the caller then discards what was written. The caller
    fills in the stored and replayed counts, which only the target knows.
    """
    report = BulkReport()
    chunk: list[dict] = []
    consumed = 0
    for lineno, size, item in items:
        consumed += size
        if isinstance(item, EntryError):
            report.reject(lineno, item)
            if not skip_invalid:
                chunk = []  # the batch is void now; keep reading only to report the rest
            continue
        if report.invalid and not skip_invalid:
            continue
        chunk.append(item)
        if len(chunk) >= CHUNK:
            write(chunk)
            chunk = []
            if progress:
                progress(consumed)
    if chunk and (skip_invalid or not report.invalid):
        write(chunk)
    if progress:
        progress(consumed)
    return report


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."
