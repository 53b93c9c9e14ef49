"""Options that several commands share, declared once.

A command asks for a group of them by taking a parameter typed with the group's class
(`targets: TargetOptions`, an `OptionGroup`) and wearing `@shared_options()`: the decorator puts
the group's options into the signature Typer reads and hands the function one object. Adding a
command thus copies no option, help text or default.

Start-up: the command modules evaluate their annotations when they are defined (no `from
__future__ import annotations`), and the groups are plain classes, not dataclasses, so that
neither Typer nor this module compiles an annotation string or a generated method on a run:
together about 4 ms of every command (issue 13's start-up budget).
"""

import functools
import inspect
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from logsvc.errors import UsageError


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


StoreOpt = Annotated[
    Optional[Path], typer.Option("--store", help="Local store file (default: logs.db in LOGSVC_HOME or the data folder).",
                                 show_default=False, dir_okay=False)
]
ProfileOpt = Annotated[Optional[str], typer.Option("--profile", help="Config profile to use.", show_default=False)]


class OptionGroup:
    """A group of options: each annotated class attribute is one, its value the default.

    An instance holds the values a command was given, read-only."""

    def __init__(self, **values) -> None:
        unknown = values.keys() - type(self).__annotations__.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no option {', '.join(sorted(unknown))}")
        self.__dict__.update(values)  # an option not given reads as the class attribute, its default

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__annotations__)
        return f"{type(self).__name__}({values})"


class TargetOptions(OptionGroup):
    """Where entries go or come from: --target, --store, --table, --endpoint-url, --region, --profile."""

    target: Annotated[Optional[Target], typer.Option("--target", help="local, url or dynamodb.", show_default=False)] = None
    store: StoreOpt = None
    table: Annotated[Optional[str], typer.Option("--table", help="DynamoDB table name (target dynamodb).", show_default=False)] = None
    endpoint_url: Annotated[Optional[str], typer.Option(
        "--endpoint-url", help="DynamoDB endpoint URL (a local DynamoDB-compatible server).", show_default=False)] = None
    region: Annotated[Optional[str], typer.Option("--region", help="AWS region (default: the AWS chain's).", show_default=False)] = None
    profile: ProfileOpt = None

    def settings(self):
        """The settings in force: these flags over the environment, the profile and the defaults."""
        from logsvc.config import resolve

        flags = {"target": self.target.value if self.target else None, "store": str(self.store) if self.store else None,
                 "table": self.table, "endpoint_url": self.endpoint_url, "region": self.region}
        if self.store and not self.target:
            flags["target"] = "local"  # --store names a local file: it implies the local target
        elif self.table and not self.target:
            flags["target"] = "dynamodb"  # likewise --table names a DynamoDB table
        return resolve(flags, profile=self.profile)


class Display(OptionGroup):
    """How entries are shown: --output, --utc/--local, --color."""

    output: Annotated[Output, typer.Option("--output", "-o", help="table, json, jsonl or raw.")] = Output.table
    utc: Annotated[bool, typer.Option("--utc/--local", help="Show times in UTC or in local time.")] = False
    color: Annotated[Color, typer.Option(
        "--color", help="Colour: auto (terminal, honours NO_COLOR), always, never.")] = Color.auto

    def renderer(self):
        from logsvc.output import Renderer

        return Renderer(self.output.value, color=self.color.value, utc=self.utc)


class Filters(OptionGroup):
    """Which entries: --severity, --since, --until, --grep, --regex."""

    severity: Annotated[Optional[str], typer.Option(
        "--severity", "-s", help="Only this level or worse: info, warning, error.", show_default=False)] = None
    since: Annotated[Optional[str], typer.Option(
        "--since", help="From this time: 30s, 5m, 2h, 3d or ISO 8601.", show_default=False)] = None
    until: Annotated[Optional[str], typer.Option(
        "--until", help="Before this time: 30s, 5m, 2h, 3d or ISO 8601.", show_default=False)] = None
    grep: Annotated[Optional[str], typer.Option("--grep", "-g", help="Only messages containing this text.", show_default=False)] = None
    regex: Annotated[bool, typer.Option("--regex", help="Treat --grep as a regular expression.")] = False

    def query(self, limit: int):
        """The store query: --since/--until bound the entries' times, in `recent` and `tail` alike."""
        from logsvc.entry import EntryError, parse_severity
        from logsvc.store import Query
        from logsvc.times import TimeFormatError, format_utc, now_utc, parse_instant

        now = now_utc()
        try:
            level = parse_severity(self.severity, lenient=True) if self.severity else None
        except EntryError as exc:
            raise UsageError(f"--severity: {exc.problems[0]}") from None
        try:
            since_at = format_utc(parse_instant(self.since, field="--since", now=now)) if self.since else None
            until_at = format_utc(parse_instant(self.until, field="--until", now=now)) if self.until else None
        except TimeFormatError as exc:
            raise UsageError(str(exc)) from None
        if since_at and until_at and since_at >= until_at:
            raise UsageError(f"--since {self.since} is not earlier than --until {self.until}: no entry can match",
                             hint="--since is the start of the range and --until its end, e.g. --since 2h --until 1h")
        pattern = None
        if self.regex:
            if not self.grep:
                raise UsageError("--regex needs a pattern in --grep")
            import re

            try:
                pattern = re.compile(self.grep)
            except re.error as exc:
                raise UsageError(f"--grep is not a valid regular expression: {exc}") from None
        return Query(limit=limit, min_severity=level, since=since_at, until=until_at,
                     grep=None if self.regex else self.grep, regex=pattern)




def shared_options(omit: tuple[str, ...] = ()):
    """Expand each parameter typed with an option group (an `OptionGroup`) into its options.

    `omit` names options a command does without (e.g. flush has no --store); they keep their
    default. The function is called with one object per group. Typer reads `__signature__`, so
    help and shell completion see the options as if each command declared them.
    """

    def decorate(func):
        signature = inspect.signature(func)
        params: list[inspect.Parameter] = []
        groups: dict[str, tuple[type, list[str]]] = {}
        for param in signature.parameters.values():
            if not (isinstance(param.annotation, type) and issubclass(param.annotation, OptionGroup)):
                params.append(param)
                continue
            hints = param.annotation.__annotations__
            names = [name for name in hints if name not in omit]
            groups[param.name] = (param.annotation, names)
            params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[name],
                                         default=getattr(param.annotation, name)) for name in names]

        @functools.wraps(func)
        def command(**values):
            for arg, (group, names) in groups.items():
                values[arg] = group(**{name: values.pop(name) for name in names})
            return func(**values)

        command.__signature__ = signature.replace(parameters=params)
        # What Typer's get_type_hints reads: the expanded options, as objects (nothing to evaluate).
        command.__annotations__ = {param.name: param.annotation for param in params}
        return command

    return decorate


def check_writable_path(path: Path, flag: str) -> None:
    """Refuse a file option (--cursor, --out) that could not be written, before any work that
    would be lost when it is: the folder must exist and be writable, the path a writable file."""
    import os

    folder = path.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{flag} {path}: {folder} {problem}", hint="give a path in an existing folder")
    if path.exists() and not path.is_file():
        raise UsageError(f"{flag} {path} is not a file")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: the folder {folder} cannot be written", hint="give a path in a folder you can write")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path} cannot be written", hint="give a path you can write")
