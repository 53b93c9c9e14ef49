"""`tail --follow --cursor FILE`: the cursor file, and keeping it true to the lines printed."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from logsvc.errors import UsageError


@contextmanager
def interrupts_wait():
    """Hold Ctrl-C until the block is done, so the saved cursor matches the lines printed."""
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# The cursor file: a header naming the format and the target, the target's cursor, then the
# entries of a page still owed when the tail stopped mid-page (JSON, one a line).
CURSOR_FILE_HEADER = "logsvc-cursor 2"


def read_cursor(path: Path, target: str) -> tuple[str, list[dict]] | None:
    """(cursor, owed entries), or None to start from the recent entries (no file, or an empty one).

    A file for another target, of an older format or not a cursor file is a usage error: its
    position means nothing here, and following from it would skip or repeat entries.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the cursor file {path}: {reason}") from None
    lines = text.splitlines()
    if not "".join(lines).strip():
        return None
    header = lines[0].split(" ")
    fresh = f"remove {path} to start from the recent entries"
    if len(lines) < 2 or " ".join(header[:2]) != CURSOR_FILE_HEADER or len(header) != 3 or not lines[1].strip():
        raise UsageError(f"{path} is not a cursor file of this logsvc (format 2)", hint=fresh)
    if header[2] != target:
        raise UsageError(f"the cursor file {path} belongs to the {header[2]} target, not the {target} target",
                         hint=f"use --target {header[2]}, another --cursor file, or {fresh}")
    try:
        owed = [json.loads(line) for line in lines[2:] if line.strip()]
    except ValueError:
        owed = None
    if owed is None or not all(isinstance(entry, dict) and isinstance(entry.get("message"), str)
                               and isinstance(entry.get("dateTime"), str) and isinstance(entry.get("severity"), str)
                               for entry in owed):
        raise UsageError(f"the cursor file {path} is corrupt", hint=fresh)
    return lines[1].strip(), owed


def write_cursor(path: Path, target: str, cursor: str, owed: list[dict] = ()) -> None:
    """Replace the file whole (write aside, then rename), so a crash never leaves half a cursor."""
    lines = [f"{CURSOR_FILE_HEADER} {target}", cursor]
    lines += [json.dumps(entry, ensure_ascii=True, separators=(",", ":")) for entry in owed]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
