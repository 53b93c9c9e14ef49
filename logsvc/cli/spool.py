"""The spool commands: what waits for an unreachable target (status), and delivering it (flush)."""

import sys
from typing import Annotated, Optional

import typer

from logsvc.cli import SPOOL, app
from logsvc.cli.options import TargetOptions, shared_options
from logsvc.errors import ExitCode, InvalidInputError, UsageError

SpoolOpt = Annotated[Optional[str], typer.Option(
    "--spool", help="A spool by its key or target, as `status` lists them (e.g. one for a target no longer configured).",
    show_default=False)]


@app.command(rich_help_panel=SPOOL)
@shared_options()
def status(spool_name: SpoolOpt = None, *, targets: TargetOptions) -> None:
    """Show the active profile and target, and how many entries wait in the spool (each spool's
    key names it for `flush --spool`)."""
    from logsvc.delivery import spool_for
    from logsvc.spool import named_spool, spools

    if spool_name is not None:
        _no_target_options(targets)
        named = named_spool(spool_name)
        waiting = named.count()
        sys.stdout.write(f"spool:   {named.key}\ntarget:  {named.target}\nfile:    {named.path}\n"
                         f"spooled: {waiting} entr{'y' if waiting == 1 else 'ies'}\n")
        _write_set_aside(named)
        return
    settings = targets.settings()
    where = settings.store_path() if settings["target"] == "local" else (
        settings["ingest_url"] if settings["target"] == "url" else settings["table"]) or "not configured"
    sys.stdout.write(f"profile: {settings.profile}\ntarget:  {settings['target']} ({where})\n")
    spool = spool_for(settings)
    waiting = spool.count() if spool else 0
    sys.stdout.write(f"spooled: {waiting} entr{'y' if waiting == 1 else 'ies'} waiting for this target\n")
    if spool is not None:
        _write_set_aside(spool)
    others = [(other, count) for other, count in spools() if spool is None or other.target != spool.target]
    for other, count in others:
        sys.stdout.write(f"         {count} waiting for {other.target} (spool {other.key})\n")
    if others:
        sys.stdout.write("hint: `logsvc flush --spool KEY` delivers another spool; add --discard to delete it\n")


def _write_set_aside(spool) -> None:
    """Name the files `flush` set lines of `spool` aside in: they wait for a person, not a retry."""
    for what, path in (("set aside (torn)", spool.quarantine_path),
                       ("set aside (id clash)", spool.path.with_suffix(".rejected.jsonl"))):
        if path.exists():
            sys.stdout.write(f"{what}: {path}\n")


@app.command(rich_help_panel=SPOOL)
@shared_options(omit=("store",))  # the local store needs no spool
def flush(
    spool_name: SpoolOpt = None,
    discard: Annotated[bool, typer.Option("--discard", help="Delete the spooled entries instead of delivering them (asks first).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --discard.")] = False,
    *,
    targets: TargetOptions,
) -> None:
    """Deliver the entries spooled for the active target (or the one --spool names); what is
    delivered leaves the spool. A torn line (a crash mid-write) is set aside and named."""
    from logsvc.delivery import spool_for

    if spool_name is not None:
        from logsvc.spool import named_spool

        _no_target_options(targets)
        spool = named_spool(spool_name)
    else:
        settings = targets.settings()
        spool = spool_for(settings)
        if spool is None:
            sys.stderr.write("the local target needs no spool: nothing to flush\n")
            return
    waiting = spool.count()
    if not waiting:
        sys.stderr.write("nothing to flush\n")
        return
    if discard:
        _confirm(f"delete {waiting} entr{'y' if waiting == 1 else 'ies'} spooled for {spool.target}?", yes)
        dropped = spool.discard()
        sys.stderr.write(f"discarded {dropped} entr{'y' if dropped == 1 else 'ies'} spooled for {spool.target}\n")
        return
    if spool_name is not None:
        settings = _spool_settings(spool, targets.profile)
    from logsvc.delivery import FlushReport, flush as deliver_spool
    from logsvc.targets import open_store

    backend = open_store(settings)
    report = FlushReport()
    try:
        deliver_spool(backend, spool, report)
    finally:
        backend.close()
        sys.stderr.write(f"delivered {report.delivered}, {spool.count()} still spooled\n")
        if report.quarantined:
            from logsvc.output import error

            count = report.quarantined
            error(f"{count} spooled line{' was' if count == 1 else 's were'} torn or not an entry: "
                  f"set aside in {report.quarantine_file}",
                  hint="look at them there; lines you repair can be sent with `logsvc send --file`")
    if report.rejected:
        raise InvalidInputError(
            f"{len(report.rejected)} spooled entr{'y has an id' if len(report.rejected) == 1 else 'ies have ids'} "
            f"the target holds with other content: {', '.join(report.rejected[:5])}",
            hint=f"they were moved to {report.rejected_file}; send them again with new ids if they matter",
        )
    if report.quarantined:
        raise typer.Exit(int(ExitCode.INVALID_INPUT))


def _no_target_options(targets: TargetOptions) -> None:
    given = [name for name in ("target", "store", "table", "endpoint_url", "region") if getattr(targets, name) is not None]
    if given:
        raise UsageError(f"--spool names its own target: drop --{given[0].replace('_', '-')}")


def _spool_settings(spool, profile: str | None):
    """The settings to deliver a named spool: its own target over the profile's other settings."""
    from logsvc.config import resolve
    from logsvc.delivery import target_flags

    try:
        return resolve(target_flags(spool), profile=profile)
    except UsageError as exc:
        raise UsageError(f"cannot deliver the spool {spool.key}: {exc.message}",
                         hint=f"if that target is gone for good: `logsvc flush --spool {spool.key} --discard`") from None


def _confirm(question: str, yes: bool) -> None:
    """Ask before deleting entries; without a terminal to ask on, only --yes will do."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("--discard deletes spooled entries: confirm with --yes (there is no terminal to ask)")
    if not typer.confirm(question, default=False, err=True):
        sys.stderr.write("nothing discarded\n")
        raise typer.Exit(int(ExitCode.ERROR))
