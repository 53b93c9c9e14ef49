"""The `logsvc` command line: thin Typer commands over the core modules.

Only this package and `logsvc.output` touch the terminal. Errors are raised as `LogsvcError`
anywhere below and turned into one line on stderr and an exit code here (see `ExitCode`).
The commands live in one module per group (entries, spool, config, table, serve, doctor), each
registering itself on `app`; their shared options are in `options`.
"""

import importlib
import os
import sys
from typing import Annotated

import typer
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup, TyperOption

from logsvc import __version__
from logsvc.errors import ExitCode, LogsvcError, UsageError, from_store_failure

DEBUG_HELP = "Show tracebacks for errors."
# The panels of `logsvc --help`, in the order the command modules register into them.
ENTRIES, SPOOL, SERVICE, SETUP = "Entries", "Spool", "Service", "Setup"


class _Group(TyperGroup):
    """The one place exceptions become a line on stderr and an exit code; --debug adds the traceback."""

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        _accept_debug(self.commands.values())

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_exceptions.UsageError as exc:
            _usage_error(exc)
        except BrokenPipeError:  # `--help` or `--version` into `head`: as for a command's output
            sys.stderr.close()
            raise typer.Exit(int(ExitCode.OK)) from None

    def invoke(self, ctx):
        from logsvc.store import StoreFailure

        try:
            return super().invoke(ctx)
        except click_exceptions.UsageError as exc:
            _usage_error(exc)
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
                import traceback

                traceback.print_exc()  # and still the error's own exit code: scripts see the same result
            _fail(exc if isinstance(exc, LogsvcError) else from_store_failure(exc))
        except Exception as exc:
            # A bug: name it in one line rather than hide it; --debug shows the traceback.
            if _debug(ctx):
                raise
            _fail(LogsvcError(f"unexpected {type(exc).__name__}: {exc}",
                              hint="run with --debug for the traceback, and please report it"))


def _accept_debug(commands) -> None:
    """Let every command (and sub-group) take --debug after its name too: `logsvc recent --debug`."""
    for command in commands:
        command.params.append(TyperOption(param_decls=["--debug"], is_flag=True, default=False, expose_value=False,
                                          hidden=True, help=DEBUG_HELP, callback=_set_debug))
        _accept_debug(getattr(command, "commands", {}).values())


def _set_debug(ctx, param, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["debug"] = True


def _usage_error(exc) -> None:
    """Typer's own usage errors as ours: one line and a hint, not a boxed panel (that stays for --help)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc  # `logsvc config` alone: Typer shows the help
    command = exc.ctx.command_path if exc.ctx is not None else "logsvc"
    _fail(UsageError(exc.format_message(), hint=f"`{command} --help` lists the options"))


def _fail(exc: LogsvcError) -> None:
    from logsvc.output import error

    error(exc.message, exc.hint())
    raise typer.Exit(int(exc.exit_code)) from None


def _debug(ctx) -> bool:
    return bool(ctx.obj and ctx.obj.get("debug")) or os.environ.get("LOGSVC_DEBUG") == "1"


_app = typer.Typer(
    cls=_Group,
    help="Send, read and follow log entries: a local store by default, or your serverless log service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    """What a bug report needs: our version, Python's and botocore's (read without importing it)."""
    if not value:
        return
    import platform
    from importlib import metadata

    try:
        botocore = metadata.version("botocore")
    except metadata.PackageNotFoundError:
        botocore = "not installed"
    sys.stdout.write(f"logsvc {__version__}\nPython {platform.python_version()}\nbotocore {botocore}\n")
    raise typer.Exit()


@_app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help=DEBUG_HELP + " Also after the command name.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Show the versions of logsvc, Python and botocore, and exit.")
    ] = False,
) -> None:
    """logsvc: a small serverless log service and its command line."""
    ctx.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point."""
    # Started with a standard stream closed (`<&-`, `>&-`, some daemons), Python makes it None, and
    # every read, write or isatty() on it would be an unexpected error: use the null device, so
    # input is empty, output goes nowhere, no stream is a terminal, and the exit code stays right.
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))
    was_null = _stdout_is_null()
    try:
        _app_for(sys.argv[1:])()
    except SystemExit as exc:
        # Rich meets a reader that went away (`logsvc --help | head`) by pointing stdout at the
        # null device and exiting 1; like our own commands, that is no error.
        if exc.code == 1 and not was_null and _stdout_is_null():
            raise SystemExit(0) from None
        raise


def _stdout_is_null() -> bool:
    try:
        return os.path.samestat(os.fstat(1), os.stat(os.devnull))
    except OSError:
        return False


def _app_for(args: list[str]) -> typer.Typer:
    """The whole app, or a copy holding only the command that `args` name, when they plainly name one.

    Only that command's module is imported, and Typer turns only its signature into Click
    parameters (each is a tenth of a local `send`'s start-up, for commands that will not run).
    Only a top-level command named right away (after --debug at most) is singled out; help, a
    typo or a group get the whole app, so that their listings and suggestions stay whole.
    """
    at = 1 if args[:1] == ["--debug"] else 0
    module = _COMMAND_MODULES.get(args[at]) if len(args) > at else None
    if module is None:
        return __getattr__("app")
    global _registering
    if not _registered:
        _registering = True  # the module's `from logsvc.cli import app` takes the app as it is
        try:
            importlib.import_module(f"logsvc.cli.{module}")
        finally:
            _registering = False
    from typer.main import get_command_name

    found = [info for info in _app.registered_commands
             if (info.name or get_command_name(info.callback.__name__)) == args[at]]
    if len(found) != 1:
        return __getattr__("app")
    import copy

    single = copy.copy(_app)
    single.registered_commands = found
    single.registered_groups = []
    return single


# Registration: each module adds its commands to `app` when imported (they import only typer and
# stdlib up front); `app` is the whole of it, so it is made on first use (`from logsvc.cli import
# app`), while a plain command line imports its command's module alone (`_app_for`).
# The order here is the order of the panels in `logsvc --help`.
_MODULES = ("entries", "insight", "spool", "serve", "deploy", "table", "config", "doctor")
# Which module registers each top-level command (tests/test_cli_registry.py holds it to the truth).
_COMMAND_MODULES = {
    "send": "entries", "recent": "entries", "tail": "entries", "stats": "insight", "export": "insight",
    "top": "insight", "status": "spool", "flush": "spool", "serve": "serve", "deploy": "deploy", "diff": "deploy",
    "outputs": "deploy", "destroy": "deploy", "doctor": "doctor",
}
_registered = False
_registering = False


def __getattr__(name: str):
    """`app`: the whole command line, every module's commands registered, in panel order."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global _registered
    if _registering:
        return _app
    if not _registered:
        _registered = True  # first: each module's own `from logsvc.cli import app` returns at once
        for module in _MODULES:
            importlib.import_module(f"logsvc.cli.{module}")
    # The panels keep the order of _MODULES, whichever module was imported first (one imported
    # directly registers its commands only after this returns to it: sorted at the next use).
    rank = {f"logsvc.cli.{module}": index for index, module in enumerate(_MODULES)}
    _app.registered_commands.sort(key=lambda info: rank.get(info.callback.__module__, len(rank)))
    _app.registered_groups.sort(key=lambda info: rank.get(_group_module(info), len(rank)))
    return _app


def _group_module(info) -> str:
    commands = info.typer_instance.registered_commands
    return commands[0].callback.__module__ if commands else ""
