"""The spool commands: what waits for an unreachable target (status), and delivering it (flush)."""

from __future__ import annotations

import sys

from logsvc.cli import SPOOL, app
from logsvc.cli.options import TargetOptions, shared_options
from logsvc.errors import InvalidInputError


@app.command(rich_help_panel=SPOOL)
@shared_options()
def status(*, targets: TargetOptions) -> None:
    """Show the active profile and target, and how many entries wait in the spool."""
    from logsvc.delivery import spool_for
    from logsvc.spool import all_spools

    settings = targets.settings()
    where = settings.store_path() if settings["target"] == "local" else (
        settings["ingest_url"] if settings["target"] == "url" else settings["table"]) or "not configured"
    sys.stdout.write(f"profile: {settings.profile}\ntarget:  {settings['target']} ({where})\n")
    spool = spool_for(settings)
    waiting = spool.count() if spool else 0
    sys.stdout.write(f"spooled: {waiting} entr{'y' if waiting == 1 else 'ies'} waiting for this target\n")
    for label, count in all_spools():
        if spool is None or label != spool.target:
            sys.stdout.write(f"         {count} waiting for {label}\n")


@app.command(rich_help_panel=SPOOL)
@shared_options(omit=("store",))  # the local store needs no spool
def flush(*, targets: TargetOptions) -> None:
    """Deliver the entries spooled for the active target; what is delivered leaves the spool."""
    from logsvc.delivery import spool_for

    settings = targets.settings()
    spool = spool_for(settings)
    if spool is None:
        sys.stderr.write("the local target needs no spool: nothing to flush\n")
        return
    waiting = spool.count()
    if not waiting:
        sys.stderr.write("nothing to flush\n")
        return
    from logsvc.delivery import FlushReport, flush as deliver_spool
    from logsvc.targets import open_store

    backend = open_store(settings)
    report = FlushReport()
    try:
        deliver_spool(backend, spool, report)
    finally:
        backend.close()
        sys.stderr.write(f"delivered {report.delivered}, {spool.count()} still spooled\n")
    if report.rejected:
        raise InvalidInputError(
            f"{len(report.rejected)} spooled entr{'y has an id' if len(report.rejected) == 1 else 'ies have ids'} "
            f"the target holds with other content: {', '.join(report.rejected[:5])}",
            hint=f"they were moved to {report.rejected_file}; send them again with new ids if they matter",
        )
