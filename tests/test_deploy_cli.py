"""`logsvc deploy`, `diff`, `outputs`, `destroy` end to end against moto on loopback (with tests/moto_cfn_shim.py)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import moto_cfn_shim
import pytest
from deploy_fixtures import aws, moto_endpoint  # noqa: F401 - fixtures are used by name
from typer.testing import CliRunner

from logsvc.cli import app
from logsvc.config import load_file
from logsvc.deploy import stack as stacks
from logsvc.errors import ExitCode
from logsvc.store.dynamodb import SETTINGS_ID
from tests.conftest import ROOT

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def profile() -> dict:
    data = load_file()
    return data.get("profiles", {}).get(data.get("current") or "default", {})


def describe(aws):
    return stacks.describe(aws.client("cloudformation"), aws.stack)


def stack_events(aws) -> list[str]:
    events = aws.client("cloudformation").describe_stack_events(StackName=aws.stack)["StackEvents"]
    return [f"{e['LogicalResourceId']} {e['ResourceStatus']}" for e in events]


def test_the_whole_lifecycle(aws, monkeypatch):
    # A region no other test uses: its default artifact bucket is new, so this deploy makes and fills it.
    aws.region = "ap-southeast-2"
    monkeypatch.setenv("AWS_REGION", aws.region)
    cfn = aws.client("cloudformation")
    created = invoke("deploy", "--stack", aws.stack, "--yes")
    assert created.exit_code == 0, created.stderr
    assert "created the artifact bucket logsvc-artifacts-123456789012-ap-southeast-2" in created.stderr
    assert "uploaded s3://logsvc-artifacts-123456789012-ap-southeast-2/logsvc/lambda-" in created.stderr
    assert "IngestFunction" in created.stdout and "AWS::Lambda::Url" in created.stdout  # the change table
    assert f"{'CREATE_COMPLETE':<28} {aws.stack}" in created.stderr  # the stack's own event, as it settled
    assert "warning: auth none" not in created.stderr
    out = stacks.outputs(describe(aws))
    saved = profile()
    assert {key: saved.get(key) for key in ("target", "ingest_url", "read_url", "auth", "region", "table", "stack")} == {
        "target": "url", "ingest_url": out["IngestUrl"], "read_url": out["ReadUrl"], "auth": "iam",
        "region": aws.region, "table": out["TableName"], "stack": aws.stack}
    item = aws.client("dynamodb").get_item(TableName=out["TableName"], Key={"LogID": {"S": SETTINGS_ID}})["Item"]
    assert item["Shards"] == {"N": "1"}

    shown = invoke("outputs", "-o", "json")  # the stack comes from the profile now
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == out
    assert f"IngestUrl  {out['IngestUrl']}\n" in invoke("outputs").stdout

    # Unchanged: no upload, no change set executed, the stack untouched.
    events_before = stack_events(aws)
    again = invoke("deploy", "--yes")
    assert again.exit_code == 0, again.stderr
    assert "unchanged, not uploaded" in again.stderr and "no changes" in again.stderr
    assert again.stdout == ""
    assert stack_events(aws) == events_before and describe(aws)["StackStatus"] == "CREATE_COMPLETE"

    # A changed parameter: an update.
    updated = invoke("deploy", "--retention-days", "90", "--yes")
    assert updated.exit_code == 0, updated.stderr
    assert "update of stack" in updated.stdout and "Modify" in updated.stdout
    assert (describe(aws)["StackStatus"], stacks.parameters(describe(aws))["RetentionDays"]) == ("UPDATE_COMPLETE", "90")

    # diff: exit 0 without changes, 6 with, and the change set never stays.
    same = invoke("diff", "--retention-days", "90")
    assert (same.exit_code, same.stdout) == (0, ""), same.stderr
    changed = invoke("diff", "--retention-days", "7", "-o", "json")
    assert changed.exit_code == ExitCode.CHANGES == 6, changed.stderr
    assert json.loads(changed.stdout) == {"kind": "UPDATE", "changes": [
        {"action": "Modify", "logicalId": "IngestFunction", "type": "AWS::Lambda::Function", "replacement": "False"},
        {"action": "Modify", "logicalId": "ReadFunction", "type": "AWS::Lambda::Function", "replacement": "False"}]}
    markdown = invoke("diff", "--retention-days", "7", "-o", "markdown")
    assert markdown.exit_code == 6 and "| Modify | `IngestFunction` | `AWS::Lambda::Function` | False |" in markdown.stdout
    assert stacks.parameters(describe(aws))["RetentionDays"] == "90"
    pending = [c for c in cfn.list_change_sets(StackName=aws.stack)["Summaries"]
               if c["StackName"] == aws.stack and c["ExecutionStatus"] != "EXECUTE_COMPLETE"]
    assert pending == []

    destroyed = invoke("destroy", "--yes")
    assert destroyed.exit_code == 0, destroyed.stderr
    assert f"the table {out['TableName']} is kept" in destroyed.stderr
    assert describe(aws) is None
    assert aws.client("dynamodb").describe_table(TableName=out["TableName"])["Table"]["TableName"]  # kept
    assert not {"ingest_url", "read_url", "table", "stack", "target"} & set(profile())
    gone = invoke("outputs", "--stack", aws.stack)
    assert gone.exit_code == 1 and f"there is no stack '{aws.stack}'" in gone.stderr


def test_auth_none_is_public_only_when_asked(aws):
    result = invoke("deploy", "--stack", aws.stack, "--auth", "none", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "warning: auth none: the URLs are public" in result.stderr
    lam = aws.client("lambda")
    for kind in ("ingest", "read"):
        assert lam.get_function_url_config(FunctionName=f"{aws.stack}-{kind}")["AuthType"] == "NONE"
        policy = json.loads(lam.get_policy(FunctionName=f"{aws.stack}-{kind}")["Policy"])
        assert sorted(s["Action"] for s in policy["Statement"]) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    assert profile()["auth"] == "none"
    # The profile remembers it: the next deploy stays public rather than breaking its callers.
    assert "no changes" in invoke("deploy", "--yes").stderr


def test_table_policy_and_shard_count_changes_are_refused(aws, monkeypatch):
    assert invoke("deploy", "--stack", aws.stack, "--shards", "2", "--yes").exit_code == 0
    fewer = invoke("deploy", "--shards", "1", "--yes")
    assert fewer.exit_code == ExitCode.USAGE and "shards cannot shrink from 2 to 1" in fewer.stderr
    monkeypatch.setenv("LOGSVC_KEEP_TABLE", "no")
    swap = invoke("deploy", "--yes")
    assert swap.exit_code == ExitCode.USAGE and "keep_table is fixed" in swap.stderr
    assert describe(aws)["StackStatus"] == "CREATE_COMPLETE"
    monkeypatch.delenv("LOGSVC_KEEP_TABLE")
    more = invoke("deploy", "--shards", "3", "--yes")
    assert more.exit_code == 0, more.stderr
    item = aws.client("dynamodb").get_item(TableName=profile()["table"], Key={"LogID": {"S": SETTINGS_ID}})["Item"]
    assert item["Shards"] == {"N": "3"} and stacks.parameters(describe(aws))["IndexShards"] == "3"


def test_destroy_deletes_the_table_when_keep_table_was_no(aws, monkeypatch):
    monkeypatch.setenv("LOGSVC_KEEP_TABLE", "no")
    assert invoke("deploy", "--stack", aws.stack, "--yes").exit_code == 0
    table = profile()["table"]
    destroyed = invoke("destroy", "--yes")
    assert destroyed.exit_code == 0, destroyed.stderr
    assert f"the table {table} was DELETED" in destroyed.stderr
    assert table not in aws.client("dynamodb").list_tables()["TableNames"]


def test_no_credentials_and_no_region(aws, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = invoke("deploy", "--stack", aws.stack, "--yes")
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert result.stderr.splitlines()[0] == "error: no AWS credentials found"
    monkeypatch.delenv("AWS_REGION")
    result = invoke("diff", "--stack", aws.stack)
    assert result.exit_code == ExitCode.USAGE and "no AWS region is configured" in result.stderr


def test_a_refused_change_set_changes_nothing(aws):
    moto_cfn_shim.FAIL_CHANGE_SETS.append("Template format error: Unrecognized resource types: [AWS::Nope]")
    result = invoke("deploy", "--stack", aws.stack, "--yes")
    assert result.exit_code == 1
    assert "CloudFormation refused the change set: Template format error" in result.stderr
    assert describe(aws) is None and "ingest_url" not in profile()


def test_a_rollback_names_the_failed_resource_and_blocks_the_next_deploy(aws):
    moto_cfn_shim.FAIL["IngestFunction"] = "Resource handler returned message: Code storage limit exceeded"
    failed = invoke("deploy", "--stack", aws.stack, "--yes")
    assert failed.exit_code == 1
    assert ("IngestFunction (AWS::Lambda::Function) CREATE_FAILED: Resource handler returned message: "
            "Code storage limit exceeded") in failed.stderr
    assert "the stack rolled back" in failed.stderr
    assert "deploy failed (ROLLBACK_COMPLETE)" in failed.stderr and "logsvc destroy" in failed.stderr
    assert "ingest_url" not in profile()
    moto_cfn_shim.FAIL.clear()
    blocked = invoke("deploy", "--stack", aws.stack, "--yes")
    assert blocked.exit_code == 1 and "must be deleted first" in blocked.stderr
    assert invoke("destroy", "--stack", aws.stack, "--yes").exit_code == 0
    assert invoke("deploy", "--stack", aws.stack, "--yes").exit_code == 0


def test_without_a_terminal_deploy_and_destroy_need_yes(aws):
    for command in ("deploy", "destroy"):
        result = invoke(command, "--stack", aws.stack)
        assert result.exit_code == ExitCode.USAGE and "add --yes" in result.stderr
    assert describe(aws) is None


def _run_on_terminal(args: list[str], answer: bytes, env: dict, timeout: float = 90) -> tuple[int, str]:
    """Run `python -m logsvc ARGS` on a pseudo-terminal, answer its prompt, return (exit code, output)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "logsvc", *args], stdin=terminal, stdout=terminal, stderr=terminal,
                            env=env, cwd=ROOT, close_fds=True)
    os.close(terminal)
    seen, answered, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and b"[y/N]" in seen:
                    os.write(controller, answer)
                    answered = True
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)


def test_refusing_at_the_prompt_changes_nothing(aws):
    env = {**os.environ, "COLUMNS": "200"}
    code, output = _run_on_terminal(["deploy", "--stack", aws.stack], b"n\n", env)
    assert "IngestFunction" in output and "create stack" in output  # the change table, then the question
    assert code == 1 and "deploy declined; nothing was changed" in output, output
    assert describe(aws) is None  # the CREATE change set's empty stack was removed too
    assert "ingest_url" not in profile()


def test_smoke_sends_a_canary_through_the_urls_and_reads_it_back(aws, tmp_path):
    from logsvc.serve import LocalServer
    from logsvc.sigv4 import Credentials, SigV4Verifier
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "behind-the-urls.db")
    verifier = SigV4Verifier(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], None))
    server = LocalServer(store, auth=verifier).start()
    try:
        # The shim's Function URLs point at the local server: requests are really signed and verified.
        moto_cfn_shim.URLS.update({f"{aws.stack}-ingest": server.ingest_url, f"{aws.stack}-read": server.read_url})
        result = invoke("deploy", "--stack", aws.stack, "--yes", "--smoke")
        assert result.exit_code == 0, result.stderr
        assert "smoke test passed: canary" in result.stderr
        canary_id = result.stderr.split("smoke test passed: canary ")[1].split()[0]
        from logsvc.store import Query

        stored = store.recent(Query(limit=5)).entries
        assert [(e["id"], e["source"]) for e in stored] == [(canary_id, "logsvc-deploy")]
        assert stored[0]["message"].startswith("logsvc deploy smoke test ")
        # ...and plain `logsvc send` goes to the deployed URLs right away, signed.
        sent = invoke("send", "right after the deploy")
        assert sent.exit_code == 0, sent.stderr
        assert store.recent(Query(limit=1)).entries[0]["id"] == sent.stdout.strip()
    finally:
        server.stop()
        store.close()


def test_smoke_fails_when_the_urls_refuse_the_signature(aws, tmp_path):
    from logsvc.serve import LocalServer
    from logsvc.sigv4 import Credentials, SigV4Verifier
    from logsvc.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "behind-the-urls.db")
    server = LocalServer(store, auth=SigV4Verifier(Credentials("AKIDOTHER", "other-secret", None))).start()
    try:
        moto_cfn_shim.URLS.update({f"{aws.stack}-ingest": server.ingest_url, f"{aws.stack}-read": server.read_url})
        result = invoke("deploy", "--stack", aws.stack, "--yes", "--smoke")
        assert result.exit_code != 0
        assert "smoke test passed" not in result.stderr and "error:" in result.stderr
        assert profile()["ingest_url"] == server.ingest_url  # the deploy itself succeeded and was recorded
    finally:
        server.stop()
        store.close()


def test_on_a_terminal_yes_deploys_with_the_live_event_table(aws):
    env = {**os.environ, "COLUMNS": "200"}
    code, output = _run_on_terminal(["deploy", "--stack", aws.stack], b"y\n", env)
    assert code == 0, output
    assert "deploying stack" in output and "CREATE_COMPLETE" in output and "IngestFunction" in output
    assert describe(aws)["StackStatus"] == "CREATE_COMPLETE"
    assert profile()["stack"] == aws.stack


def test_a_named_bucket_is_used_and_remembered_but_never_created(aws):
    missing = invoke("deploy", "--stack", aws.stack, "--bucket", f"{aws.stack}-nope", "--yes")
    assert missing.exit_code == ExitCode.USAGE and "does not exist" in missing.stderr
    assert describe(aws) is None
    bucket = f"{aws.stack}-artifacts"
    aws.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    result = invoke("deploy", "--stack", aws.stack, "--bucket", bucket, "--yes")
    assert result.exit_code == 0, result.stderr
    assert stacks.parameters(describe(aws))["CodeBucket"] == bucket
    [stored] = aws.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert stacks.parameters(describe(aws))["CodeKey"] == stored["Key"]
    assert profile()["bucket"] == bucket


def test_diff_of_a_new_stack_lists_every_resource_and_leaves_nothing_behind(aws):
    result = invoke("diff", "--stack", aws.stack, "-o", "json")
    assert result.exit_code == ExitCode.CHANGES, result.stderr
    changes = json.loads(result.stdout)
    assert changes["kind"] == "CREATE"
    assert {"IngestFunction", "ReadFunction", "IngestUrl", "ReadUrl", "TableRetained"} <= {
        change["logicalId"] for change in changes["changes"] if change["action"] == "Add"}
    assert describe(aws) is None  # the review stack of the CREATE change set was deleted with it
    assert "ingest_url" not in profile()


def test_a_busy_stack_is_refused_with_a_hint(aws):
    from moto.cloudformation.models import cloudformation_backends

    assert invoke("deploy", "--stack", aws.stack, "--yes").exit_code == 0
    # moto finishes every operation inside its call; hold the stack mid-update as CloudFormation would.
    moto_stack = cloudformation_backends["123456789012"][aws.region].stacks[describe(aws)["StackId"]]
    moto_stack.status = "UPDATE_IN_PROGRESS"
    try:
        for command in (["deploy", "--retention-days", "60", "--yes"], ["diff", "--retention-days", "60"]):
            result = invoke(*command)
            assert result.exit_code == 1, result.stderr
            assert f"error: stack '{aws.stack}' is busy (UPDATE_IN_PROGRESS)" in result.stderr
            assert "hint: wait until it settles" in result.stderr
    finally:
        moto_stack.status = "UPDATE_COMPLETE"


def test_a_plain_deploy_keeps_what_earlier_deploys_chose(aws, monkeypatch, tmp_path):
    bucket = f"{aws.stack}-artifacts"
    aws.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    monkeypatch.setenv("LOGSVC_KEEP_TABLE", "no")
    first = invoke("deploy", "--stack", aws.stack, "--bucket", bucket, "--retention-days", "90", "--shards", "3",
                   "--auth", "none", "--yes")
    assert first.exit_code == 0, first.stderr
    # Another machine (CI): no profile, no flags but the stack's name.
    monkeypatch.delenv("LOGSVC_KEEP_TABLE")
    monkeypatch.setenv("LOGSVC_HOME", str(tmp_path / "another-machine"))
    again = invoke("deploy", "--stack", aws.stack, "--yes")
    assert again.exit_code == 0, again.stderr
    assert "no changes" in again.stderr and f"unchanged, not uploaded: s3://{bucket}/" in again.stderr
    kept = stacks.parameters(describe(aws))
    assert (kept["RetentionDays"], kept["IndexShards"], kept["AuthType"], kept["KeepTable"]) == ("90", "3", "NONE", "false")
    assert invoke("diff", "--stack", aws.stack).exit_code == 0
    # Saying it again is still a change: back to the default with an explicit value.
    assert invoke("diff", "--stack", aws.stack, "--retention-days", "30").exit_code == ExitCode.CHANGES
