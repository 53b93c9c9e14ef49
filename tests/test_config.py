"""Configuration: profiles on disk, precedence flag > env > profile > default, and the config commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.config import config_path, load_file, resolve
from logsvc.errors import ExitCode, UsageError

runner = CliRunner()


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


def test_defaults_with_nothing_configured(isolated):
    settings = resolve()
    assert settings.profile == "default"
    assert settings["target"] == "local"
    assert settings.origins["target"] == "default"
    assert settings.store_path() == isolated / "logsvc" / "logs.db"


def test_precedence_flag_over_env_over_profile_over_default(monkeypatch):
    assert invoke("config", "set", "table", "from-profile").exit_code == 0
    assert resolve()["table"] == "from-profile"
    assert resolve().origins["table"] == "profile default"
    monkeypatch.setenv("LOGSVC_TABLE", "from-env")
    assert resolve()["table"] == "from-env"
    assert resolve().origins["table"] == "env LOGSVC_TABLE"
    flagged = resolve({"table": "from-flag"})
    assert flagged["table"] == "from-flag" and flagged.origins["table"] == "flag"


def test_profiles_use_list_and_the_profile_flag_and_env(monkeypatch):
    assert invoke("config", "set", "target", "url", "--profile", "prod").exit_code == 0
    assert invoke("config", "set", "ingest_url", "https://x.lambda-url.eu-west-1.on.aws/", "--profile", "prod").exit_code == 0
    assert resolve()["target"] == "local"  # the active profile is still default
    assert resolve(profile="prod")["target"] == "url"
    monkeypatch.setenv("LOGSVC_PROFILE", "prod")
    assert resolve()["target"] == "url"
    monkeypatch.delenv("LOGSVC_PROFILE")
    assert invoke("config", "use", "prod").exit_code == 0
    assert resolve().profile == "prod"
    listing = invoke("config", "list").stdout.splitlines()
    assert "* prod" in "\n".join(listing) and any(line.startswith("  default") for line in listing)
    assert load_file(config_path())["current"] == "prod"


def test_show_says_where_each_value_came_from(monkeypatch):
    invoke("config", "set", "region", "eu-west-1")
    monkeypatch.setenv("LOGSVC_AUTH", "iam")
    shown = invoke("config", "show").stdout
    lines = {line.split()[0]: line for line in shown.splitlines()[1:]}
    assert lines["region"].split()[1:] == ["eu-west-1", "profile", "default"]
    assert lines["auth"].split()[1:] == ["iam", "env", "LOGSVC_AUTH"]
    assert lines["target"].split()[1:] == ["local", "default"]


@pytest.mark.parametrize("args", [["config", "set", "target", "ftp"], ["config", "set", "auth", "magic"],
                                  ["config", "set", "colour", "red"], ["config", "set", "shards", "many"]])
def test_bad_settings_are_usage_errors_and_nothing_is_written(args):
    result = invoke(*args)
    assert result.exit_code == ExitCode.USAGE
    assert not config_path().exists()


def test_unknown_profile_and_broken_file_are_clear_errors():
    with pytest.raises(UsageError, match="no profile named 'nope'"):
        resolve(profile="nope")
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text("this is = = not toml")
    result = invoke("recent")
    assert result.exit_code == ExitCode.USAGE
    assert str(config_path()) in result.stderr and "not valid TOML" in result.stderr


def test_values_with_quotes_and_backslashes_round_trip():
    awkward = '/C:\\logs\\"quoted"\\store.db'  # absolute: `config set store` keeps a relative one absolute
    assert invoke("config", "set", "store", awkward).exit_code == 0
    assert resolve()["store"] == awkward


def test_env_target_switches_the_command_target(monkeypatch):
    monkeypatch.setenv("LOGSVC_TARGET", "dynamodb")
    result = invoke("recent")
    assert result.exit_code == ExitCode.USAGE
    assert "needs a table name" in result.stderr


def test_status_and_doctor_on_the_local_default():
    assert invoke("send", "hello").exit_code == 0
    status = invoke("status")
    assert status.exit_code == 0
    assert "target:  local" in status.stdout and "spooled: 0 entries" in status.stdout
    doctor = invoke("doctor")
    assert doctor.exit_code == 0, doctor.stdout
    assert [line.split()[0] for line in doctor.stdout.splitlines()] == ["ok", "ok", "ok"]
    messages = [json.loads(line)["message"] for line in invoke("recent", "-o", "jsonl").stdout.splitlines()]
    assert any(message.startswith("logsvc doctor canary ") for message in messages)


def test_doctor_reports_an_unreachable_url_target_and_fails(monkeypatch):
    monkeypatch.setenv("LOGSVC_TARGET", "url")
    monkeypatch.setenv("LOGSVC_READ_URL", "http://127.0.0.1:9/read")
    monkeypatch.setenv("LOGSVC_INGEST_URL", "http://127.0.0.1:9/ingest")
    result = invoke("doctor", "--no-canary")
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "FAIL  reach: cannot reach 127.0.0.1:9" in result.stdout
