"""The Lambda zip: the handlers and the modules they import, built deterministically.

Which modules go in is found by tracing imports (top-level and inside functions) from the two
handler modules through the `logsvc` package, so a new import in the service code is packaged
without a list to update, and CLI code (Typer, Rich, httpx) stays out. Modules outside `logsvc`
must be the standard library or botocore, which the Lambda Python runtime provides; a test
imports both handlers from the zip in an interpreter that has nothing else.

Same sources, same bytes: entries sorted, a fixed timestamp and mode, no `__pycache__`. The
zip's S3 key is its content hash, so an unchanged build is found in the bucket and not uploaded.
"""

from __future__ import annotations

import ast
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

HANDLER_MODULES = ("logsvc.handler.ingest", "logsvc.handler.read")
_PACKAGE = "logsvc"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_FILE_MODE = 0o100644  # a regular file, rw-r--r--


@dataclass(frozen=True)
class LambdaZip:
    data: bytes
    sha256: str
    files: tuple[str, ...]  # archive names, sorted

    @property
    def key(self) -> str:
        """The S3 key: the content hash, so equal code has one key."""
        return f"logsvc/lambda-{self.sha256}.zip"


def package_root() -> Path:
    """The folder that holds the installed `logsvc` package (site-packages, or a checkout)."""
    import logsvc

    return Path(logsvc.__file__).resolve().parent.parent


def traced_modules(roots: tuple[str, ...] = HANDLER_MODULES, base: Path | None = None) -> dict[str, Path]:
    """Every `logsvc` module the roots import, transitively, with its parent packages: name -> file."""
    base = base or package_root()
    found: dict[str, Path] = {}
    pending = [(name, "the Lambda entry points") for name in roots]
    while pending:
        name, importer = pending.pop()
        if name in found:
            continue
        path = _module_file(base, name)
        if path is None:
            from logsvc.errors import LogsvcError

            # A lazy import of a missing module would fail in Lambda on the request that reaches it.
            raise LogsvcError(f"cannot package the Lambda code: {importer} imports {name}, which is not under {base}",
                              hint="the installed logsvc is incomplete or inconsistent: reinstall it")
        found[name] = path
        parts = name.split(".")
        pending.extend((".".join(parts[:i]), name) for i in range(1, len(parts)))  # parent packages
        pending.extend((imported, name) for imported in _imports(name, path, base))
    return found


def _module_file(base: Path, name: str) -> Path | None:
    folder = base.joinpath(*name.split("."))
    for candidate in (folder / "__init__.py", folder.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, path: Path, base: Path) -> list[str]:
    """The `logsvc` modules a module imports anywhere in its body (lazy imports included)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            # `from package import submodule` imports the submodule too.
            names.extend(f"{module}.{alias.name}" for alias in node.names
                         if _module_file(base, f"{module}.{alias.name}") is not None)
    return [n for n in names if n == _PACKAGE or n.startswith(_PACKAGE + ".")]


def build_zip(base: Path | None = None) -> LambdaZip:
    """The Lambda zip of the handler code under `base` (default: the installed package)."""
    base = base or package_root()
    modules = traced_modules(base=base)
    entries = sorted((path.relative_to(base).as_posix(), path) for path in modules.values())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for arcname, path in entries:
            info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below is read as one
            info.external_attr = _FILE_MODE << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    data = buffer.getvalue()
    return LambdaZip(data, hashlib.sha256(data).hexdigest(), tuple(name for name, _ in entries))
