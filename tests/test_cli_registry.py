"""`logsvc <command>` imports that command's module alone: the table saying which module that is
stays true, and the whole app (help, tests) keeps every command in panel order however it is loaded."""

from __future__ import annotations

import subprocess
import sys

from typer.main import get_command_name

import logsvc.cli as cli
from tests.conftest import ROOT, run_logsvc


def test_the_command_table_names_each_top_level_command_and_its_module():
    app = cli.app
    registered = {(info.name or get_command_name(info.callback.__name__)): info.callback.__module__
                  for info in app.registered_commands}
    assert {name: f"logsvc.cli.{module}" for name, module in cli._COMMAND_MODULES.items()} == registered
    # Groups are not in the table: they get the whole app, so their listings stay whole.
    assert not {info.name for info in app.registered_groups} & set(cli._COMMAND_MODULES)


ORDER = """
import importlib, sys
importlib.import_module(sys.argv[1])
from logsvc.cli import app
from typer.main import get_command_name
print(",".join(info.name or get_command_name(info.callback.__name__) for info in app.registered_commands))
print(",".join(info.name for info in app.registered_groups))
"""


def test_the_panels_keep_their_order_whichever_module_is_imported_first():
    orders = set()
    for first in ("logsvc.cli", "logsvc.cli.deploy", "logsvc.cli.doctor", "logsvc.cli.config"):
        proc = subprocess.run([sys.executable, "-c", ORDER, first], capture_output=True, text=True, cwd=ROOT,
                              timeout=60, check=True)
        orders.add(proc.stdout)
    assert len(orders) == 1
    commands, groups = orders.pop().splitlines()
    assert commands.split(",") == list(cli._COMMAND_MODULES)
    assert groups.split(",") == ["table", "config"]


def test_a_single_command_still_takes_debug_and_reports_usage_errors(tmp_path):
    env = {"LOGSVC_HOME": str(tmp_path)}
    bad = run_logsvc("send", "--severity", "loud", "x", env=env)
    assert bad.returncode == 2
    assert b"--severity" in bad.stderr and b"Traceback" not in bad.stderr
    debugged = run_logsvc("--debug", "send", "--severity", "loud", "x", env=env)
    assert debugged.returncode == 2 and b"Traceback" in debugged.stderr  # --debug before the command name
    typo = run_logsvc("sned", "x", env=env)
    assert typo.returncode == 2 and b"send" in typo.stderr  # the whole app: its suggestion names send
