"""The GitHub workflows, checked offline: valid syntax (check-jsonschema) and no zizmor findings."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def tool(name: str) -> str:
    """The console script of this environment, else one on PATH; skip (with the reason) when absent."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.is_file() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install '.[test]' brings it)")
    return found


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_both_workflows_exist():
    assert [path.name for path in FILES] == ["ci.yml", "deploy.yml"]


def test_workflows_are_valid_github_workflow_syntax():
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_even_pedantic():
    result = run(tool("zizmor"), "--offline", "--persona", "pedantic", str(WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_would_report_an_unpinned_action_and_persisted_credentials(tmp_path):
    # The audit can fail: a copy with a tag instead of a hash and the default checkout is reported.
    text = (WORKFLOWS / "deploy.yml").read_text()
    text = re.sub(r"actions/checkout@[0-9a-f]{40} # v[\d.]+", "actions/checkout@v4", text)
    text = text.replace("\n        with:\n          persist-credentials: false", "")  # checkout's default: persisted
    (tmp_path / "deploy.yml").write_text(text)
    result = run(tool("zizmor"), "--offline", str(tmp_path / "deploy.yml"))
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout and "artipacked" in result.stdout


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_least_permissions_pinned_actions_and_no_expressions_in_scripts(name):
    workflow = load(name)
    assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        assert job["permissions"].get("contents") == "read"
        assert set(job["permissions"]) <= {"contents", "id-token", "pull-requests"}
    for step in steps(workflow):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        assert "${{" not in step.get("run", "")  # values reach scripts through env, never by expansion


def test_ci_runs_the_suite_and_posts_the_diff_with_an_oidc_role():
    workflow = load("ci.yml")
    assert list(workflow[True]) == ["pull_request"]  # YAML 1.1 reads the key `on` as True
    runs = [step.get("run", "") for step in steps(workflow)]
    assert ".ci/run" in runs and any("logsvc diff -o markdown" in run for run in runs)
    assert any("gh pr comment" in run for run in runs)
    diff = workflow["jobs"]["diff"]
    assert diff["permissions"]["id-token"] == "write" and "AWS_DEPLOY_ROLE_ARN" in diff["if"]
    credentials = [step for step in diff["steps"] if "configure-aws-credentials" in step.get("uses", "")]
    assert credentials and set(credentials[0]["with"]) == {"role-to-assume", "aws-region"}  # no stored keys


def test_deploy_runs_on_main_with_smoke_and_an_oidc_role():
    workflow = load("deploy.yml")
    assert workflow[True] == {"push": {"branches": ["main"]}}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test" and deploy["permissions"]["id-token"] == "write"
    assert deploy["steps"][-1]["run"] == "logsvc deploy --yes --smoke"
    credentials = [step for step in deploy["steps"] if "configure-aws-credentials" in step.get("uses", "")]
    assert credentials and set(credentials[0]["with"]) == {"role-to-assume", "aws-region"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
