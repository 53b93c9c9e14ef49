"""Configuration: named profiles in a TOML file, `LOGSVC_*` environment variables, flags.

Every setting is resolved in one order: command-line flag > `LOGSVC_<KEY>` environment
variable > the active profile in the config file > the default. The active profile is
`--profile`, else `LOGSVC_PROFILE`, else the file's `current`, else `default`.
`LOGSVC_HOME` moves both the config file and the local data (store, spool) into one folder.
AWS credentials and region are never stored here: they come from the standard AWS chain.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from logsvc.errors import UsageError

TARGETS = ("local", "url", "dynamodb")
AUTHS = ("none", "iam")
# key -> (default, help)
SETTINGS: dict[str, tuple[str | None, str]] = {
    "target": ("local", "where entries go and come from: local, url or dynamodb"),
    "store": (None, "path of the local SQLite store (default: logs.db in the data folder)"),
    "ingest_url": (None, "the ingest Function URL (target url)"),
    "read_url": (None, "the read Function URL (target url)"),
    "auth": ("none", "Function URL auth: none or iam (SigV4)"),
    "table": (None, "DynamoDB table name (target dynamodb)"),
    "region": (None, "AWS region (default: the AWS chain's)"),
    "aws_profile": (None, "AWS profile name (default: the AWS chain's)"),
    "endpoint_url": (None, "DynamoDB endpoint URL, for local DynamoDB-compatible servers"),
    "shards": (None, "index shards of the table (default: read from the table)"),
    # `logsvc deploy`: the stack, its artifact bucket and its template parameters (None: the template's default).
    "stack": (None, "CloudFormation stack name for deploy, diff, outputs and destroy (default: logsvc)"),
    "bucket": (None, "S3 bucket for the Lambda zip (default: logsvc-artifacts-ACCOUNT-REGION, created)"),
    "retention_days": (None, "deploy: days until an entry expires, 0 keeps them (default 30)"),
    "settle_seconds": (None, "deploy: the tail's settle window in seconds (default 5)"),
    "reserved_concurrency": (None, "deploy: reserved concurrency per function, 0 unreserved (default 0)"),
    "log_retention_days": (None, "deploy: days CloudWatch keeps the functions' logs (default 14)"),
    "alarms": (None, "deploy: CloudWatch alarms, on or off (default on)"),
    "alarm_topic": (None, "deploy: SNS topic ARN the alarms notify (default: none)"),
    "ingest_alarm_threshold": (None, "deploy: ingest invocations per hour that raise the cost alarm (default 100000)"),
    "keep_table": (None, "deploy: keep the table when the stack is deleted, yes or no (default yes)"),
}


def data_dir() -> Path:
    home = os.environ.get("LOGSVC_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_path

    return user_data_path("logsvc", appauthor=False)


def config_dir() -> Path:
    home = os.environ.get("LOGSVC_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_config_path

    return user_config_path("logsvc", appauthor=False)


def config_path() -> Path:
    return config_dir() / "config.toml"


class Resolved:
    """The settings in force, and where each came from (flag, env, profile NAME, default)."""

    def __init__(self, profile: str, values: dict[str, str | None], origins: dict[str, str]) -> None:
        self.profile = profile
        self.values = values
        self.origins = origins

    def __getitem__(self, key: str) -> str | None:
        return self.values[key]

    def store_path(self) -> Path:
        return Path(self.values["store"]).expanduser() if self.values["store"] else data_dir() / "logs.db"


def load_file(path: Path | None = None) -> dict:
    """The config file as a dict (`current` and `profiles`); empty when there is none."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from exc
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the config file {path} is not valid TOML: {exc}",
                         hint="fix it by hand, or move it aside and use `logsvc config set`") from exc
    _check_shape(data, path)
    return data


def _check_shape(data: dict, path: Path) -> None:
    """Refuse a hand-edited file that is TOML but not a config, rather than fail on it later."""
    profiles = data.get("profiles", {})
    if not isinstance(data.get("current", ""), str):
        problem = "`current` is not a profile name"
    elif not isinstance(profiles, dict) or not all(isinstance(t, dict) for t in profiles.values()):
        problem = "`profiles` is not a set of [profiles.NAME] tables"
    else:
        return
    raise UsageError(f"the config file {path}: {problem}",
                     hint='fix it by hand: current = "NAME", then a [profiles.NAME] table per profile')


def _check_profile(data: dict, name: str) -> None:
    """A hand-edited profile's typo must not be ignored: its default would apply instead, e.g.
    entries stored locally rather than sent to the profile's target."""
    if name != "default" and name == data.get("current") and name not in data.get("profiles", {}):
        raise UsageError(f"the current profile {name!r} (config file {config_path()}) does not exist",
                         hint="`logsvc config use NAME` with a profile from `logsvc config list`")
    unknown = [key for key in data.get("profiles", {}).get(name, {}) if key not in SETTINGS]
    if unknown:
        raise UsageError(f"profile {name!r} (config file {config_path()}) has an unknown setting {unknown[0]!r}",
                         hint=f"`logsvc config unset {unknown[0]}`, or fix its name: {', '.join(SETTINGS)}")


def save_file(data: dict, path: Path | None = None) -> Path:
    """Write the config file atomically (profiles hold only strings)."""
    path = path or config_path()
    lines = []
    if data.get("current"):
        lines.append(f"current = {_toml_string(data['current'])}")
    for name, table in sorted(data.get("profiles", {}).items()):
        lines.append("")
        lines.append(f"[profiles.{_toml_string(name)}]")
        for key, value in sorted(table.items()):
            lines.append(f"{key} = {_toml_string(str(value))}")
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the folder cannot be written, or is not a folder: there is no tmp file
        raise UsageError(f"cannot write the config file {path}: {exc.strerror or exc}",
                         hint="make its folder writable, or set LOGSVC_HOME to a folder you can write") from None
    return path


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


def resolve(flags: dict[str, str | None] | None = None, *, profile: str | None = None) -> Resolved:
    """Resolve every setting: flag > LOGSVC_<KEY> > profile > default."""
    flags = flags or {}
    data = load_file() if _file_may_matter(flags) else {}
    name = profile or os.environ.get("LOGSVC_PROFILE") or data.get("current") or "default"
    profiles = data.get("profiles", {})
    if (profile or os.environ.get("LOGSVC_PROFILE")) and name not in profiles and name != "default":
        raise UsageError(f"no profile named {name!r}", hint="see `logsvc config list`")
    _check_profile(data, name)
    table = profiles.get(name, {})
    values: dict[str, str | None] = {}
    origins: dict[str, str] = {}
    for key, (default, _help) in SETTINGS.items():
        env = os.environ.get(f"LOGSVC_{key.upper()}")
        if flags.get(key) is not None:
            values[key], origins[key] = str(flags[key]), "flag"
        elif env:
            values[key], origins[key] = env, f"env LOGSVC_{key.upper()}"
        elif key in table:
            values[key], origins[key] = str(table[key]), f"profile {name}"
        else:
            values[key], origins[key] = default, "default"
    if values["region"] is None:
        # botocore reads only AWS_DEFAULT_REGION; operators set AWS_REGION too (the CLI v2 reads both).
        for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if os.environ.get(variable):
                values["region"], origins["region"] = os.environ[variable], f"env {variable}"
                break
    _check(values, origins)
    return Resolved(name, values, origins)


def _file_may_matter(flags: dict) -> bool:
    # A local send with --store given never needs the file: skip the read on the hot path.
    return not (flags.get("store") and flags.get("target") == "local")


def validate_value(key: str, value: str) -> None:
    """UsageError when `value` cannot be a value of `key`."""
    _check({**{name: default for name, (default, _help) in SETTINGS.items()}, key: value})


URL_KEYS = ("ingest_url", "read_url", "endpoint_url")


def url_problem(value: str) -> str | None:
    """Why `value` cannot be a service URL (scheme http or https, and a host), or None if it can."""
    from urllib.parse import urlsplit

    if not value.isprintable() or any(ch.isspace() for ch in value):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http:// or https:// URL" if parts.scheme else "is not a URL (no http:// or https://)"
    if not parts.hostname:
        return "names no host"
    return None


# DynamoDB's table names: checked wherever a name comes from (flag, env, profile), so a typo fails
# here with its origin, and not as an AWS validation error after the first request.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def _check(values: dict[str, str | None], origins: dict[str, str] | None = None) -> None:
    table = values.get("table")
    if table is not None and not _TABLE_NAME.fullmatch(table):
        origin = (origins or {}).get("table", "")
        where = f" ({origin})" if origin else ""
        raise UsageError(f"table {table!r}{where} is not a DynamoDB table name",
                         hint="3 to 255 letters, digits, '.', '_' or '-'")
    for key in URL_KEYS:
        value = values.get(key)
        problem = url_problem(value) if value else None
        if problem:
            origin = (origins or {}).get(key, "")
            where = f" ({origin})" if origin else ""
            fix = (f"set {origin[4:]} to an http(s) URL" if origin.startswith("env ") else
                   f"give --{key.replace('_', '-')} an http(s) URL" if origin == "flag" else
                   f"`logsvc config set {key} https://HOST/...`")
            raise UsageError(f"{key} {value!r}{where} {problem}", hint=f"{fix} (scheme http or https, and a host)")
    if values["target"] not in TARGETS:
        raise UsageError(f"target {values['target']!r} is not one of {', '.join(TARGETS)}")
    if values["auth"] not in AUTHS:
        raise UsageError(f"auth {values['auth']!r} is not one of {', '.join(AUTHS)}")
    if values["shards"] is not None and not str(values["shards"]).isdigit():
        raise UsageError(f"shards {values['shards']!r} is not a whole number")
