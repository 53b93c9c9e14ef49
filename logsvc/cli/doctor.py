"""`logsvc doctor`: check the active profile end to end."""

import sys
from typing import Annotated

import typer

from logsvc.cli import SETUP, app
from logsvc.cli.options import TargetOptions, shared_options
from logsvc.errors import ExitCode


@app.command(rich_help_panel=SETUP)
@shared_options()
def doctor(
    canary: Annotated[bool, typer.Option("--canary/--no-canary", help="Write a canary entry and read it back.")] = True,
    *,
    targets: TargetOptions,
) -> None:
    """Check the active profile end to end: configuration, credentials, reach, a canary round trip."""
    from logsvc.doctor import Check, run_checks
    from logsvc.errors import UsageError

    try:
        checks = run_checks(targets.settings(), canary=canary)
    except UsageError as exc:  # e.g. a URL that is not one: the first thing to report
        checks, code = iter([Check("configuration", False, exc.message, exc.hint())]), ExitCode.USAGE
    else:
        code = ExitCode.UNAVAILABLE
    failed = False
    for check in checks:
        mark = "ok  " if check.ok else ("skip" if check.ok is None else "FAIL")
        failed = failed or check.ok is False
        sys.stdout.write(f"{mark}  {check.name}: {check.detail}\n")
        if check.hint and check.ok is False:
            sys.stdout.write(f"      hint: {check.hint}\n")
    if failed:
        raise typer.Exit(int(code))
