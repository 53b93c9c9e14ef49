"""The `logsvc` command line: thin Typer commands over the core modules.

Only this module and `logsvc.output` touch the terminal. Errors are raised as `LogsvcError`
anywhere below and turned into one line on stderr and an exit code here (see `ExitCode`).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from logsvc import __version__
from logsvc.errors import ExitCode, InvalidInputError, LogsvcError, UsageError, from_store_failure


class Output(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    raw = "raw"


class SendOutput(str, Enum):
    id = "id"
    json = "json"


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class Target(str, Enum):
    local = "local"
    url = "url"
    dynamodb = "dynamodb"


class _Group(TyperGroup):
    """The one place exceptions become a line on stderr and an exit code; --debug re-raises."""

    def invoke(self, ctx):
        from logsvc.store import StoreFailure

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click_exceptions.ClickException):
            raise  # Typer's own: usage errors and explicit exits
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # A reader such as `head` went away: not an error worth a message.
            sys.stderr.close()
            raise typer.Exit(int(ExitCode.OK)) from None
        except (LogsvcError, StoreFailure) as exc:
            if _debug(ctx):
                raise
            _fail(exc if isinstance(exc, LogsvcError) else from_store_failure(exc))
        except Exception as exc:
            # A bug: name it in one line rather than hide it; --debug shows the traceback.
            if _debug(ctx):
                raise
            _fail(LogsvcError(f"unexpected {type(exc).__name__}: {exc}",
                              hint="run with --debug for the traceback, and please report it"))


def _fail(exc: LogsvcError) -> None:
    from logsvc.output import error

    error(exc.message, exc.hint())
    raise typer.Exit(int(exc.exit_code)) from None


def _debug(ctx) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug")) or os.environ.get("LOGSVC_DEBUG") == "1"


app = typer.Typer(
    cls=_Group,
    help="Send, read and follow log entries: a local store by default, or your serverless log service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"logsvc {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """logsvc: a small serverless log service and its command line."""
    ctx.obj = {"debug": debug}


# -- shared options ----------------------------------------------------------------------------

TargetOpt = Annotated[Optional[Target], typer.Option("--target", help="local, url or dynamodb.", show_default=False)]
StoreOpt = Annotated[
    Optional[Path], typer.Option("--store", help="Local store file (default: logs.db in LOGSVC_HOME or the data folder).",
                                 show_default=False, dir_okay=False)
]
TableOpt = Annotated[Optional[str], typer.Option("--table", help="DynamoDB table name (target dynamodb).", show_default=False)]
RegionOpt = Annotated[Optional[str], typer.Option("--region", help="AWS region (default: the AWS chain's).", show_default=False)]
EndpointOpt = Annotated[Optional[str], typer.Option("--endpoint-url", help="DynamoDB endpoint URL (a local DynamoDB-compatible server).", show_default=False)]
ProfileOpt = Annotated[Optional[str], typer.Option("--profile", help="Config profile to use.", show_default=False)]
ColorOpt = Annotated[Color, typer.Option("--color", help="Colour: auto (terminal, honours NO_COLOR), always, never.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table, json, jsonl or raw.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, max=100000, help="How many entries at most.")]
SeverityOpt = Annotated[
    Optional[str], typer.Option("--severity", "-s", help="Only this level or worse: info, warning, error.", show_default=False)
]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="From this time: 30s, 5m, 2h, 3d or ISO 8601.", show_default=False)]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Before this time: 30s, 5m, 2h, 3d or ISO 8601.", show_default=False)]
GrepOpt = Annotated[Optional[str], typer.Option("--grep", "-g", help="Only messages containing this text.", show_default=False)]
RegexOpt = Annotated[bool, typer.Option("--regex", help="Treat --grep as a regular expression.")]
UtcOpt = Annotated[bool, typer.Option("--utc/--local", help="Show times in UTC or in local time.")]


def _settings(target: Target | None, store: Path | None, profile: str | None, **extra):
    from logsvc.config import resolve

    flags = {"target": target.value if target else None, "store": str(store) if store else None, **extra}
    if store and not target:
        flags["target"] = "local"  # --store names a local file: it implies the local target
    elif extra.get("table") and not target:
        flags["target"] = "dynamodb"  # likewise --table names a DynamoDB table
    return resolve(flags, profile=profile)


def _open(settings):
    from logsvc.targets import open_store

    return open_store(settings)


def _open_store(target, store, profile, **extra):
    return _open(_settings(target, store, profile, **extra))


def _query(limit, severity, since, until, grep, regex):
    from logsvc.entry import EntryError, parse_severity
    from logsvc.store import Query
    from logsvc.times import TimeFormatError, format_utc, now_utc, parse_instant

    now = now_utc()
    try:
        level = parse_severity(severity, lenient=True) if severity else None
    except EntryError as exc:
        raise UsageError(f"--severity: {exc.problems[0]}") from None
    try:
        since_at = format_utc(parse_instant(since, field="--since", now=now)) if since else None
        until_at = format_utc(parse_instant(until, field="--until", now=now)) if until else None
    except TimeFormatError as exc:
        raise UsageError(str(exc)) from None
    pattern = None
    if regex:
        if not grep:
            raise UsageError("--regex needs a pattern in --grep")
        import re

        try:
            pattern = re.compile(grep)
        except re.error as exc:
            raise UsageError(f"--grep is not a valid regular expression: {exc}") from None
    return Query(limit=limit, min_severity=level, since=since_at, until=until_at,
                 grep=None if regex else grep, regex=pattern)


# -- send ----------------------------------------------------------------------------------------


@app.command()
def send(
    message: Annotated[Optional[str], typer.Argument(help="The message; '-' reads entries from stdin.", show_default=False)] = None,
    severity: Annotated[str, typer.Option("--severity", "-s", help="info, warning or error (any case; warn, err).")] = "info",
    entry_id: Annotated[Optional[str], typer.Option("--id", help="The entry's UUID (default: a new one).", show_default=False)] = None,
    time: Annotated[Optional[str], typer.Option("--time", help="When it happened, ISO 8601 with Z or an offset (default: now).", show_default=False)] = None,
    source: Annotated[Optional[str], typer.Option("--source", help="Who sends it (default: this host's name).", show_default=False)] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="Send every line of this file ('-' for stdin).", show_default=False, dir_okay=False)] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Input lines are plain messages, not JSON objects.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Store the valid lines of a bulk input and report the rest.")] = False,
    output: Annotated[SendOutput, typer.Option("--output", "-o", help="id (the stored id) or json (the stored entry).")] = SendOutput.id,
    target: TargetOpt = None,
    store: StoreOpt = None,
    table: TableOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Send one log entry, or many from a file or stdin (JSON Lines, or plain lines with --lines)."""
    from logsvc.entry import EntryError, normalise

    host = source or _hostname()
    bulk_path = file if file is not None else (Path("-") if message == "-" else None)
    if bulk_path is not None:
        if message not in (None, "-"):
            raise UsageError("give either a MESSAGE or --file, not both")
        _send_bulk(bulk_path, lines, severity, host, skip_invalid, target, store, profile,
                   table=table, endpoint_url=endpoint_url, region=region)
        return
    if message is None:
        raise UsageError("missing MESSAGE", hint="logsvc send --severity error \"disk full\", or --file PATH")
    raw: dict = {"severity": severity, "message": message, "source": host}
    if entry_id is not None:
        raw["id"] = entry_id
    if time is not None:
        raw["dateTime"] = time
    try:
        entry = normalise(raw, lenient_severity=True)
    except EntryError as exc:
        raise InvalidInputError("; ".join(exc.problems)) from None
    from logsvc import delivery

    settings = _settings(target, store, profile, table=table, endpoint_url=endpoint_url, region=region)
    backend = _open(settings)
    try:
        delivery.put(backend, [entry], delivery.spool_for(settings))
    finally:
        backend.close()
    if output is SendOutput.json:
        from logsvc.output import to_json

        sys.stdout.write(to_json(entry) + "\n")
    else:
        sys.stdout.write(entry["id"] + "\n")


def _hostname() -> str:
    try:
        return os.uname().nodename or "unknown"
    except AttributeError:  # not POSIX
        import socket

        return socket.gethostname()


def _send_bulk(path: Path, plain: bool, severity: str, source: str, skip_invalid: bool,
               target, store, profile, **flags) -> None:
    from logsvc.bulk import read_entries
    from logsvc.entry import EntryError, parse_severity
    from logsvc.output import error, notice

    try:
        level = parse_severity(severity, lenient=True)
    except EntryError as exc:
        raise UsageError(f"--severity: {exc.problems[0]}") from None
    if str(path) == "-":
        stream, total = sys.stdin.buffer, None
    else:
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        total = os.fstat(stream.fileno()).st_size
    from logsvc.delivery import spool_for

    settings = _settings(target, store, profile, **flags)
    backend = _open(settings)
    items = read_entries(stream, plain=plain, severity=level, source=source)
    try:
        with _progress(total) as progress:
            report = _write_bulk(backend, spool_for(settings), items, skip_invalid, progress)
    finally:
        backend.close()
        stream.close()
    if report.invalid and not skip_invalid:
        for line in report.describe_invalid():
            error(line)
        raise InvalidInputError(f"{report.invalid} invalid line{'s' if report.invalid != 1 else ''}; nothing was stored",
                                hint="fix them, or pass --skip-invalid to store the valid lines")
    for line in report.describe_invalid():
        notice(f"skipped {line}")
    summary = f"stored {report.stored}"
    if report.replayed:
        summary += f", already stored {report.replayed}"
    if report.invalid:
        summary += f", skipped {report.invalid} invalid"
    sys.stderr.write(summary + "\n")


class _Discard(Exception):
    """Raised inside a bulk block to leave it without storing anything."""


def _write_bulk(backend, spool, items, skip_invalid, progress):
    from logsvc.bulk import send_stream
    from logsvc.delivery import bulk

    try:
        with bulk(backend, spool) as writer:
            report = send_stream(items, writer.write, skip_invalid=skip_invalid, progress=progress)
            if report.invalid and not skip_invalid:
                raise _Discard
    except _Discard:
        return report
    report.stored, report.replayed = writer.stored, writer.replayed
    return report


class _progress:
    """A Rich progress bar on stderr for long inputs, only when stderr is a terminal."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self._bar = None

    def __enter__(self):
        if not sys.stderr.isatty() or (self.total is not None and self.total < 1_000_000):
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("sending"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                             transient=True, console=None)
        self._bar.start()
        self._task = self._bar.add_task("send", total=self.total)
        return lambda consumed: self._bar.update(self._task, completed=consumed)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


# -- recent / tail -----------------------------------------------------------------------------


@app.command()
def recent(
    limit: LimitOpt = 100,
    severity: SeverityOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    grep: GrepOpt = None,
    regex: RegexOpt = False,
    output: OutputOpt = Output.table,
    utc: UtcOpt = False,
    color: ColorOpt = Color.auto,
    target: TargetOpt = None,
    store: StoreOpt = None,
    table: TableOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the most recent entries, newest first."""
    from logsvc.output import Renderer

    query = _query(limit, severity, since, until, grep, regex)
    backend = _open_store(target, store, profile, table=table, endpoint_url=endpoint_url, region=region)
    try:
        page = backend.recent(query)
    finally:
        backend.close()
    Renderer(output.value, color=color.value, utc=utc).entries(page.entries)


@app.command()
def tail(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new entries until Ctrl-C or a bound.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, max=100000, help="How many past entries to show first.")] = 20,
    severity: SeverityOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    grep: GrepOpt = None,
    regex: RegexOpt = False,
    max_entries: Annotated[Optional[int], typer.Option("--max-entries", min=1, help="Stop after this many new entries.", show_default=False)] = None,
    idle_timeout: Annotated[Optional[str], typer.Option("--idle-timeout", help="Stop after this long without a new entry (e.g. 30s).", show_default=False)] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between polls.")] = 1.0,
    cursor_file: Annotated[Optional[Path], typer.Option("--cursor", help="Resume from and save the position in this file.", show_default=False, dir_okay=False)] = None,
    output: OutputOpt = Output.table,
    utc: UtcOpt = False,
    color: ColorOpt = Color.auto,
    target: TargetOpt = None,
    store: StoreOpt = None,
    table: TableOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the last entries oldest first; with --follow, keep printing new ones as they arrive."""
    from logsvc.output import Renderer, notice
    from logsvc.tail import Follower, Notice
    from logsvc.times import TimeFormatError, parse_duration, parse_instant

    query = _query(max(limit, 1), severity, since, None, grep, regex)
    try:
        stop_at = parse_instant(until, field="--until") if until else None
        idle = parse_duration(idle_timeout).total_seconds() if idle_timeout else None
    except TimeFormatError as exc:
        raise UsageError(str(exc)) from None
    if not follow and (max_entries or idle_timeout or cursor_file):
        raise UsageError("--max-entries, --idle-timeout and --cursor go with --follow")
    renderer = Renderer(output.value, color=color.value, utc=utc)
    backend = _open_store(target, store, profile, table=table, endpoint_url=endpoint_url, region=region)
    try:
        cursor = _read_cursor(cursor_file) if cursor_file else None
        if cursor is None:
            page = backend.recent(query)
            past = list(reversed(page.entries)) if limit else []
            if not follow:
                renderer.entries(past)
                return
            for entry in past:
                renderer.entry(entry)
            cursor = page.cursor
        query.limit = 1000
        follower = Follower(backend, query, cursor, interval=interval, until=stop_at,
                            max_entries=max_entries, idle_timeout=idle)
        printed = None
        whole_line = _interrupts_wait if cursor_file else nullcontext
        try:
            for item in follower:
                if isinstance(item, Notice):
                    notice(item.message, color=color.value)
                    continue
                with whole_line():
                    printed = item
                    renderer.entry(item)
        finally:
            if cursor_file:
                _write_cursor(cursor_file, follower.position_after(printed))
    finally:
        backend.close()


@contextmanager
def _interrupts_wait():
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


def _read_cursor(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read the cursor file {path}: {exc.strerror}") from None
    return text or None


def _write_cursor(path: Path, cursor: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(cursor + "\n", encoding="utf-8")
    os.replace(tmp, path)


# -- serve ---------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option("--host", help="Interface to listen on (default 127.0.0.1; others get a warning).", show_default=False)] = None,
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port; 0 picks a free one.")] = 8321,
    table: Annotated[Optional[str], typer.Option("--table", help="Serve a DynamoDB table instead of the local store.", show_default=False)] = None,
    endpoint_url: Annotated[Optional[str], typer.Option("--endpoint-url", help="DynamoDB endpoint (a local DynamoDB-compatible server).", show_default=False)] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="AWS region of the table.", show_default=False)] = None,
    auth: Annotated[str, typer.Option("--auth", help="none, or iam: require SigV4 signatures by your AWS credentials.")] = "none",
    store: StoreOpt = None,
) -> None:
    """Run the ingest and read Lambda handlers over HTTP on loopback, as Function URLs would."""
    from logsvc import serve as local_server
    from logsvc.output import notice

    if auth not in ("none", "iam"):
        raise UsageError(f"--auth must be none or iam, not {auth!r}")
    if host is None:
        host = "127.0.0.1"
    elif not local_server.is_loopback(host):
        notice(f"warning: serving on {host}, reachable from other machines"
               + (" without authentication" if auth == "none" else ""))
    if table:
        from logsvc.config import resolve

        backend = _open(resolve({"target": "dynamodb", "table": table, "endpoint_url": endpoint_url, "region": region}))
    else:
        backend = _open_store(Target.local, store, None)
    verifier = None
    if auth == "iam":
        from logsvc.sigv4 import SignatureError, SigV4Verifier, default_credentials

        try:
            verifier = SigV4Verifier(default_credentials())
        except SignatureError as exc:
            raise LogsvcError(str(exc), hint="serve --auth iam checks signatures against your own AWS credentials") from None

    def announce(ingest_url: str, read_url: str) -> None:
        sys.stdout.write(f"export INGEST_URL={ingest_url}\nexport READ_URL={read_url}\n")
        sys.stdout.flush()
        sys.stderr.write("serving; Ctrl-C to stop\n")

    try:
        local_server.run(backend, host=host, port=port, auth=verifier, on_ready=announce)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         hint="pick another --port, or 0 for any free one") from None
    finally:
        backend.close()


# -- spool: status and flush ---------------------------------------------------------------------


@app.command()
def status(
    target: TargetOpt = None,
    store: StoreOpt = None,
    table: TableOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show the active profile and target, and how many entries wait in the spool."""
    from logsvc.delivery import spool_for
    from logsvc.spool import all_spools

    settings = _settings(target, store, profile, table=table, endpoint_url=endpoint_url, region=region)
    where = settings.store_path() if settings["target"] == "local" else (
        settings["ingest_url"] if settings["target"] == "url" else settings["table"]) or "not configured"
    sys.stdout.write(f"profile: {settings.profile}\ntarget:  {settings['target']} ({where})\n")
    spool = spool_for(settings)
    waiting = spool.count() if spool else 0
    sys.stdout.write(f"spooled: {waiting} entr{'y' if waiting == 1 else 'ies'} waiting for this target\n")
    for label, count in all_spools():
        if spool is None or label != spool.target:
            sys.stdout.write(f"         {count} waiting for {label}\n")


@app.command()
def flush(
    target: TargetOpt = None,
    table: TableOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Deliver the entries spooled for the active target; what is delivered leaves the spool."""
    from logsvc.delivery import spool_for

    settings = _settings(target, None, profile, table=table, endpoint_url=endpoint_url, region=region)
    spool = spool_for(settings)
    if spool is None:
        sys.stderr.write("the local target needs no spool: nothing to flush\n")
        return
    waiting = spool.count()
    if not waiting:
        sys.stderr.write("nothing to flush\n")
        return
    from logsvc.delivery import FlushReport, flush as deliver_spool

    backend = _open(settings)
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


# -- config --------------------------------------------------------------------------------------

config_app = typer.Typer(help="Show and change profiles: where send, recent and tail go.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(profile: ProfileOpt = None) -> None:
    """Show every setting in force and where it came from (flag, env, profile, default)."""
    from logsvc.config import SETTINGS, config_path, resolve

    settings = resolve(profile=profile)
    sys.stdout.write(f"profile {settings.profile} ({config_path()})\n")
    for key in SETTINGS:
        value = settings[key] if settings[key] is not None else "-"
        if key == "store" and settings[key] is None:
            value = f"{settings.store_path()}"
        sys.stdout.write(f"{key:<13} {value:<50} {settings.origins[key]}\n")


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="A setting: see `logsvc config show`.")],
    value: Annotated[str, typer.Argument(help="Its value.")],
    profile: ProfileOpt = None,
) -> None:
    """Set KEY to VALUE in a profile (the active one unless --profile)."""
    from logsvc.config import SETTINGS, load_file, save_file, validate_value

    if key not in SETTINGS:
        raise UsageError(f"unknown setting {key!r}", hint=f"settings: {', '.join(SETTINGS)}")
    validate_value(key, value)
    data = load_file()
    name = profile or os.environ.get("LOGSVC_PROFILE") or data.get("current") or "default"
    data.setdefault("profiles", {}).setdefault(name, {})[key] = value
    path = save_file(data)
    sys.stderr.write(f"{key} = {value} in profile {name} ({path})\n")


@config_app.command("unset")
def config_unset(key: Annotated[str, typer.Argument(help="The setting to remove.")], profile: ProfileOpt = None) -> None:
    """Remove KEY from a profile, so its default applies again."""
    from logsvc.config import load_file, save_file

    data = load_file()
    name = profile or os.environ.get("LOGSVC_PROFILE") or data.get("current") or "default"
    if data.get("profiles", {}).get(name, {}).pop(key, None) is None:
        raise UsageError(f"{key!r} is not set in profile {name}")
    save_file(data)


@config_app.command("use")
def config_use(name: Annotated[str, typer.Argument(help="The profile to make active.")]) -> None:
    """Make PROFILE the active one (created empty if new)."""
    from logsvc.config import load_file, save_file

    data = load_file()
    data.setdefault("profiles", {}).setdefault(name, {})
    data["current"] = name
    save_file(data)
    sys.stderr.write(f"using profile {name}\n")


@config_app.command("list")
def config_list() -> None:
    """List the profiles; the active one is marked with *."""
    from logsvc.config import load_file

    data = load_file()
    current = os.environ.get("LOGSVC_PROFILE") or data.get("current") or "default"
    names = sorted(set(data.get("profiles", {})) | {"default"})
    for name in names:
        target = data.get("profiles", {}).get(name, {}).get("target", "local")
        sys.stdout.write(f"{'*' if name == current else ' '} {name:<20} {target}\n")


# -- table ---------------------------------------------------------------------------------------

table_app = typer.Typer(help="Create or delete a DynamoDB table with the service's schema.", no_args_is_help=True)
app.add_typer(table_app, name="table")



def _table_settings(table, region, endpoint_url, profile):
    settings = _settings(None, None, profile, table=table, region=region, endpoint_url=endpoint_url)
    if not settings["table"]:
        raise UsageError("no table name", hint="pass --table NAME or `logsvc config set table NAME`")
    return settings


@table_app.command("create")
def table_create(
    table: TableOpt = None,
    shards: Annotated[int, typer.Option("--shards", min=1, max=64, help="Index shards: more spread a high write rate.")] = 1,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Create the table (exactly the schema the service uses); an existing one is left as it is."""
    from logsvc.aws import dynamodb_client, translate
    from logsvc.store.dynamodb import create_table

    settings = _table_settings(table, region, endpoint_url, profile)
    client = dynamodb_client(settings)
    with translate(settings["table"]):
        created = create_table(client, settings["table"], shards=shards)
    sys.stderr.write(f"table {settings['table']} {'created' if created else 'already exists'}\n")


@table_app.command("delete")
def table_delete(
    table: TableOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the entries in the table are deleted.")] = False,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Delete the table and every entry in it."""
    from logsvc.aws import dynamodb_client, translate
    from logsvc.store.dynamodb import delete_table

    settings = _table_settings(table, region, endpoint_url, profile)
    if not yes:
        raise UsageError(f"deleting table {settings['table']} deletes every entry in it", hint="add --yes to confirm")
    client = dynamodb_client(settings)
    with translate(settings["table"]):
        deleted = delete_table(client, settings["table"])
    sys.stderr.write(f"table {settings['table']} {'deleted' if deleted else 'did not exist'}\n")


# -- doctor --------------------------------------------------------------------------------------


@app.command()
def doctor(
    canary: Annotated[bool, typer.Option("--canary/--no-canary", help="Write a canary entry and read it back.")] = True,
    target: TargetOpt = None,
    store: StoreOpt = None,
    table: TableOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Check the active profile end to end: configuration, credentials, reach, a canary round trip."""
    from logsvc.doctor import run_checks

    settings = _settings(target, store, profile, table=table, endpoint_url=endpoint_url, region=region)
    failed = False
    for check in run_checks(settings, canary=canary):
        mark = "ok  " if check.ok else ("skip" if check.ok is None else "FAIL")
        failed = failed or check.ok is False
        sys.stdout.write(f"{mark}  {check.name}: {check.detail}\n")
        if check.hint and check.ok is False:
            sys.stdout.write(f"      hint: {check.hint}\n")
    if failed:
        raise typer.Exit(int(ExitCode.UNAVAILABLE))


def main() -> None:
    """Console-script entry point."""
    app()
