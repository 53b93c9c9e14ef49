"""The dynamodb target's AWS side: table commands and one-line hints, against a moto server on loopback."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from dynamo_fixtures import moto_endpoint  # noqa: F401  (fixture)
from logsvc.aws import translate
from logsvc.cli import app
from logsvc.errors import ExitCode, LogsvcError, UsageError
from logsvc.store import StoreUnavailable
from logsvc.store.dynamodb import table_definition

runner = CliRunner()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("LOGSVC_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_table_create_matches_the_schema_and_is_idempotent(aws_env):
    import boto3

    name = f"t-{uuid.uuid4().hex[:8]}"
    first = invoke("table", "create", "--table", name, "--shards", "4")
    assert first.exit_code == 0, first.output
    assert "created" in first.stderr
    again = invoke("table", "create", "--table", name)
    assert again.exit_code == 0 and "already exists" in again.stderr
    client = boto3.client("dynamodb", endpoint_url=aws_env, region_name="us-east-1")
    described = client.describe_table(TableName=name)["Table"]
    wanted = table_definition(name)
    assert described["KeySchema"] == wanted["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(wanted["AttributeDefinitions"], key=str)
    assert [index["KeySchema"] for index in described["GlobalSecondaryIndexes"]] == [
        index["KeySchema"] for index in wanted["GlobalSecondaryIndexes"]]
    # The table works end to end through the CLI, on the 4 shards it recorded.
    for n in range(6):
        assert invoke("send", "--target", "dynamodb", "--table", name, f"m{n}").exit_code == 0
    shown = invoke("recent", "--target", "dynamodb", "--table", name, "-o", "jsonl").stdout.splitlines()
    assert len(shown) == 6
    refused = invoke("table", "delete", "--table", name)
    assert refused.exit_code == ExitCode.USAGE and "--yes" in refused.stderr
    deleted = invoke("table", "delete", "--table", name, "--yes")
    assert deleted.exit_code == 0 and "deleted" in deleted.stderr


def test_missing_table_gets_a_hint(aws_env):
    result = invoke("recent", "--target", "dynamodb", "--table", "no-such-table")
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "table 'no-such-table' was not found" in result.stderr
    assert "logsvc table create" in result.stderr
    assert "Traceback" not in result.output


def test_no_region_gets_a_hint(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    result = invoke("recent", "--target", "dynamodb", "--table", "logs")
    assert result.exit_code == ExitCode.USAGE
    assert "no AWS region" in result.stderr and "AWS_REGION" in result.stderr


def test_no_credentials_get_a_hint(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = invoke("recent", "--target", "dynamodb", "--table", "logs")
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "no AWS credentials" in result.stderr and "aws configure" in result.stderr


def test_unknown_aws_profile_is_a_usage_error(aws_env, monkeypatch):
    monkeypatch.setenv("LOGSVC_AWS_PROFILE", "ghost")
    result = invoke("recent", "--target", "dynamodb", "--table", "logs")
    assert result.exit_code == ExitCode.USAGE
    assert "ghost" in result.stderr


def test_unreachable_endpoint_spools_the_entry_with_exit_5(aws_env, monkeypatch):
    monkeypatch.setenv("LOGSVC_ENDPOINT_URL", "http://127.0.0.1:9")
    result = invoke("send", "--target", "dynamodb", "--table", "logs", "kept")
    assert result.exit_code == ExitCode.SPOOLED, result.output
    assert "kept in the spool" in result.stderr
    status = invoke("status", "--table", "logs")
    assert "spooled: 1 entry" in status.stdout


def _client_error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Query")


@pytest.mark.parametrize(
    "code, words",
    [
        ("ExpiredTokenException", ("expired", "aws sso login")),
        ("UnrecognizedClientException", ("rejected the credentials", "AWS_PROFILE")),
        ("AccessDeniedException", ("access denied", "dynamodb:PutItem")),
        ("ResourceNotFoundException", ("was not found", "logsvc table create")),
    ],
)
def test_aws_error_codes_become_one_line_hints(code, words):
    with pytest.raises(LogsvcError) as raised:
        with translate("logs"):
            raise _client_error(code)
    text = f"{raised.value.message} {raised.value.hint()}"
    for word in words:
        assert word in text
    assert "\n" not in text


def test_connection_failures_are_transient_and_region_is_usage():
    from botocore.exceptions import EndpointConnectionError, NoRegionError

    with pytest.raises(StoreUnavailable):
        with translate():
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    with pytest.raises(UsageError):
        with translate():
            raise NoRegionError()


@pytest.mark.parametrize("how", ["flag", "AWS_ENDPOINT_URL"])
def test_endpoint_from_the_flag_or_the_standard_aws_variable(aws_env, monkeypatch, how):
    monkeypatch.delenv("LOGSVC_ENDPOINT_URL")
    name = f"t-{uuid.uuid4().hex[:8]}"
    flag = ["--endpoint-url", aws_env] if how == "flag" else []
    if how == "AWS_ENDPOINT_URL":
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)
    assert invoke("table", "create", "--table", name, *flag).exit_code == 0
    assert invoke("send", "--table", name, *flag, "via endpoint").exit_code == 0
    shown = invoke("recent", "--table", name, *flag, "-o", "jsonl")
    assert shown.exit_code == 0 and '"message": "via endpoint"' in shown.stdout
