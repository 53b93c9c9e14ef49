"""Exceptions that carry their exit code and a one-line hint.

Core code raises these; only the CLI entry point turns them into a message and an exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    ERROR = 1  # anything not covered below
    USAGE = 2  # wrong flag, bad option value, bad configuration
    INVALID_INPUT = 3  # entries rejected: malformed, invalid, conflicting ids
    UNAVAILABLE = 4  # the store or target could not be reached or read
    SPOOLED = 5  # target unreachable; entries kept in the local spool for `logsvc flush`
    CHANGES = 6  # `logsvc diff`: deploying would change the stack
    ALERT = 7  # --fail-on: at least --threshold entries at that level or worse in the window
    INTERRUPTED = 130  # Ctrl-C


class LogsvcError(Exception):
    """Base class: a message for the user, an exit code and an optional hint."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._hint = hint

    def hint(self) -> str | None:
        return self._hint


class UsageError(LogsvcError):
    exit_code = ExitCode.USAGE


class InvalidInputError(LogsvcError):
    exit_code = ExitCode.INVALID_INPUT


class StoreError(LogsvcError):
    """The store is unreadable, corrupt, missing or unreachable."""

    exit_code = ExitCode.UNAVAILABLE


class StoreFull(StoreError):
    """The disk holding a local store is full (SQLITE_FULL): nothing of the write was stored."""


class SpooledError(LogsvcError):
    exit_code = ExitCode.SPOOLED


class Interrupted(LogsvcError):
    """Ctrl-C, with something to say about what happened to the entries in flight."""

    exit_code = ExitCode.INTERRUPTED


class AlertError(LogsvcError):
    """`--fail-on`: the window holds at least the threshold of entries at that level or worse."""

    exit_code = ExitCode.ALERT


def from_store_failure(exc: Exception) -> LogsvcError:
    """The user-facing error for a store's failure (the stores stay free of CLI concerns)."""
    from logsvc.store import BadCursor, ConflictError, StoreUnavailable

    if isinstance(exc, ConflictError):
        return InvalidInputError(str(exc), hint="an id names one entry: send the new one with a new id")
    if isinstance(exc, StoreUnavailable):
        return StoreError(str(exc), hint=getattr(exc, "hint", None)
                          or "the target is throttled or unreachable; try again shortly")
    if isinstance(exc, BadCursor):
        return UsageError(str(exc), hint="the cursor was not issued by this target, or is damaged:"
                                         " remove the cursor file to start from the recent entries")
    return LogsvcError(str(exc))
