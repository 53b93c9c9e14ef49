"""Stack operations against moto on loopback (with tests/moto_cfn_shim.py): bucket, upload, change sets, rollback."""

from __future__ import annotations

import uuid

import moto_cfn_shim
import pytest
from botocore.exceptions import ClientError
from deploy_fixtures import aws, moto_endpoint  # noqa: F401 - fixtures are used by name

from logsvc.deploy import artifacts, stack
from logsvc.deploy.aws import Clients, client_error
from logsvc.deploy.package import build_zip
from logsvc.deploy.parameters import template_parameters
from logsvc.deploy.template import template_text
from logsvc.errors import LogsvcError, StoreError, UsageError


def values(bucket: str, key: str, **settings) -> dict[str, str]:
    return {**template_parameters(settings), "CodeBucket": bucket, "CodeKey": key}


@pytest.fixture
def uploaded(aws):
    """(clients, bucket, zip): the default artifact bucket with the current zip in it."""
    clients = Clients(aws.region)
    account = clients.account()
    bucket = artifacts.bucket_name(account, aws.region)
    artifacts.ensure_bucket(clients.s3, bucket, aws.region, account, create=True)
    built = build_zip()
    artifacts.upload(clients.s3, bucket, built.key, built.data, account)
    return clients, bucket, built


def test_bucket_is_made_private_encrypted_and_versioned_once(aws):
    clients = Clients(aws.region)
    account = clients.account()
    name = f"logsvc-test-{uuid.uuid4().hex[:12]}"
    assert artifacts.ensure_bucket(clients.s3, name, aws.region, account, create=True) is True
    assert artifacts.ensure_bucket(clients.s3, name, aws.region, account, create=True) is False
    s3 = aws.client("s3")
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == aws.region


def test_a_named_bucket_that_does_not_exist_is_not_created(aws):
    clients = Clients(aws.region)
    name = f"logsvc-missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(UsageError, match="does not exist"):
        artifacts.ensure_bucket(clients.s3, name, aws.region, clients.account(), create=False)
    assert name not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


def test_an_unchanged_zip_is_not_uploaded_again(aws):
    clients = Clients(aws.region)
    account = clients.account()
    name = f"logsvc-test-{uuid.uuid4().hex[:12]}"
    artifacts.ensure_bucket(clients.s3, name, aws.region, account, create=True)
    built = build_zip()
    assert artifacts.upload(clients.s3, name, built.key, built.data, account) is True
    assert artifacts.upload(clients.s3, name, built.key, built.data, account) is False
    versions = aws.client("s3").list_object_versions(Bucket=name)["Versions"]
    assert [(v["Key"], v["Size"]) for v in versions] == [(built.key, len(built.data))]
    assert aws.client("s3").get_object(Bucket=name, Key=built.key)["Body"].read() == built.data


def test_create_unchanged_update_and_delete(aws, uploaded):
    clients, bucket, built = uploaded
    cfn = clients.cloudformation
    events = []
    assert stack.describe(cfn, aws.stack) is None
    created = stack.create_change_set(cfn, None, aws.stack, template_text(), values(bucket, built.key))
    assert created.kind == "CREATE"
    added = {(c.action, c.logical_id, c.resource_type) for c in created.changes}
    assert {("Add", "IngestFunction", "AWS::Lambda::Function"), ("Add", "IngestUrl", "AWS::Lambda::Url"),
            ("Add", "TableRetained", "AWS::DynamoDB::Table")} <= added
    final = stack.execute(cfn, created, events.append, poll=0)
    assert final["StackStatus"] == "CREATE_COMPLETE"
    assert (events[-1]["LogicalResourceId"], events[-1]["ResourceStatus"]) == (aws.stack, "CREATE_COMPLETE")
    assert {"IngestFunction", "ReadUrl"} <= {e["LogicalResourceId"] for e in events}
    out = stack.outputs(stack.describe(cfn, aws.stack))
    assert out["IngestUrl"].startswith("https://") and out["ReadUrl"] != out["IngestUrl"]
    assert (out["Region"], out["AuthType"], out["TableKept"]) == (aws.region, "AWS_IAM", "true")
    assert aws.client("dynamodb").describe_table(TableName=out["TableName"])["Table"]["TableStatus"] == "ACTIVE"
    assert aws.client("lambda").get_function_url_config(FunctionName=f"{aws.stack}-ingest")["AuthType"] == "AWS_IAM"

    # The same template and parameters: no change set is left behind, nothing executes.
    current = stack.describe(cfn, aws.stack)
    assert stack.create_change_set(cfn, current, aws.stack, template_text(), values(bucket, built.key)) is None
    left = [(c["ChangeSetName"], c["ExecutionStatus"]) for c in cfn.list_change_sets(StackName=aws.stack)["Summaries"]
            if c["StackName"] == aws.stack]  # moto lists every stack's, and keeps executed ones
    assert [status for _name, status in left] == ["EXECUTE_COMPLETE"]
    assert stack.describe(cfn, aws.stack)["StackStatus"] == "CREATE_COMPLETE"

    # A changed parameter: an UPDATE that modifies the functions, and the new value in force.
    update = stack.create_change_set(cfn, current, aws.stack, template_text(),
                                     values(bucket, built.key, retention_days="90"))
    assert update.kind == "UPDATE"
    assert {(c.action, c.logical_id) for c in update.changes} == {("Modify", "IngestFunction"),
                                                                   ("Modify", "ReadFunction")}
    final = stack.execute(cfn, update, poll=0)
    assert final["StackStatus"] == "UPDATE_COMPLETE" and stack.parameters(final)["RetentionDays"] == "90"
    variables = aws.client("lambda").get_function(FunctionName=f"{aws.stack}-read")["Configuration"]["Environment"]
    assert str(variables["Variables"]["RETENTION_DAYS"]) == "90"  # moto keeps the number; Lambda says "90"
    assert stack.outputs(stack.describe(cfn, aws.stack)) == out  # outputs survive the update

    stack.delete(cfn, stack.describe(cfn, aws.stack), poll=0)
    assert stack.describe(cfn, aws.stack) is None
    # The table is kept (KeepTable defaults to true); the functions are gone.
    assert aws.client("dynamodb").describe_table(TableName=out["TableName"])["Table"]["TableName"]
    with pytest.raises(ClientError):
        aws.client("lambda").get_function(FunctionName=f"{aws.stack}-ingest")


def test_a_refused_change_set_is_deleted_with_the_stack_it_made(aws, uploaded):
    clients, bucket, built = uploaded
    moto_cfn_shim.FAIL_CHANGE_SETS.append("Template error: something CloudFormation rejects")
    with pytest.raises(stack.DeployError, match="refused the change set: Template error: something"):
        stack.create_change_set(clients.cloudformation, None, aws.stack, template_text(), values(bucket, built.key))
    assert stack.describe(clients.cloudformation, aws.stack) is None  # no REVIEW_IN_PROGRESS stack left


def test_a_failed_create_rolls_back_and_must_be_deleted_before_the_next_deploy(aws, uploaded):
    clients, bucket, built = uploaded
    cfn = clients.cloudformation
    moto_cfn_shim.FAIL["ReadFunction"] = "Resource handler returned message: concurrency limit exceeded"
    change_set = stack.create_change_set(cfn, None, aws.stack, template_text(), values(bucket, built.key))
    with pytest.raises(stack.DeployFailed) as failed:
        stack.execute(cfn, change_set, poll=0)
    assert failed.value.status == "ROLLBACK_COMPLETE" and failed.value.rolled_back
    assert "rolled back and must be deleted" in failed.value.message
    assert "logsvc destroy" in failed.value.hint()
    assert [(f["LogicalResourceId"], f["ResourceStatus"], f["ResourceStatusReason"]) for f in failed.value.failures] \
        == [("ReadFunction", "CREATE_FAILED", "Resource handler returned message: concurrency limit exceeded")]
    moto_cfn_shim.FAIL.clear()
    with pytest.raises(stack.DeployError, match="ROLLBACK_COMPLETE.*must be deleted first"):
        stack.create_change_set(cfn, stack.describe(cfn, aws.stack), aws.stack, template_text(),
                                values(bucket, built.key))


def test_a_failed_update_rolls_back_and_may_be_deployed_again(aws, uploaded):
    clients, bucket, built = uploaded
    cfn = clients.cloudformation
    stack.execute(cfn, stack.create_change_set(cfn, None, aws.stack, template_text(),
                                               values(bucket, built.key)), poll=0)
    moto_cfn_shim.FAIL["IngestFunction"] = "Invalid environment"
    change_set = stack.create_change_set(cfn, stack.describe(cfn, aws.stack), aws.stack, template_text(),
                                         values(bucket, built.key, settle_seconds="9"))
    with pytest.raises(stack.DeployFailed) as failed:
        stack.execute(cfn, change_set, poll=0)
    assert failed.value.status == "UPDATE_ROLLBACK_COMPLETE" and failed.value.rolled_back
    assert failed.value.message == "deploy failed (UPDATE_ROLLBACK_COMPLETE): the stack rolled back"
    assert [(f["LogicalResourceId"], f["ResourceStatus"]) for f in failed.value.failures] == [
        ("IngestFunction", "UPDATE_FAILED")]
    stack.check_changeable(stack.describe(cfn, aws.stack))  # no error: an update may follow


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS",
                                    "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"])
def test_a_busy_stack_is_refused(status):
    with pytest.raises(stack.DeployError, match=f"busy \\({status}\\)") as refused:
        stack.check_changeable({"StackName": "logsvc", "StackStatus": status})
    assert "wait" in refused.value.hint()


def test_settled_stacks_may_change():
    for status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"):
        stack.check_changeable({"StackName": "logsvc", "StackStatus": status})


def test_no_credentials_and_no_region_are_one_line_errors(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the isolated test environment has no credentials
    with pytest.raises(StoreError, match="no AWS credentials found") as missing:
        Clients("eu-west-1").account()
    assert "aws configure" in missing.value.hint()
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(UsageError, match="no AWS region") as no_region:
        Clients(None).region
    assert "AWS_REGION" in no_region.value.hint()


@pytest.mark.parametrize("code, message, operation, service, expected", [
    ("AccessDenied", "User: arn:aws:iam::1:user/ci is not authorized to perform: cloudformation:CreateChangeSet "
     "on resource: arn:aws:cloudformation:eu-west-1:1:stack/logsvc/*", "CreateChangeSet", "cloudformation",
     "cloudformation:CreateChangeSet"),
    ("403", "Forbidden", "HeadBucket", "s3", "s3:ListBucket"),
    ("AccessDeniedException", "no reason given", "PutItem", "dynamodb", "dynamodb:PutItem"),
])
def test_access_denied_names_the_missing_action(code, message, operation, service, expected):
    error = client_error(ClientError({"Error": {"Code": code, "Message": message}}, operation), service)
    assert error.message == f"access denied: the identity may not call {expected}"
    assert expected in error.hint()


def test_expired_credentials_say_how_to_refresh():
    error = client_error(ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetCallerIdentity"))
    assert isinstance(error, LogsvcError) and "expired" in error.message and "aws sso login" in error.hint()
