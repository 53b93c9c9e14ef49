"""`tail --follow --cursor FILE`: the cursor file, and keeping it true to the lines printed."""

from __future__ import annotations

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


def read_cursor(path: Path) -> str | None:
    """The saved position, or None to start from the recent entries (no file, or an empty one)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read the cursor file {path}: {exc.strerror}") from None
    return text or None


def write_cursor(path: Path, cursor: str) -> None:
    """Replace the file whole (write aside, then rename), so a crash never leaves half a cursor."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(cursor + "\n", encoding="utf-8")
    os.replace(tmp, path)
