"""Release packaging: the sdist and wheel are complete, pass `twine check`, and the wheel works alone.

The artifacts are built from a copy of the working tree (so the checkout's egg-info is not
rewritten under a concurrent run) without build isolation, so no package index is needed: the
test extra brings setuptools, build and twine. The wheel is then installed into a fresh virtual
environment outside the checkout that sees only the wheel and the distributions it declares.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from logsvc import __version__
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

# Build products and local state at the top of a checkout; bytecode anywhere.
NOT_SOURCE_AT_ROOT = {".git", ".venv", "venv", "dist", "build", ".pytest_cache", ".hypothesis", ".mypy_cache",
                      ".ruff_cache", "logsvc.egg-info"}
BYTECODE = shutil.ignore_patterns("__pycache__", "*.py[cod]")


def not_source(folder: str, names: list[str]) -> set[str]:
    ignored = set(BYTECODE(folder, names))
    return ignored | (set(names) & NOT_SOURCE_AT_ROOT if Path(folder) == ROOT else set())


def run(args: list, *, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def files_under(root: Path, folder: str) -> set[str]:
    """Paths (relative to `root`, with /) of the files under `root/folder`."""
    return {p.relative_to(root).as_posix() for p in (root / folder).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The source copy, the sdist and the wheel, built once for the module."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=not_source)
    dist = work / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source], cwd=work)
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")
    return {"source": source, "sdist": sdist, "wheel": wheel}


def test_artifacts_carry_the_package_version(built):
    assert built["sdist"].name == f"logsvc-{__version__}.tar.gz"
    assert built["wheel"].name == f"logsvc-{__version__}-py3-none-any.whl"


def test_twine_check_passes_on_sdist_and_wheel(built):
    proc = run([sys.executable, "-m", "twine", "check", "--strict", built["sdist"], built["wheel"]],
               cwd=built["sdist"].parent)
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_licence_is_in_the_wheel_metadata_and_the_sdist(built):
    licence = (ROOT / "LICENSE").read_bytes()
    assert b"MIT License" in licence and b"the logsvc authors" in licence
    with zipfile.ZipFile(built["wheel"]) as wheel:
        assert wheel.read(f"logsvc-{__version__}.dist-info/licenses/LICENSE") == licence
        metadata = wheel.read(f"logsvc-{__version__}.dist-info/METADATA").decode()
    headers = metadata.split("\n\n", 1)[0].splitlines()
    assert "License-Expression: MIT" in headers
    assert "License-File: LICENSE" in headers
    with tarfile.open(built["sdist"]) as sdist:
        assert sdist.extractfile(f"logsvc-{__version__}/LICENSE").read() == licence


def test_sdist_holds_the_package_tests_and_release_documents(built):
    source = built["source"]
    expected = {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"}
    expected |= files_under(source, "logsvc") | files_under(source, "tests") | files_under(source, "deploy")
    prefix = f"logsvc-{__version__}/"
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.name.removeprefix(prefix) for m in sdist.getmembers() if m.isfile()}
    assert {"tests/conftest.py", "deploy/template.yaml"} <= expected  # the copy is the real tree
    assert expected - members == set()


def test_wheel_holds_every_package_file_and_nothing_else(built):
    source = built["source"]
    package_files = files_under(source, "logsvc")
    assert "logsvc/__init__.py" in package_files
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = {n for n in wheel.namelist() if not n.endswith("/")}
    assert package_files - names == set()
    # No stray top-level packages (tests, deploy, build scripts) spilling into site-packages.
    assert {n.split("/")[0] for n in names} == {"logsvc", f"logsvc-{__version__}.dist-info"}
    # The template's one source is deploy/ at the top of the checkout; the wheel carries a copy.
    template = (source / "deploy" / "template.yaml").read_bytes()
    with zipfile.ZipFile(built["wheel"]) as wheel:
        assert wheel.read("logsvc/deploy/template.yaml") == template


def declared_distributions(requires: list[str]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions that `requires` (Requires-Dist lines) pulls in, transitively.

    Read from this test run's environment, which installed logsvc's dependencies; a declared
    dependency missing here, or at a version outside its range, fails the test.
    """
    found: dict[str, importlib.metadata.Distribution] = {}
    seen: set[tuple[str, frozenset]] = set()
    todo = [(Requirement(text), frozenset()) for text in requires]
    while todo:
        requirement, parent_extras = todo.pop()
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in {"", *parent_extras}):
            continue
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = importlib.metadata.distribution(requirement.name)
        assert requirement.specifier.contains(dist.version, prereleases=True), (str(requirement), dist.version)
        found[key[0]] = dist
        todo += [(Requirement(text), frozenset(requirement.extras)) for text in dist.requires or []]
    return found


def expose(dists, folder: Path) -> None:
    """Symlink each distribution's top-level modules and metadata into `folder`."""
    folder.mkdir()
    for dist in dists:
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD"
        site = Path(dist.locate_file(""))
        for top in {f.parts[0] for f in dist.files} - {"..", "__pycache__"}:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """A fresh venv outside the checkout with the wheel installed; its dependencies come from this
    environment's copies (no index), exposed one distribution at a time, so an undeclared runtime
    dependency fails to import there."""
    work = tmp_path_factory.mktemp("installed")
    assert not work.is_relative_to(ROOT)
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
         built["wheel"]], cwd=work)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=work).stdout.strip())
    with zipfile.ZipFile(built["wheel"]) as wheel:
        metadata = wheel.read(f"logsvc-{__version__}.dist-info/METADATA").decode()
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.split("\n\n", 1)[0].splitlines()
                if line.startswith("Requires-Dist: ")]
    expose(declared_distributions(requires).values(), work / "deps")
    (site / "logsvc-test-deps.pth").write_text(f"{work / 'deps'}\n")
    return {"venv": venv, "python": python, "site": site, "work": work}


def venv_env(installed) -> dict:
    """This test's (isolated) environment, as a shell with the fresh venv activated would have it."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PATH"] = f"{installed['venv'] / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_installed_wheel_is_what_runs(installed):
    code = ("import importlib.metadata as m, logsvc, typer; "
            "print(logsvc.__file__); print(m.version('logsvc')); print(typer.__file__)")
    proc = run([installed["python"], "-c", code], cwd=installed["work"], env=venv_env(installed))
    module_file, version, typer_file = proc.stdout.splitlines()
    assert Path(module_file).is_relative_to(installed["site"])
    assert version == __version__
    assert Path(typer_file).is_relative_to(installed["work"] / "deps")


def test_the_installed_wheel_runs_the_main_job(installed, tmp_path):
    env = {**venv_env(installed), "LOGSVC_HOME": str(tmp_path / "home")}
    logsvc = installed["venv"] / "bin" / "logsvc"

    version = run([logsvc, "--version"], cwd=tmp_path, env=env).stdout
    assert "logsvc" in version and __version__ in version

    sent = run([logsvc, "send", "--severity", "error", "disk full"], cwd=tmp_path, env=env).stdout.strip()
    assert str(uuid.UUID(sent)) == sent
    [entry] = json.loads(run([logsvc, "recent", "-o", "json"], cwd=tmp_path, env=env).stdout)
    assert (entry["id"], entry["severity"], entry["message"]) == (sent, "error", "disk full")
    table = run([logsvc, "recent"], cwd=tmp_path, env=env).stdout  # rendered by rich, from the deps
    assert "disk full" in table and "ERROR" in table
    assert (tmp_path / "home" / "logs.db").is_file()


def test_the_installed_wheel_finds_the_deploy_template(installed, built):
    source_template = built["source"] / "deploy" / "template.yaml"
    # Outside a checkout there is no deploy/ folder to fall back on: only the packaged copy can answer.
    code = "import sys; from logsvc.deploy.template import template_text; sys.stdout.write(template_text())"
    proc = run([installed["python"], "-c", code], cwd=installed["work"], env=venv_env(installed))
    assert proc.stdout == source_template.read_text(encoding="utf-8")
