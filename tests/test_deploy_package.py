"""The Lambda zip: the handler code only, byte-for-byte reproducible, importable with botocore alone."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from dynamo_fixtures import FAKE_CREDENTIALS, REGION, dynamo_client, make_table, moto_endpoint  # noqa: F401

from logsvc.deploy.package import HANDLER_MODULES, build_zip, package_root, traced_modules

CLI_ONLY = ("logsvc/cli", "logsvc/serve", "logsvc/client", "logsvc/output", "logsvc/config", "logsvc/deploy/",
            "logsvc/aws.py", "logsvc/sigv4.py")


def test_zip_holds_the_handlers_and_their_imports_but_no_cli_code():
    built = build_zip()
    names = zipfile.ZipFile(BytesIO(built.data)).namelist()
    assert names == sorted(names) == list(built.files)
    for module in HANDLER_MODULES:
        assert module.replace(".", "/") + ".py" in names
    assert {"logsvc/__init__.py", "logsvc/handler/__init__.py", "logsvc/entry.py", "logsvc/times.py"} <= set(names)
    assert any(name.startswith("logsvc/store/dynamodb") for name in names)
    assert not [name for name in names if name.startswith(CLI_ONLY) or not name.endswith(".py")]


def test_tracing_follows_lazy_imports_inside_functions(tmp_path):
    package = tmp_path / "logsvc"
    (package / "handler").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handler" / "__init__.py").write_text("")
    (package / "handler" / "ingest.py").write_text("def handler(e, c):\n    from logsvc import lazy\n")
    (package / "handler" / "read.py").write_text("from . import ingest\nimport json\n")
    (package / "lazy.py").write_text("from .deep import thing\n")
    (package / "deep.py").write_text("thing = 1\n")
    (package / "unused.py").write_text("import typer\n")
    assert sorted(traced_modules(base=tmp_path)) == [
        "logsvc", "logsvc.deep", "logsvc.handler", "logsvc.handler.ingest", "logsvc.handler.read", "logsvc.lazy"]


def test_same_sources_give_the_same_bytes_whatever_their_times_and_modes(tmp_path):
    first = build_zip()
    copy = tmp_path / "copy"
    shutil.copytree(package_root() / "logsvc", copy / "logsvc", ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
        path.chmod(0o600)
    again = build_zip(copy)
    assert again.data == first.data and again.key == first.key
    assert re.fullmatch(r"logsvc/lambda-[0-9a-f]{64}\.zip", first.key)
    for info in zipfile.ZipFile(BytesIO(again.data)).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.external_attr >> 16 == 0o100644
    # ...and a change to a packaged module gives other bytes and another key.
    times = copy / "logsvc" / "times.py"
    times.write_text(times.read_text() + "\n# changed\n")
    assert build_zip(copy).key != first.key


def _dependency_dir(tmp_path: Path) -> Path:
    """A folder with botocore and what it needs to run, found from the installed distributions' metadata."""
    folder = tmp_path / "deps"
    folder.mkdir()
    pending, seen = ["botocore"], set()
    while pending:
        name = pending.pop()
        dist = importlib.metadata.distribution(name)
        if dist.metadata["Name"].lower() in seen:
            continue
        seen.add(dist.metadata["Name"].lower())
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                pending.append(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))
        tops = {Path(str(file)).parts[0] for file in dist.files
                if not str(file).startswith((".", "..")) and ".dist-info" not in str(file)}
        for top in tops:
            source = Path(dist.locate_file(top))
            if source.exists() and top != "__pycache__":
                (folder / top).symlink_to(source)
    assert {"botocore", "jmespath", "dateutil", "urllib3"} <= {path.name for path in folder.iterdir()}
    return folder


FRESH_RUN = """
import json, sys
sys.path[:0] = [ZIP, DEPS]
from logsvc.handler import ingest, read
import logsvc
assert logsvc.__file__.startswith(ZIP), logsvc.__file__
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'httpx', 'boto3', 'click', 'yaml', 'moto'})
post = {"requestContext": {"http": {"method": "POST"}}, "headers": {"content-type": "application/json"},
        "body": json.dumps({"severity": "error", "message": "from the zip"}), "isBase64Encoded": False}
stored = ingest.handler(post, None)
got = read.handler({"requestContext": {"http": {"method": "GET"}}, "rawQueryString": "limit=5"}, None)
print(json.dumps({"heavy": heavy, "stored": stored, "got": got}))
"""


def test_both_handlers_run_from_the_zip_alone_with_only_botocore(tmp_path, moto_endpoint, make_table):
    zip_path = tmp_path / "lambda.zip"
    zip_path.write_bytes(build_zip().data)
    deps = _dependency_dir(tmp_path)
    table = make_table(1)
    env = {"PATH": os.environ.get("PATH", ""), "TABLE_NAME": table, "INDEX_SHARDS": "1", "AWS_REGION": REGION,
           "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"]}
    code = f"ZIP, DEPS = {str(zip_path)!r}, {str(deps)!r}\n" + FRESH_RUN
    # -I: no user site, no PYTHON* variables, no cwd on the path; -S: no site-packages at all.
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["stored"]["statusCode"] == 200, result["stored"]
    stored = json.loads(result["stored"]["body"])
    assert result["got"]["statusCode"] == 200, result["got"]
    entries = json.loads(result["got"]["body"])["logs"]
    assert [(e["id"], e["message"], e["severity"]) for e in entries] == [(stored["id"], "from the zip", "error")]


def test_the_zip_is_built_from_the_installed_package_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing to find here
    imported_from = Path(sys.modules["logsvc"].__file__).resolve().parent.parent
    assert package_root() == imported_from
    assert build_zip().data == build_zip(imported_from).data


def test_the_templates_handler_names_resolve_in_the_zip():
    from cfnlint.decode import cfn_yaml

    from logsvc.deploy.template import template_text

    archive = zipfile.ZipFile(BytesIO(build_zip().data))
    handlers = [body["Properties"]["Handler"] for body in cfn_yaml.loads(template_text())["Resources"].values()
                if body["Type"] == "AWS::Lambda::Function"]
    assert len(handlers) == 2
    for handler in handlers:
        module, _, function = handler.rpartition(".")
        source = archive.read(module.replace(".", "/") + ".py").decode()
        assert re.search(rf"^def {function}\(event", source, re.MULTILINE), handler


def test_an_import_of_a_missing_module_stops_the_build(tmp_path):
    package = tmp_path / "logsvc"
    (package / "handler").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handler" / "__init__.py").write_text("")
    (package / "handler" / "ingest.py").write_text("def handler(e, c):\n    from logsvc.gone import x\n")
    (package / "handler" / "read.py").write_text("")
    from logsvc.errors import LogsvcError

    with pytest.raises(LogsvcError, match="logsvc.handler.ingest imports logsvc.gone"):
        build_zip(tmp_path)


def test_packaged_modules_import_only_the_standard_library_and_botocore_even_lazily():
    import ast

    foreign = {}
    for name, path in traced_modules().items():
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                tops = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = {(node.module or "").split(".")[0]}
            else:
                continue
            outside = tops - set(sys.stdlib_module_names) - {"logsvc", "botocore", "__future__"}
            if outside:
                foreign[name] = sorted(outside)
    assert foreign == {}
