"""Bulk input: JSON Lines or plain text lines, streamed, validated, and stored all-or-nothing.

Nothing here holds more than one chunk of entries, so memory stays flat however long the input.
"""

from __future__ import annotations

import json
from typing import BinaryIO, Callable, Iterator

from logsvc.entry import DuplicateKeyError, EntryError, normalise, unique_keys

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
    for lineno, line in enumerate(stream, 1):
        size = len(line)
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
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
            yield lineno, size, normalise(raw, lenient_severity=True)
        except EntryError as exc:
            yield lineno, size, exc


_DECODER = json.JSONDecoder(object_pairs_hook=unique_keys)


def _decode(text: str) -> object:
    """`json.loads(text, object_pairs_hook=unique_keys)`, errors included, without building a
    decoder for every line as json.loads does when given a hook (a sixth of a line's cost)."""
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
