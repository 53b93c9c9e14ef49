"""`--fail-on LEVEL [--threshold N]`: a count of bad entries as an exit code, for cron and CI.

Shared by `recent` (entries) and `stats` (insight); it registers no command, so importing it
leaves the order of the help panels alone.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from logsvc.errors import AlertError, UsageError

FailOnOpt = Annotated[Optional[str], typer.Option(
    "--fail-on", help="Exit with code 7 when at least --threshold entries of this level or worse are found.",
    show_default=False)]
# None when not given, so that a --threshold without --fail-on can be refused (default 1).
ThresholdOpt = Annotated[Optional[int], typer.Option(
    "--threshold", min=1, help="How many entries --fail-on needs (default 1).", show_default=False)]


def fail_if(fail_on: str | None, threshold: int | None, found: int | None = None, *, entries=None,
            window: str = "") -> None:
    """Raise AlertError when `found` (or the entries of `fail_on` or worse) reach `threshold` (1 if None)."""
    if fail_on is None:
        return
    threshold = 1 if threshold is None else threshold
    from logsvc.entry import EntryError, at_least, parse_severity

    try:
        level = parse_severity(fail_on, lenient=True)
    except EntryError as exc:
        raise UsageError(f"--fail-on: {exc.problems[0]}") from None
    if found is None:
        levels = set(at_least(level))
        found = sum(1 for entry in entries if entry["severity"] in levels)
    if found >= threshold:
        worse = "" if level == "error" else " or worse"
        raise AlertError(f"{found} {'entry' if found == 1 else 'entries'} at {level}{worse}{window}"
                         f" (threshold {threshold})")


def check_fail_on(fail_on: str | None, threshold: int | None = None) -> None:
    """Refuse a bad --fail-on, or a --threshold without one, before reading anything."""
    if fail_on is None and threshold is not None:
        # Nothing would be counted: a cron job's alert would silently never fire.
        raise UsageError("--threshold goes with --fail-on", hint="e.g. --fail-on error --threshold 10")
    fail_if(fail_on, 1 << 62, 0)
