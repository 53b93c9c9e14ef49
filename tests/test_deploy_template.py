"""deploy/template.yaml: lint-clean, its table equal to `table_definition`, least-privilege roles, safe defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from logsvc.deploy.parameters import PARAMETERS, template_parameters
from logsvc.deploy.template import CHECKOUT_TEMPLATE, template_text
from logsvc.store.dynamodb import INDEX_NAME, SETTINGS_ID, SEVERITY_INDEX_NAME, TTL_ATTRIBUTE, table_definition
from tests.conftest import ROOT

TEMPLATE = ROOT / "deploy" / "template.yaml"
TABLES = ("TableRetained", "TableDeleted")


def plain(node):
    """cfn-lint's YAML nodes as plain dicts and lists (tags already read as Fn:: forms)."""
    return json.loads(json.dumps(node, default=str))


@pytest.fixture(scope="module")
def template() -> dict:
    return plain(cfn_yaml.loads(TEMPLATE.read_text(encoding="utf-8")))


def resources(template, kind):
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def cfn_lint(path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("cfn-lint")  # the console script of this environment
    return subprocess.run([str(lint), "--include-checks", "I", "--", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_cfn_lint_reports_nothing():
    result = cfn_lint(TEMPLATE)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_cfn_lint_would_report_a_broken_template(tmp_path):
    # The lint test can fail: an end-of-life runtime in a copy of the template is reported.
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: python3.14", "Runtime: python3.6", 1))
    result = cfn_lint(broken)
    assert result.returncode != 0 and "python3.6" in result.stdout


def test_the_code_reads_the_checkout_template():
    assert CHECKOUT_TEMPLATE == TEMPLATE
    assert template_text() == TEMPLATE.read_text(encoding="utf-8")


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_matches_table_definition_attribute_by_attribute(template, logical_id):
    table = template["Resources"][logical_id]["Properties"]
    definition = table_definition("ignored")
    assert table["BillingMode"] == definition["BillingMode"] == "PAY_PER_REQUEST"
    assert table["AttributeDefinitions"] == definition["AttributeDefinitions"]
    assert table["KeySchema"] == definition["KeySchema"]
    assert table["GlobalSecondaryIndexes"] == definition["GlobalSecondaryIndexes"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == INDEX_NAME
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    # Nothing in the template's table that the definition does not know about, beyond these.
    assert set(table) - set(definition) == {"TimeToLiveSpecification", "PointInTimeRecoverySpecification",
                                            "SSESpecification"}
    assert "TableName" not in table  # CloudFormation names it, so stacks never collide


def test_table_is_encrypted_recoverable_and_retained_unless_asked(template):
    for logical_id in TABLES:
        table = template["Resources"][logical_id]
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    retained, deleted = (template["Resources"][name] for name in TABLES)
    assert (retained["DeletionPolicy"], retained["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert (deleted["DeletionPolicy"], deleted["UpdateReplacePolicy"]) == ("Delete", "Delete")
    assert template["Parameters"]["KeepTable"]["Default"] == "true"
    assert template["Conditions"]["RetainTable"] == {"Fn::Equals": [{"Ref": "KeepTable"}, "true"]}
    assert template["Conditions"]["DeleteTable"] == {"Fn::Equals": [{"Ref": "KeepTable"}, "false"]}
    assert (retained["Condition"], deleted["Condition"]) == ("RetainTable", "DeleteTable")


def table_arn(suffix=""):
    """The table's ARN as the template writes it: either table, picked by KeepTable."""
    if suffix:
        return {"Fn::If": ["RetainTable", {"Fn::Sub": "${TableRetained.Arn}" + suffix},
                           {"Fn::Sub": "${TableDeleted.Arn}" + suffix}]}
    return {"Fn::If": ["RetainTable", {"Fn::GetAtt": ["TableRetained", "Arn"]},
                       {"Fn::GetAtt": ["TableDeleted", "Arn"]}]}


def grants(role) -> list[tuple[frozenset, str, dict | None]]:
    """(actions, resource, condition) per statement of a role's inline policies."""
    result = []
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            result.append((frozenset(actions), json.dumps(statement["Resource"], sort_keys=True),
                           statement.get("Condition")))
    return sorted(result, key=lambda grant: sorted(grant[0]))


def key(resource) -> str:
    return json.dumps(resource, sort_keys=True)


def test_roles_are_exactly_the_two_least_privilege_roles(template):
    roles = resources(template, "AWS::IAM::Role")
    assert set(roles) == {"IngestRole", "ReadRole"}
    for role in roles.values():
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        assert "ManagedPolicyArns" not in role["Properties"]
    assert not resources(template, "AWS::IAM::Policy") and not resources(template, "AWS::IAM::ManagedPolicy")


def test_ingest_role_writes_the_table_and_its_own_log_group_only(template):
    assert grants(template["Resources"]["IngestRole"]) == sorted([
        (frozenset({"dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"}),
         key(table_arn()), None),
        (frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
         key({"Fn::GetAtt": ["IngestLogGroup", "Arn"]}), None),
    ], key=lambda grant: sorted(grant[0]))


def test_read_role_queries_the_index_and_gets_the_settings_item_only(template):
    assert grants(template["Resources"]["ReadRole"]) == sorted([
        (frozenset({"dynamodb:Query"}), key(table_arn(f"/index/{INDEX_NAME}")), None),
        (frozenset({"dynamodb:Query"}), key(table_arn(f"/index/{SEVERITY_INDEX_NAME}")), None),
        (frozenset({"dynamodb:GetItem"}), key(table_arn()),
         {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SETTINGS_ID]}}),
        (frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
         key({"Fn::GetAtt": ["ReadLogGroup", "Arn"]}), None),
    ], key=lambda grant: sorted(grant[0]))


def test_no_wildcard_action_or_resource_anywhere(template):
    text = json.dumps(template["Resources"])
    for role in resources(template, "AWS::IAM::Role").values():
        for actions, resource, _condition in grants(role):
            assert all("*" not in action for action in actions)
            assert "*" not in resource
    # The only "*" are the public permissions' principals, each under the PublicUrls condition.
    starred = {name for name, body in template["Resources"].items() if "*" in json.dumps(body)}
    assert starred == {name for name, body in resources(template, "AWS::Lambda::Permission").items()}
    assert text.count('"Principal": "*"') == len(starred) == 4


def test_functions_run_the_handlers_with_their_own_role_and_log_group(template):
    functions = resources(template, "AWS::Lambda::Function")
    assert set(functions) == {"IngestFunction", "ReadFunction"}
    for name, kind in (("IngestFunction", "ingest"), ("ReadFunction", "read")):
        function = functions[name]
        props = function["Properties"]
        assert props["Handler"] == f"logsvc.handler.{kind}.handler"
        assert props["Runtime"] == "python3.14" and props["Architectures"] == ["arm64"]
        assert props["MemorySize"] <= 256 and props["Timeout"] <= 10
        assert props["Role"] == {"Fn::GetAtt": [f"{kind.title()}Role", "Arn"]}
        assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
        assert set(props["Environment"]["Variables"]) == {"TABLE_NAME", "INDEX_SHARDS", "RETENTION_DAYS",
                                                          "SETTLE_SECONDS"}
        assert props["ReservedConcurrentExecutions"] == {
            "Fn::If": ["Unreserved", {"Ref": "AWS::NoValue"}, {"Ref": "ReservedConcurrency"}]}
        assert props["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{kind}"}
        group = template["Resources"][f"{kind.title()}LogGroup"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{kind}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 14
    assert template["Conditions"]["Unreserved"] == {"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}


def test_urls_default_to_iam_auth_and_go_public_only_when_chosen(template):
    assert template["Parameters"]["AuthType"]["Default"] == "AWS_IAM"
    urls = resources(template, "AWS::Lambda::Url")
    assert {name: url["Properties"]["AuthType"] for name, url in urls.items()} == {
        "IngestUrl": {"Ref": "AuthType"}, "ReadUrl": {"Ref": "AuthType"}}
    assert template["Conditions"]["PublicUrls"] == {"Fn::Equals": [{"Ref": "AuthType"}, "NONE"]}
    permissions = resources(template, "AWS::Lambda::Permission")
    seen = set()
    for permission in permissions.values():
        assert permission["Condition"] == "PublicUrls"
        props = permission["Properties"]
        assert props["Principal"] == "*"
        if props["Action"] == "lambda:InvokeFunctionUrl":
            assert props["FunctionUrlAuthType"] == "NONE"
        else:
            assert props["Action"] == "lambda:InvokeFunction" and props["InvokedViaFunctionUrl"] is True
        seen.add((props["FunctionName"]["Ref"], props["Action"]))
    assert seen == {(function, action) for function in ("IngestFunction", "ReadFunction")
                    for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")}


def test_alarms_are_on_by_default_and_cover_errors_throttles_and_invocations(template):
    assert template["Parameters"]["Alarms"]["Default"] == "true"
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = set()
    for alarm in alarms.values():
        assert alarm["Condition"] == "AlarmsOn"
        props = alarm["Properties"]
        assert props["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
        watched.add((props["Dimensions"][0]["Value"]["Ref"], props["MetricName"]))
    assert watched == {("IngestFunction", "Errors"), ("ReadFunction", "Errors"), ("IngestFunction", "Throttles"),
                       ("ReadFunction", "Throttles"), ("IngestFunction", "Invocations")}
    invocations = alarms["IngestInvocationsAlarm"]["Properties"]
    assert invocations["Threshold"] == {"Ref": "IngestInvocationsThreshold"}


def test_outputs_name_the_urls_table_region_and_auth(template):
    assert set(template["Outputs"]) >= {"IngestUrl", "ReadUrl", "TableName", "Region", "AuthType"}
    assert template["Outputs"]["IngestUrl"]["Value"] == {"Fn::GetAtt": ["IngestUrl", "FunctionUrl"]}
    assert template["Outputs"]["Region"]["Value"] == {"Ref": "AWS::Region"}


def test_every_parameter_has_a_setting_with_the_templates_default(template):
    defaults = template_parameters({})
    assert set(template["Parameters"]) == set(defaults) | {"CodeBucket", "CodeKey"}
    for parameter in PARAMETERS:
        assert str(template["Parameters"][parameter.name]["Default"]) == defaults[parameter.name], parameter
    assert len({parameter.setting for parameter in PARAMETERS}) == len(PARAMETERS)
