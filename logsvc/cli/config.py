"""`logsvc config ...`: show and change the profiles that say where entries go."""

import os
import re
import sys
from typing import Annotated

import typer

from logsvc.cli import SETUP, app
from logsvc.cli.options import ProfileOpt
from logsvc.errors import UsageError

config_app = typer.Typer(help="Show and change profiles: where send, recent and tail go.", no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel=SETUP)


@config_app.command("show")
def config_show(profile: ProfileOpt = None) -> None:
    """Show every setting in force and where it came from (flag, env, profile, default)."""
    from logsvc.config import SETTINGS, config_path, resolve

    settings = resolve(profile=profile)
    sys.stdout.write(f"profile {settings.profile} ({config_path()})\n")
    rows = []
    for key in SETTINGS:
        value = settings[key] if settings[key] is not None else "-"
        if key == "store" and settings[key] is None:
            value = f"{settings.store_path()}"
        rows.append((key, f"{value}", settings.origins[key]))
    # Columns as wide as their longest cell, so a long key or path does not push its row askew.
    key_width = max(len(key) for key, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    for key, value, origin in rows:
        sys.stdout.write(f"{key:<{key_width}}  {value:<{value_width}}  {origin}\n")


def _profile_name(data: dict, profile: str | None) -> str:
    """The profile a change applies to: --profile, else LOGSVC_PROFILE, else the current one."""
    return _checked_name(profile or os.environ.get("LOGSVC_PROFILE") or data.get("current") or "default")


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# What AWS region names look like (eu-west-1, us-gov-west-1, or `local` for a local endpoint).
# Checked when set, so a typo fails here and not in the first request.
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a profile name",
                         hint="1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def _check_value(key: str, value: str) -> None:
    """The checks `config set` adds to the configuration's own, for values with a fixed shape."""
    from logsvc.store.dynamodb.schema import MAX_SHARDS

    if key == "shards" and not (value.isdigit() and 1 <= int(value) <= MAX_SHARDS):
        raise UsageError(f"shards {value!r} is not a whole number from 1 to {MAX_SHARDS}",
                         hint="the table's index shard count; `logsvc config unset shards` reads it from the table")
    if key == "region" and not _REGION.fullmatch(value):
        raise UsageError(f"region {value!r} is not an AWS region name", hint="e.g. eu-west-1")
    from logsvc.deploy.parameters import BY_SETTING, template_parameters

    if key in BY_SETTING:
        template_parameters({key: value})  # what deploy would refuse (alarms maybe), refused now


def _complete_key(incomplete: str) -> list[tuple[str, str]]:
    """Shell completion of KEY: the settings, each with its help."""
    from logsvc.config import SETTINGS

    return [(key, help_text) for key, (_default, help_text) in SETTINGS.items() if key.startswith(incomplete)]


def _complete_value(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of VALUE, for the settings whose values are a fixed set."""
    from logsvc.config import AUTHS, TARGETS

    choices = {"target": TARGETS, "auth": AUTHS, "alarms": ("on", "off"), "keep_table": ("yes", "no")}
    return [choice for choice in choices.get(ctx.params.get("key") or "", ()) if choice.startswith(incomplete)]


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="A setting: see `logsvc config show`.", autocompletion=_complete_key)],
    value: Annotated[str, typer.Argument(help="Its value.", autocompletion=_complete_value)],
    profile: ProfileOpt = None,
) -> None:
    """Set KEY to VALUE in a profile (the active one unless --profile)."""
    from logsvc.config import SETTINGS, load_file, save_file, validate_value

    if key not in SETTINGS:
        raise UsageError(f"unknown setting {key!r}", hint=f"settings: {', '.join(SETTINGS)}")
    _check_value(key, value)
    validate_value(key, value)
    if key == "store" and not value.startswith("~") and not os.path.isabs(value):
        # Kept for later commands run from anywhere: relative to where it was set, as meant.
        value = os.path.abspath(value)
    data = load_file()
    name = _profile_name(data, profile)
    data.setdefault("profiles", {}).setdefault(name, {})[key] = value
    path = save_file(data)
    sys.stderr.write(f"{key} = {value} in profile {name} ({path})\n")


@config_app.command("unset")
def config_unset(key: Annotated[str, typer.Argument(help="The setting to remove.", autocompletion=_complete_key)],
                 profile: ProfileOpt = None) -> None:
    """Remove KEY from a profile, so its default applies again."""
    from logsvc.config import load_file, save_file

    data = load_file()
    name = _profile_name(data, profile)
    if data.get("profiles", {}).get(name, {}).pop(key, None) is None:
        raise UsageError(f"{key!r} is not set in profile {name}")
    save_file(data)


@config_app.command("use")
def config_use(name: Annotated[str, typer.Argument(help="The profile to make active.")]) -> None:
    """Make PROFILE the active one (created empty if new)."""
    from logsvc.config import load_file, save_file

    _checked_name(name)
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
    current = _profile_name(data, None)
    names = sorted(set(data.get("profiles", {})) | {"default"})
    for name in names:
        target = data.get("profiles", {}).get(name, {}).get("target", "local")
        sys.stdout.write(f"{'*' if name == current else ' '} {name:<20} {target}\n")
