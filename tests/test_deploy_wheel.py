"""`logsvc deploy` from an installed wheel, in a folder outside the checkout, against moto on loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from deploy_fixtures import aws, moto_endpoint  # noqa: F401 - fixtures are used by name

from logsvc.deploy import stack as stacks
from logsvc.deploy.package import build_zip
# The wheel and the venv it is installed in, built once per module by the packaging tests' fixtures.
from tests.test_packaging import built, installed, run, venv_env  # noqa: F401


def test_the_installed_wheel_diffs_and_deploys_its_own_handler_code(aws, installed, tmp_path):
    env = {**venv_env(installed), "LOGSVC_HOME": str(tmp_path / "home")}
    logsvc = installed["venv"] / "bin" / "logsvc"
    folder = tmp_path / "elsewhere"
    folder.mkdir()

    proc = run([installed["python"], "-c", "import logsvc.deploy.template as t; print(t.__file__)"], cwd=folder, env=env)
    assert Path(proc.stdout.strip()).is_relative_to(installed["site"])

    # diff exits 6 (changes), which run() would take for a failure.
    diff = subprocess.run([str(logsvc), "diff", "--stack", aws.stack, "-o", "json"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    assert diff.returncode == 6, diff.stderr
    assert {"IngestFunction", "ReadFunction"} <= {c["logicalId"] for c in json.loads(diff.stdout)["changes"]}

    run([logsvc, "deploy", "--stack", aws.stack, "--yes"], cwd=folder, env=env)
    deployed = stacks.parameters(stacks.describe(aws.client("cloudformation"), aws.stack))
    # The uploaded zip is the one built from the wheel's installed handler code.
    assert deployed["CodeKey"] == build_zip(installed["site"]).key
