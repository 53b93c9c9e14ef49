"""Import hygiene: each command imports only what it uses (start-up is most of a command's time)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from logsvc.serve import LocalServer
from logsvc.store.sqlite import SQLiteStore
from tests.conftest import ROOT

HEAVY = {"rich", "httpx", "boto3", "botocore", "pydantic"}


def heavy_imports(args: list[str], env: dict) -> set[str]:
    """The heavy top-level packages that `logsvc ARGS` imported, run in a fresh interpreter."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['logsvc', *{args!r}]\n"
        "try:\n    runpy.run_module('logsvc', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print('HEAVY:' + ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r}))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("HEAVY:")
    return set(filter(None, line[len("HEAVY:"):].split(",")))


@pytest.fixture
def served(tmp_path):
    server = LocalServer(SQLiteStore(tmp_path / "served.db")).start()
    yield {"LOGSVC_TARGET": "url", "LOGSVC_INGEST_URL": server.ingest_url, "LOGSVC_READ_URL": server.read_url}
    server.stop()


def test_local_send_and_json_output_import_nothing_heavy():
    assert heavy_imports(["send", "x"], {}) == set()
    assert heavy_imports(["recent", "-o", "jsonl"], {}) == set()


def test_version_and_help_import_no_aws_sdk():
    assert heavy_imports(["--version"], {}) == set()  # botocore's version is read from its metadata
    assert heavy_imports(["--help"], {}) == {"rich"}  # the help panels, and only for help


def test_a_table_imports_rich_only_where_rich_may_style_it(monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert heavy_imports(["recent"], {}) == set()  # an empty listing, to a pipe
    assert heavy_imports(["send", "disk full"], {}) == set()
    assert heavy_imports(["recent"], {}) == set()  # a table to a pipe: Rich would write no escapes
    assert heavy_imports(["recent", "--color", "always"], {}) == {"rich"}
    assert heavy_imports(["recent"], {"FORCE_COLOR": "1"}) == {"rich"}  # a terminal, to Rich
    assert heavy_imports(["send", "日本語 is two cells a character"], {}) == set()
    assert heavy_imports(["recent"], {}) == {"rich"}  # measured by Rich's cell widths


def test_url_target_imports_httpx_but_not_rich_or_boto3(served):
    assert heavy_imports(["send", "x"], served) == {"httpx"}
    assert heavy_imports(["recent", "-o", "json"], served) == {"httpx"}


def imported_modules(args: list[str], env: dict) -> set[str]:
    """Every module `logsvc ARGS` imported, run in a fresh interpreter as the console script runs."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['logsvc', *{args!r}]\n"
        "try:\n    runpy.run_module('logsvc', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('MODULES:' + ','.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("MODULES:")
    return set(line[len("MODULES:"):].split(","))


def test_local_send_imports_no_delivery_spool_or_hashing(tmp_path):
    """A local send never spools: the spool, the delivery loop and hashlib (OpenSSL) stay unloaded."""
    loaded = imported_modules(["send", "x"], {"LOGSVC_HOME": str(tmp_path)})
    assert "logsvc.store.sqlite" in loaded  # it did store the entry
    assert not loaded & {"logsvc.delivery", "logsvc.spool", "hashlib", "_hashlib", "logsvc.client", "logsvc.aws",
                         "logsvc.output", "tempfile"}, sorted(loaded & {"logsvc.delivery", "logsvc.spool", "hashlib"})


def test_remote_send_still_spools_through_delivery(served):
    assert "logsvc.delivery" in imported_modules(["send", "x"], served)


# What a local `send x` may import of ours: its command's module and what storing one entry needs.
LOCAL_SEND_MODULES = {"logsvc", "logsvc.__main__", "logsvc.cli", "logsvc.cli._alert", "logsvc.cli.entries",
                      "logsvc.cli.options", "logsvc.config", "logsvc.entry", "logsvc.errors", "logsvc.store",
                      "logsvc.store.sqlite", "logsvc.targets", "logsvc.times"}


def test_local_send_imports_only_its_own_command_module_and_no_json(tmp_path):
    """The other command modules (deploy, insight, spool, serve, table, config, doctor) are not loaded,
    nor json: each is start-up time a local send would spend on nothing."""
    loaded = imported_modules(["send", "x"], {"LOGSVC_HOME": str(tmp_path)})
    assert {name for name in loaded if name.split(".")[0] == "logsvc"} <= LOCAL_SEND_MODULES
    assert "logsvc.cli.entries" in loaded
    assert not loaded & {"json", "_json", "dataclasses_json", "logsvc.cli.deploy", "logsvc.cli.insight"}
    assert "dataclasses" not in loaded  # the option groups are plain classes (logsvc.cli.options)


def test_typer_reads_every_commands_annotations_as_objects_not_strings():
    """A string annotation is compiled and evaluated by Typer on every run of its command; the
    command modules therefore evaluate theirs when they are defined, and `shared_options` hands
    Typer the expanded options as objects."""
    import typer.main

    from logsvc.cli import app

    callbacks = []

    def walk(info) -> None:
        callbacks.extend(command.callback for command in info.registered_commands)
        for group in info.registered_groups:
            walk(group.typer_instance)

    walk(app)
    callbacks.append(app.registered_callback.callback)  # the root's --debug and --version
    assert len(callbacks) >= 20
    for callback in callbacks:
        strings = {name: hint for name, hint in callback.__annotations__.items() if isinstance(hint, str)}
        assert not strings, (callback.__qualname__, strings)
    assert typer.main.get_command(app).commands["send"].params  # and Typer builds them
